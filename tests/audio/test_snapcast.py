"""A room's music on Snapcast, heard at the room's player: real snapserver, real snapclient, real libVLC.

The player writes what it plays to a file in real time (`--player file`), so what the headphones
would carry is measured from its last half second; the server is asked over its control API, as
another control app would, whether the player is muted and on the room's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.api.app import create_app
from app.audio import VlcPlayer, snapcast_control
from app.audio.pcm_feed import CHUNK_US, FADE_IN_CHUNKS, RATE, PcmFeed, monotonic_us
from app.audio.snapcast_control import player_percent
from app.domain.clock import SystemClock
from app.domain.loudness import LoudnessTarget, gain_db
from app.music import DeckPair
from app.music.loudness import measure
from app.runtime import vlc_player_for
from app.settings import Settings
from tests.audio.test_decks_vlc import arrival_playlist, plan_from
from tests.conftest import catalog_for
from tests.music.test_loudness import make
from tests.support import WAIT_S, Snapclient, Snapserver

HEARD = 300.0  # RMS: the demo music at the room's volume is well above it; a muted player writes zeros
PLAYER = "room1-headphones"


@pytest.fixture(params=["tcp", "pipe"])
def snapserver(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Snapserver]:
    """The stream's source as snapserver's tcp source (server mode) or its pipe."""
    server = Snapserver(tmp_path, streams=("room1", "room2"), source=request.param)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def player(snapserver: Snapserver, tmp_path: Path) -> Iterator[Snapclient]:
    client = Snapclient(snapserver, PLAYER, tmp_path)
    client.start()
    yield client
    client.kill()


def snapcast_room(server: Snapserver) -> str:
    """A rooms file: room one's music on the server's room1 stream, heard at PLAYER."""
    return (
        "rooms:\n"
        "  - id: one\n"
        "    name: Room one\n"
        "    audio:\n"
        "      output: snapcast\n"
        f"      snapcast: {{host: 127.0.0.1, control_port: {server.control_port}, stream: room1,\n"
        f'                 source: "{server.sources["room1"]}", clients: [{PLAYER}]}}\n'
    )


def snapcast_settings(settings: Settings, server: Snapserver, tmp_path: Path) -> Settings:
    rooms = tmp_path / "snapcast-rooms.yaml"
    rooms.write_text(snapcast_room(server))
    return settings.model_copy(update={"rooms_file": rooms})


@asynccontextmanager
async def room_service(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The service in this process, on the real clock, with real libVLC decks."""
    app = create_app(settings, clock=SystemClock(), catalog=catalog_for(settings), player_factory=vlc_player_for)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", timeout=10) as client:
            yield client


async def until(what: Callable[[], Any], within_s: float = WAIT_S) -> Any:
    async with asyncio.timeout(within_s):
        while not (value := what()):
            await asyncio.sleep(0.02)
    return value


async def snapcast_state(client: httpx.AsyncClient) -> dict[str, Any]:
    state: dict[str, Any] = (await client.get("/api/rooms/one/state")).json()["audio"]["snapcast"]
    return state


async def test_the_music_reaches_the_player_and_a_panic_mutes_it_before_the_buffer(
    settings: Settings, snapserver: Snapserver, player: Snapclient, tmp_path: Path
) -> None:
    async with room_service(snapcast_settings(settings, snapserver, tmp_path)) as c:
        r = await c.post("/api/rooms/one/session", json={"preset": "psilocybin"})
        assert r.status_code == 201, r.text
        await until(lambda: player.level() > HEARD)
        shown = await snapcast_state(c)
        assert shown["feeding"] and shown["error"] is None
        assert shown["clients"] == [
            {
                "id": PLAYER, "connected": True, "known": True, "on_stream": True, "muted": False,
                "volume_pct": 100, "latency_ms": 0, "gone_since": None, "alert": False,
            }
        ]  # fmt: skip

        # Talk turns the players themselves down (the mix's own duck would be heard a buffer late).
        r = await c.post("/api/rooms/one/audio/talk", json={"on": True})
        assert r.status_code == 200 and r.json()["talking"], r.text
        lowered = {"muted": False, "percent": player_percent(-12.0)}
        await until(lambda: snapserver.client(PLAYER)["config"]["volume"] == lowered)  # type: ignore[index]
        # The state says where the players are now: -12 dB, to the player's whole percent.
        audio = (await c.get("/api/rooms/one/state")).json()["audio"]
        assert audio["duck_db"] == pytest.approx(-12.0, abs=0.2), audio["duck_db"]
        r = await c.post("/api/rooms/one/audio/talk", json={"on": False})
        assert r.status_code == 200, r.text
        await until(lambda: snapserver.client(PLAYER)["config"]["volume"] == {"muted": False, "percent": 100})  # type: ignore[index]

        r = await c.post("/api/rooms/one/panic")
        assert r.status_code == 200, r.text
        panicked = time.monotonic()
        await until(lambda: snapserver.client(PLAYER)["config"]["volume"]["muted"])  # type: ignore[index]
        muted_after = time.monotonic() - panicked
        await asyncio.sleep(max(0.0, 2.5 - (time.monotonic() - panicked)))
        assert player.level(0.5) == 0.0, "the player still sounds 2.5 s after the panic"
        assert (await snapcast_state(c))["muted"] is True

        r = await c.post("/api/rooms/one/panic/clear", json={"mode": "restore"})
        assert r.status_code == 200, r.text
        await until(lambda: not snapserver.client(PLAYER)["config"]["volume"]["muted"])  # type: ignore[index]
        await until(lambda: player.level() > HEARD)
    print(f"muted, read back over the control API, {muted_after * 1000:.0f} ms after the panic's answer")


