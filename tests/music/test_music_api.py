"""Talk, another playlist and gentler music over HTTP: recorded in the session and kept across a restart.

The service runs in-process (its lifespan, real Mosquitto and SQLite, fake decks on a manual clock).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.domain.clock import ManualClock
from app.domain.loudness import LoudnessTarget, TrackLoudness, gain_db
from app.music.loudness import LoudnessCache
from app.settings import Settings
from tests.conftest import Service, serve_in_process

CALM_YAML = """\
id: calm_ketamine_im
title: A calmer set
curator: Tests
source: tests/music/test_music_api.py
presets: [ketamine_im]
library: demo
crossfade_s: 6
segments:
  arrival: &calm
    tracks:
      - {path: slow-tide.wav, title: Slow Tide, artist: demo, duration_s: 100, intensity: 1}
      - {path: open-sky.wav, title: Open Sky, artist: demo, duration_s: 120, intensity: 4}
      - {path: homeward.wav, title: Homeward, artist: demo, duration_s: 88, intensity: 2}
  onset: *calm
  peak: *calm
  descent: *calm
  return: *calm
  closing: *calm
"""
ROOM = "/api/rooms/one"


@pytest.fixture
def music_settings(settings: Settings, tmp_path: Path) -> Settings:
    folder = tmp_path / "playlists"
    folder.mkdir()
    (folder / "calm_ketamine_im.yaml").write_text(CALM_YAML)
    return settings.model_copy(update={"playlists_dir": (*settings.playlists_dir, folder)})


@pytest.fixture
async def service(music_settings: Settings, clock: ManualClock) -> AsyncIterator[Service]:
    async with serve_in_process(music_settings, clock) as svc:
        yield svc


async def started(svc: Service, playlist: str = "demo_ketamine_im") -> str:
    body: dict[str, Any] = {"preset": "ketamine_im", "playlist": playlist}
    r = await svc.client.post(f"{ROOM}/session", json=body)
    assert r.status_code == 201, r.text
    await playing(svc)
    return str(r.json()["session_id"])


async def playing(svc: Service) -> None:
    async with asyncio.timeout(5):
        while svc.runtime.rooms["one"].audio_status().state != "playing":
            await asyncio.sleep(0.01)


async def events(svc: Service, session: str, kind: str) -> list[dict[str, Any]]:
    r = await svc.client.get(f"/api/sessions/{session}/events")
    return [e["data"] for e in r.json() if e["type"] == kind]


async def audio(svc: Service) -> dict[str, Any]:
    state: dict[str, Any] = (await svc.client.get(f"{ROOM}/state")).json()["audio"]
    return state


async def test_talk_ducks_the_music_until_released_and_is_recorded(service: Service, clock: ManualClock) -> None:
    session = await started(service)
    c = service.client
    r = await c.post(f"{ROOM}/audio/talk", json={"on": True})
    assert r.status_code == 200, r.text
    assert r.json()["talking"] is True and r.json()["talk_until"] == clock.now() + 300
    await clock.advance(1.0)
    assert (await audio(service))["duck_db"] == -12.0
    r = await c.post(f"{ROOM}/audio/talk", json={"on": False})
    assert r.status_code == 200 and r.json()["talking"] is False
    await clock.advance(1.5)
    assert -12 < (await audio(service))["duck_db"] < 0  # on its way back over 3 s
    await clock.advance(1.5)
    assert (await audio(service))["duck_db"] == 0.0
    talk = await events(service, session, "talk")
    assert [t["on"] for t in talk] == [True, False]
    assert talk[0]["duck_db"] == -12.0 and talk[0]["timeout_s"] == 300 and talk[0]["by"] == "http:open"


async def test_talk_ends_by_itself_after_its_timeout(service: Service, clock: ManualClock) -> None:
    session = await started(service)
    await service.client.post(f"{ROOM}/audio/talk", json={"on": True})
    await clock.advance(299)
    assert (await audio(service))["talking"] is True
    await clock.advance(5)
    state = await audio(service)
    assert state["talking"] is False and state["duck_db"] == 0.0
    assert (await events(service, session, "talk"))[-1] == {"on": False, "by": "timeout"}


async def test_bad_talk_requests(service: Service) -> None:
    c = service.client
    r = await c.post(f"{ROOM}/audio/talk", json={"on": True})
    assert r.status_code == 409 and "no session running" in r.json()["detail"]
    assert (await c.post(f"{ROOM}/audio/talk", json={})).status_code == 422
    assert (await c.post(f"{ROOM}/audio/talk", json={"on": "maybe"})).status_code == 422
    assert (await c.post("/api/rooms/nowhere/audio/talk", json={"on": True})).status_code == 404


async def test_another_playlist_mid_session_is_recorded_and_kept_across_a_restart(
    music_settings: Settings, clock: ManualClock
) -> None:
    async with serve_in_process(music_settings, clock) as first:
        session = await started(first)
        c = first.client
        options = (await c.get(f"{ROOM}/audio/playlists")).json()
        assert [(o["id"], o["playing"], o["available"]) for o in options] == [
            ("demo_ketamine_im", True, True),
            ("calm_ketamine_im", False, True),
        ]
        await clock.advance(120)
        r = await c.post(f"{ROOM}/audio/playlist", json={"playlist": "calm_ketamine_im"})
        assert r.status_code == 200, r.text
        assert r.json()["playlist"] == "calm_ketamine_im"
        changed_at = clock.now()
        assert await events(first, session, "playlist_changed") == [
            {"playlist": "calm_ketamine_im", "from": "demo_ketamine_im", "by": "http:open"}
        ]
        plan = (await c.get(f"{ROOM}/plan")).json()["tracks"]
        new = [t for t in plan if t["start"] >= changed_at]
        assert new[0]["path"] == "slow-tide.wav" and new[0]["start"] == changed_at and new[0]["fade_in_s"] == 6
        assert {t["path"] for t in new} <= {"slow-tide.wav", "open-sky.wav", "homeward.wav"}
        await clock.advance(10)
        assert (await audio(first))["now_playing"]["title"] == "Slow Tide"

    await clock.advance(30)
    async with serve_in_process(music_settings, clock) as second:
        await playing(second)
        state = await audio(second)
        assert state["playlist"] == "calm_ketamine_im" and state["now_playing"]["title"] == "Slow Tide"
        assert abs(state["now_playing"]["position_s"] - (clock.now() - changed_at)) < 1


async def test_bad_playlist_choices_are_refused_with_the_reason(service: Service) -> None:
    c = service.client
    r = await c.post(f"{ROOM}/audio/playlist", json={"playlist": "calm_ketamine_im"})
    assert r.status_code == 409 and "no session running" in r.json()["detail"]
    await started(service)
    r = await c.post(f"{ROOM}/audio/playlist", json={"playlist": "nothing_like_it"})
    assert r.status_code == 404 and r.json()["detail"] == "no playlist 'nothing_like_it'"
    r = await c.post(f"{ROOM}/audio/playlist", json={"playlist": "demo_lsd"})
    assert r.status_code == 409 and "is not made for preset 'ketamine_im'" in r.json()["detail"]
    r = await c.post(f"{ROOM}/audio/playlist", json={"playlist": "demo_ketamine_im"})
    assert r.status_code == 409 and "already playing" in r.json()["detail"]
    assert (await c.post(f"{ROOM}/audio/playlist", json={"playlist": ""})).status_code == 422


async def test_gentler_music_steers_by_intensity_and_is_recorded(service: Service, clock: ManualClock) -> None:
    session = await started(service)
    c = service.client
    r = await c.post(f"{ROOM}/audio/gentler")
    assert r.status_code == 409 and "no intensity tags" in r.json()["detail"]  # the demo set has none
    assert (await audio(service))["gentler_available"] is False

    await c.post(f"{ROOM}/audio/playlist", json={"playlist": "calm_ketamine_im"})
    assert (await audio(service))["gentler_available"] is True
    asked_at = clock.now()
    r = await c.post(f"{ROOM}/audio/gentler")
    assert r.status_code == 200 and r.json()["gentler"] is True
    assert (await c.post(f"{ROOM}/audio/gentler")).status_code == 200  # asked already: nothing more recorded
    assert await events(service, session, "music_gentler") == [{"phase": "arrival", "by": "http:open"}]
    plan = (await c.get(f"{ROOM}/plan")).json()["tracks"]
    chosen = [t["path"] for t in plan if t["start"] > asked_at and t["phase"] == "arrival"]
    # Intensities 1, 4, 2 (median 2): the intense one is passed over; the sounding track plays on.
    assert chosen[:4] == ["homeward.wav", "slow-tide.wav", "homeward.wav", "slow-tide.wav"]


async def test_a_talk_in_force_is_taken_up_after_a_restart(music_settings: Settings, clock: ManualClock) -> None:
    async with serve_in_process(music_settings, clock) as first:
        session = await started(first)
        await first.client.post(f"{ROOM}/audio/talk", json={"on": True})
        pressed = clock.now()
        await clock.advance(2)

    await clock.advance(60)
    async with serve_in_process(music_settings, clock) as second:
        await playing(second)
        state = await audio(second)
        # Still down, at once (the music comes back fading in, ducked), until the same timeout.
        assert state["talking"] is True and state["talk_until"] == pressed + 300 and state["duck_db"] == -12.0
        await clock.advance_to(pressed + 301)
        assert (await audio(second))["talking"] is False
        assert (await events(second, session, "talk"))[-1] == {"on": False, "by": "timeout"}


async def test_talk_follows_the_talk_settings(music_settings: Settings, clock: ManualClock) -> None:
    custom = music_settings.model_copy(update={"talk_duck_db": -20.0, "talk_timeout_s": 60.0})
    async with serve_in_process(custom, clock) as svc:
        await started(svc)
        r = await svc.client.post(f"{ROOM}/audio/talk", json={"on": True})
        assert r.json()["talk_until"] == clock.now() + 60
        await clock.advance(1.0)
        assert (await audio(svc))["duck_db"] == -20.0
        await clock.advance(60)
        assert (await audio(svc))["talking"] is False


CLINIC_YAML = """\
id: clinic_ketamine_im
title: The clinic's set
curator: Tests
source: tests/music/test_music_api.py
presets: [ketamine_im]
library: clinic
segments:
  arrival: &set
    tracks:
      - {path: loud.mp3, title: Loud, artist: test, duration_s: 100}
      - {path: quiet.m4a, title: Quiet, artist: test, duration_s: 100}
  onset: *set
  peak: *set
  descent: *set
  return: *set
  closing: *set
