"""Honest music: a playlist whose files are not in the clinic's library is never the default, and
a session that plays one anyway (chosen, or the clinic's default setting) says so: on the room's
state (the dashboard's music card, Home Assistant's music state) and in /api/health."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.audio import FakePlayer
from app.catalog import load_playlists
from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service, serve_in_process

HOPKINS = load_playlists(Settings().playlists_dir)["hopkins_psilocybin"]
TRACKS = [t.path for segment in HOPKINS.segments.values() for t in segment.tracks]


def library_with(tmp_path: Path, paths: list[str]) -> Path:
    library = tmp_path / "music"
    library.mkdir()
    for path in paths:
        (library / path).parent.mkdir(parents=True, exist_ok=True)
        (library / path).write_bytes(b"not really audio")  # present is all that is checked here
    return library


def session_playlist(svc: Service) -> str | None:
    playlist = svc.runtime.rooms["one"].music.playlist()
    return None if playlist is None else playlist.id


async def test_a_clinic_playlist_with_missing_files_is_passed_over_for_the_demo_one(
    settings: Settings, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    library = library_with(tmp_path, TRACKS[:2])  # the clinic has bought two of them so far
    async with serve_in_process(settings.model_copy(update={"music_library": library}), clock) as svc:
        r = await svc.client.post("/api/rooms/one/session", json={"preset": "psilocybin"})
        assert r.status_code == 201, r.text
        assert (await svc.client.post("/api/rooms/one/session/dose", json={})).status_code == 200
        view = (await svc.client.get("/api/rooms/one")).json()
        assert session_playlist(svc) == "demo_psilocybin"
        assert view["audio"]["missing_tracks"] is None and view["audio"]["error"] is None
        assert (await svc.client.get("/api/health")).json()["problems"] == []
    passed_over = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "not a default" in r.getMessage()
    ]
    assert passed_over[0] == (
        f"playlist 'hopkins_psilocybin' is not a default for psilocybin: {len(TRACKS) - 2} of {len(TRACKS)} "
        f"tracks of playlist 'hopkins_psilocybin' missing in {library}"
    )


async def test_a_complete_clinic_playlist_is_the_default(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    library = library_with(tmp_path, TRACKS)
    async with serve_in_process(settings.model_copy(update={"music_library": library}), clock) as svc:
        assert (await svc.client.post("/api/rooms/one/session", json={"preset": "psilocybin"})).status_code == 201
        assert (await svc.client.post("/api/rooms/one/session/dose", json={})).status_code == 200
        view = (await svc.client.get("/api/rooms/one")).json()
        assert session_playlist(svc) == "hopkins_psilocybin" and view["audio"]["missing_tracks"] is None


async def test_the_clinics_default_setting_is_played_and_a_session_that_cannot_play_says_so(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    library = library_with(tmp_path, TRACKS[-2:])  # none of the first phases' music
    configured = settings.model_copy(
        update={"music_library": library, "default_playlists": {"psilocybin": "hopkins_psilocybin"}}
    )
    # Players that fail on a missing file, as libVLC does: nothing sounds, and the card says why.
    fails_on_missing = lambda room, s: FakePlayer(room.audio.output, clock=clock, check_files=True)  # noqa: E731
    async with serve_in_process(configured, clock, fails_on_missing) as svc:
        assert (await svc.client.post("/api/rooms/one/session", json={"preset": "psilocybin"})).status_code == 201
        assert (await svc.client.post("/api/rooms/one/session/dose", json={})).status_code == 200
        audio = (await svc.client.get("/api/rooms/one")).json()["audio"]
        said = f"{len(TRACKS) - 2} of {len(TRACKS)} tracks of playlist 'hopkins_psilocybin' missing in {library}"
        assert session_playlist(svc) == "hopkins_psilocybin"
        assert audio["state"] == "error" and audio["error"] == said and audio["missing_tracks"] == said
        health = (await svc.client.get("/api/health")).json()
        assert health["status"] == "degraded" and health["problems"] == [f"room one: music: {said}"]


async def test_a_few_missing_tracks_are_named_without_calling_the_music_failed(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    library = library_with(tmp_path, TRACKS[1:])
    async with serve_in_process(settings.model_copy(update={"music_library": library}), clock) as svc:
        r = await svc.client.post(
            "/api/rooms/one/session", json={"preset": "psilocybin", "playlist": "hopkins_psilocybin"}
        )
        assert r.status_code == 201, r.text
        assert (await svc.client.post("/api/rooms/one/session/dose", json={})).status_code == 200
        audio = (await svc.client.get("/api/rooms/one")).json()["audio"]
        assert audio["state"] != "error" and audio["error"] is None
        assert (
            audio["missing_tracks"]
            == f"1 of {len(TRACKS)} tracks of playlist 'hopkins_psilocybin' missing in {library}"
        )


def test_a_default_playlist_setting_that_does_not_fit_stops_the_start(settings: Settings) -> None:
    from app.api.app import create_app
    from app.config_files import ConfigFileError

    with pytest.raises(ConfigFileError) as raised:
        create_app(settings.model_copy(update={"default_playlists": {"mdma": "hopkins_psilocybin", "lsd": "nope"}}))
    assert raised.value.problems == [
        "ARCROOM_DEFAULT_PLAYLISTS: playlist 'hopkins_psilocybin' is not made for preset 'mdma' (it suits: psilocybin)",
        "ARCROOM_DEFAULT_PLAYLISTS: no playlist 'nope' for preset 'lsd'",
    ]