async def test_a_player_on_another_stream_is_put_back_and_an_unreachable_server_is_an_error(
    settings: Settings, snapserver: Snapserver, player: Snapclient, tmp_path: Path
) -> None:
    configured = snapcast_settings(settings, snapserver, tmp_path)
    await until(lambda: snapserver.client(PLAYER) is not None)
    group = next(g["id"] for g in snapserver.rpc("Server.GetStatus")["server"]["groups"])
    snapserver.rpc("Group.SetStream", {"id": group, "stream_id": "room2"})  # another room's stream
    async with room_service(configured) as c:
        await until(lambda: snapserver.client(PLAYER)["stream_id"] == "room1")  # type: ignore[index]
        # Another app turns the player down and mutes it: the room puts it back as it wants it.
        snapserver.rpc("Client.SetVolume", {"id": PLAYER, "volume": {"percent": 20, "muted": True}})
        await until(lambda: snapserver.client(PLAYER)["config"]["volume"] == {"muted": False, "percent": 100})  # type: ignore[index]

        snapserver.stop()
        async with asyncio.timeout(WAIT_S):
            # A pipe takes a third of a second of audio before it is found full: nobody reads it.
            while (shown := await snapcast_state(c))["reachable"] or shown["feeding"]:
                await asyncio.sleep(0.05)
        state = (await c.get("/api/rooms/one/state")).json()["audio"]
        assert state["state"] == "error", state
        assert "Snapcast source" in state["error"] or "snapserver" in state["error"], state
        assert shown["error"] == state["error"]

        snapserver.start()  # back: found again without a restart
        async with asyncio.timeout(WAIT_S):
            while (await snapcast_state(c))["error"] is not None:
                await asyncio.sleep(0.05)


async def test_a_player_that_drops_mid_session_is_an_alert_and_is_put_back_when_it_returns(
    settings: Settings, snapserver: Snapserver, player: Snapclient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapcast_control, "GONE_ALERT_S", 0.5)  # 10 s in a clinic
    async with room_service(snapcast_settings(settings, snapserver, tmp_path)) as c:
        r = await c.post("/api/rooms/one/session", json={"preset": "psilocybin"})
        assert r.status_code == 201, r.text
        await until(lambda: player.level() > HEARD)

        player.kill()
        async with asyncio.timeout(WAIT_S):
            while not (shown := await snapcast_state(c))["clients"][0]["alert"]:
                await asyncio.sleep(0.05)
        assert shown["clients"][0]["connected"] is False and shown["clients"][0]["gone_since"] is not None
        audio = (await c.get("/api/rooms/one/state")).json()["audio"]
        assert audio["state"] == "error" and PLAYER in audio["error"], audio
        # Meanwhile another app turns it down: on its return the room sets it as the room wants it.
        snapserver.rpc("Client.SetVolume", {"id": PLAYER, "volume": {"percent": 10, "muted": False}})

        player.start()
        await until(lambda: player.level() > HEARD)
        await until(lambda: snapserver.client(PLAYER)["config"]["volume"] == {"muted": False, "percent": 100})  # type: ignore[index]
        async with asyncio.timeout(WAIT_S):
            while (await c.get("/api/rooms/one/state")).json()["audio"]["state"] != "playing":
                await asyncio.sleep(0.05)
        assert (await snapcast_state(c))["clients"][0] == {
            "id": PLAYER, "connected": True, "known": True, "on_stream": True, "muted": False,
            "volume_pct": 100, "latency_ms": 0, "gone_since": None, "alert": False,
        }  # fmt: skip