"""


@pytest.mark.parametrize("target_lufs", [-18.0, -23.0])
async def test_plans_carry_the_gains_of_the_library_s_loudness_cache(
    music_settings: Settings, clock: ManualClock, tmp_path: Path, target_lufs: float
) -> None:
    library = tmp_path / "clinic"
    library.mkdir()
    cache = LoudnessCache.beside(library)
    measured = {"loud.mp3": TrackLoudness(-14.0, -2.0), "quiet.m4a": TrackLoudness(-26.0, -12.0)}
    for name, loudness in measured.items():
        (library / name).write_bytes(b"stands in for audio: the fake decks never open it")
        cache.put(name, (library / name).stat(), loudness)
    cache.save()
    folder = tmp_path / "clinic-playlists"
    folder.mkdir()
    (folder / "clinic_ketamine_im.yaml").write_text(CLINIC_YAML)
    custom = music_settings.model_copy(
        update={
            "music_library": library,
            "playlists_dir": (*music_settings.playlists_dir, folder),
            "loudness_target_lufs": target_lufs,
        }
    )
    async with serve_in_process(custom, clock) as svc:
        await started(svc, "clinic_ketamine_im")
        tracks = (await svc.client.get(f"{ROOM}/plan")).json()["tracks"]
        target = LoudnessTarget(target_lufs=target_lufs)
        gains = {t["path"]: t["gain_db"] for t in tracks}
        assert gains == {name: gain_db(loudness, target) for name, loudness in measured.items()}
        assert gains["quiet.m4a"] - gains["loud.mp3"] == pytest.approx(12, abs=0.01)
        assert (await audio(svc))["now_playing"]["gain_db"] == gains["loud.mp3"]


async def test_gentler_takes_an_intense_track_away_within_seconds(service: Service, clock: ManualClock) -> None:
    await started(service, playlist="calm_ketamine_im")
    await playing(service)
    await clock.advance(110)  # Slow Tide (intensity 1) has crossfaded into Open Sky (4) at 94 s
    assert (await audio(service))["now_playing"]["title"] == "Open Sky"
    asked = clock.now()
    assert (await service.client.post(f"{ROOM}/audio/gentler")).status_code == 200
    plan = (await service.client.get(f"{ROOM}/plan")).json()["tracks"]
    sky = next(t for t in plan if t["path"] == "open-sky.wav" and t["start"] < asked)
    # Not "next track" (Open Sky had 104 s to go): it fades out over the segment's crossfade (at
    # least 8 s) from the moment gentler was asked for, while a gentle track fades in.
    assert sky["end"] == pytest.approx(asked + 8) and sky["fade_out_s"] == pytest.approx(8)
    await clock.advance(30)
    assert (await audio(service))["now_playing"]["title"] == "Homeward"


async def test_the_plan_asked_for_just_after_a_change_is_the_new_one(service: Service, clock: ManualClock) -> None:
    """A long plan is built in slices between other work; a reader asking at once still gets the
    plan that follows the change, not the one from before it."""
    r = await service.client.post(f"{ROOM}/session", json={"preset": "lsd", "playlist": "demo_lsd"})
    assert r.status_code == 201, r.text
    await service.client.post(f"{ROOM}/session/dose", json={})
    await clock.advance(60)
    for _ in range(3):
        r = await service.client.post(f"{ROOM}/session/advance", json={})
        assert r.status_code == 200, r.text
        state = r.json()
        tracks = (await service.client.get(f"{ROOM}/plan")).json()["tracks"]
        assert len(tracks) > 100  # long enough to be built in several slices
        first = next(t for t in tracks if t["phase"] == state["phase"])
        assert first["start"] == pytest.approx(state["phase_started_at"])