def heard_wav(player: Snapclient, path: Path, start_s: float, end_s: float) -> Path:
    """A stretch of what the player wrote, as a WAV file for the loudness analyser."""
    data = player.output.read_bytes()
    frames = np.frombuffer(data[: len(data) // 4 * 4], dtype=np.int16).reshape(-1, 2)
    clip = frames[int(start_s * RATE) : int(end_s * RATE)]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(clip.tobytes())
    return path


def levels_every(pcm: bytes, window_s: float) -> list[float]:
    """RMS of each `window_s` of what a player wrote (raw 48000:16:2, its left channel)."""
    left = np.frombuffer(pcm[: len(pcm) // 4 * 4], dtype=np.int16)[0::2].astype(np.float64)
    n = int(window_s * RATE)
    return [float(np.sqrt(np.mean(left[i : i + n] ** 2))) for i in range(0, len(left) - n, n)]


@pytest.mark.parametrize("snapserver", ["tcp"], indirect=True)  # what is heard does not depend on the source
async def test_a_crossfade_and_the_loudness_gains_are_heard_at_the_player_as_on_a_local_output(
    snapserver: Snapserver, player: Snapclient, tmp_path: Path
) -> None:
    """The measurement of test_pulse_music.py, at the Snapcast player: two tracks 12 dB apart are
    heard within 1 LU of each other, and the crossfade between them has no gap."""
    library = tmp_path / "library"
    loud = make(library / "loud.wav", seconds=10)
    quiet = make(library / "quiet.wav", level_db=-12, seconds=10)
    gains = {p.name: gain_db(measure(p), LoudnessTarget()) for p in (loud, quiet)}
    playlist = arrival_playlist(("loud.wav", 10), ("quiet.wav", 10), crossfade_s=2)
    feed = PcmFeed("one", snapserver.sources["room1"])
    decks = (VlcPlayer("snapcast", name="a", tap=feed.taps[0]), VlcPlayer("snapcast", name="b", tap=feed.taps[1]))
    music = DeckPair(
        "one", decks, {"demo": library}, SystemClock(), ceiling_pct=70, volume_pct=40, on_event=lambda k, d: None
    )
    feed.start()
    await music.start()
    task = asyncio.create_task(music.run())
    try:
        await until(lambda: feed.connected)
        await until(lambda: player.output.exists() and player.output.stat().st_size > 0)
        now = time.time()
        info = plan_from(playlist, now, now)
        plan = info.model_copy(
            update={"tracks": [t.model_copy(update={"gain_db": gains[t.path]}) for t in info.tracks]}
        )
        await music.follow(plan, playlist)
        await asyncio.sleep(17)
        await music.follow(None, None)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await music.close()
        feed.close()
    windows = levels_every(player.output.read_bytes(), 0.01)
    t0 = next(i for i, v in enumerate(windows) if v > 30) * 0.01  # the first track's fade-in begins
    levels = {
        name: measure(heard_wav(player, tmp_path / f"heard-{name}", t0 + a, t0 + b)).integrated_lufs
        for name, (a, b) in {"loud.wav": (3.5, 7.5), "quiet.wav": (10.5, 15.5)}.items()
    }
    print(f"loudness heard at the player: {levels} ({abs(levels['loud.wav'] - levels['quiet.wav']):.1f} LU apart)")
    assert abs(levels["loud.wav"] - levels["quiet.wav"]) <= 1.0, levels
    # The crossfade (8-10 s): one track going down as the other comes up, never a gap between them.
    during = levels_every(player.output.read_bytes(), 0.1)[int((t0 + 7.5) * 10) : int((t0 + 10.5) * 10)]
    steady = float(np.median(levels_every(player.output.read_bytes(), 0.1)[int((t0 + 11) * 10) : int((t0 + 15) * 10)]))
    assert min(during) > 0.5 * steady, (min(during), steady)


@pytest.mark.parametrize("snapserver", ["tcp"], indirect=True)
async def test_the_player_volume_talk_sets_turns_a_steady_tone_down_by_as_many_db(
    snapserver: Snapserver, player: Snapclient
) -> None:
    """Talk's dB become a player volume through snapclient's own mixer curve: checked on the player."""
    feed = PcmFeed("one", snapserver.sources["room1"])
    tone = (np.sin(2 * np.pi * 440 * np.arange(48_000) / RATE) * 12_000).astype(np.int16)
    stereo = np.repeat(tone, 2).reshape(-1, 2)
    feed.taps[0].set_volume(100)
    feed.start()
    try:
        start = monotonic_us() + 200_000
        for second in range(12):
            feed.taps[0].play(stereo, start + second * 1_000_000)
        await until(lambda: player.level(0.5) > HEARD)
        await asyncio.sleep(1.0 + FADE_IN_CHUNKS * CHUNK_US / 1e6)  # past the feed's fade-in, as it starts
        full = player.level(0.5)
        for db in (-12.0, -24.0):
            snapserver.rpc(
                "Client.SetVolume", {"id": PLAYER, "volume": {"percent": player_percent(db), "muted": False}}
            )
            await asyncio.sleep(1.5)
            heard_db = 20 * math.log10(player.level(0.5) / full)
            print(f"{db} dB asked: player at {player_percent(db)} %, heard {heard_db:.2f} dB")
            assert heard_db == pytest.approx(db, abs=0.5)
    finally:
        feed.close()
