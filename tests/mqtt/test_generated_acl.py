"""`arcroom broker acl` in a real Mosquitto with accounts: two rooms with a light of every family,
each light a simulated device logging in with its own account (`arcroom simulate-lights`, its
own process), the service on its own. Every
light answers; and a light the ACL does not know (added after the ACL was made) is named by
/api/health, since the broker drops what it refuses without a word."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import struct
import subprocess
import sys
import uuid
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from app.catalog import load_playlists, load_profiles, load_rooms
from app.cli import main
from app.domain.clock import ManualClock
from app.lighting.controller import UNANSWERED_S
from app.mqtt.acl import device_account
from app.music import director
from app.settings import Settings, Token
from tests.conftest import serve
from tests.support import WAIT_S, Mosquitto

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "device_profiles"
TAG = uuid.uuid4().hex[:6]
LIGHTS = {  # room -> (name, profile, topic, role): every family the service ships a profile for
    "one": [
        ("ceiling", "zigbee2mqtt", f"acl{TAG}_ceiling", "ceiling"),
        ("lamp", "tasmota", f"acl{TAG}_lamp", "lamp"),
        ("duo", "shelly_gen1", f"acl{TAG}-duo", "lamp"),
        ("dimmer", "shelly_gen2", f"acl{TAG}-dimmer", "accent"),
    ],
    "two": [
        ("strip", "wled", f"acl{TAG}_strip", "accent"),
        ("esp", "esphome", f"acl{TAG}-esp/light/lamp", "lamp"),
        ("ha", "ha_json", f"clinic/acl{TAG}/ha", "ceiling"),
        ("diy", "generic_template", f"clinic/acl{TAG}/diy", "lamp"),
    ],
}
LATE = ("late", "esphome", f"acl{TAG}-late/light/lamp", "lamp")  # fitted after the ACL was made


def rooms_yaml(lights: dict[str, list[tuple[str, str, str, str]]]) -> str:
    out = ["rooms:"]
    for room, room_lights in lights.items():
        out += [f"  - id: {room}", f"    name: Room {room}", "    audio: {output: dummy}", "    lights:"]
        out += [f"      - {{name: {n}, profile: {p}, topic: '{t}', role: {r}}}" for n, p, t, r in room_lights]
    return "\n".join(out) + "\n"


def password(account: str) -> str:
    return f"{account}-pw-{TAG}"


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """The rooms file as fitted (with the late light), and the ACL made before the late light."""
    before = tmp_path / "rooms-before.yaml"
    before.write_text(rooms_yaml(LIGHTS))
    monkeypatch.setenv("ARCROOM_ROOMS_FILE", str(before))
    monkeypatch.setenv("ARCROOM_MQTT_USERNAME", "arcroom")
    assert main(["broker", "acl"]) == 0
    (tmp_path / "acl").write_text(capsys.readouterr().out)
    after = tmp_path / "rooms-fitted.yaml"
    after.write_text(rooms_yaml({"one": LIGHTS["one"], "two": [*LIGHTS["two"], LATE]}))
    return after


@pytest.fixture
def broker(tmp_path: Path, generated: Path) -> AsyncIterator[Mosquitto]:
    profiles = load_profiles(PROFILES)
    rooms = load_rooms(generated, profiles)
    accounts = {"arcroom", "homeassistant"} | {
        device_account(room, light, profiles[light.profile]) for room in rooms.values() for light in room.lights
    }
    passwd = tmp_path / "passwd"
    passwd.touch()
    for account in sorted(accounts):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), account, password(account)], check=True)
    b = Mosquitto(tmp_path)
    # `user root`: Mosquitto run as root (CI) would switch to its own user, who cannot read tmp_path.
    b.config.write_text(
        f"listener {b.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\nacl_file {tmp_path / 'acl'}\n"
        "persistence false\nset_tcp_nodelay true\nuser root\n"
    )
    b.start()
    yield b  # type: ignore[misc]
    b.stop()


@asynccontextmanager
async def devices(broker: Mosquitto, rooms_file: Path) -> AsyncIterator[None]:
    """`arcroom simulate-lights` in its own process: each light a simulated device logging in with
    its own account (a bridge's for Zigbee2MQTT), as the installer runs it before the hardware."""
    profiles = load_profiles(PROFILES)
    accounts = {
        device_account(room, light, profiles[light.profile])
        for room in load_rooms(rooms_file, profiles).values()
        for light in room.lights
    }
    passwords = rooms_file.parent / "device-passwords"
    passwords.write_text("# account:password\n" + "".join(f"{a}:{password(a)}\n" for a in sorted(accounts)))
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "app", "simulate-lights", str(rooms_file), "--broker", broker.url],
        *["--passwords", str(passwords)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("ARCROOM_")},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), 10)
        assert b"Traceback" not in err, err.decode()


def on_broker(settings: Settings, broker: Mosquitto, rooms_file: Path, **more: Any) -> Settings:
    """The service as the clinic runs it: these rooms, on the broker, with its own account."""
    update = {"rooms_file": rooms_file, "mqtt_url": broker.url, "mqtt_username": "arcroom"}
    return settings.model_copy(update={**update, "mqtt_password": SecretStr(password("arcroom")), **more})


async def lights_of(svc: Any, room: str) -> dict[str, dict[str, Any]]:
    view = (await svc.client.get(f"/api/rooms/{room}")).json()
    return {light["name"]: light for light in view["lighting"]["lights"]}


async def test_every_family_answers_through_the_generated_acl_and_a_light_it_lacks_is_named(
    broker: Mosquitto, generated: Path, settings: Settings, clock: ManualClock
) -> None:
    s = on_broker(settings, broker, generated)
    async with devices(broker, generated), serve(s, clock) as svc:
        for room in ("one", "two"):
            r = await svc.client.put(f"/api/rooms/{room}/lights", json={"brightness": 40})
            assert r.status_code == 200, r.text
        expected = {n for room in LIGHTS.values() for n, *_ in room}
        answered: set[str] = set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT_S):
                while not answered >= expected:
                    await asyncio.sleep(0.05)
                    lights = {**await lights_of(svc, "one"), **await lights_of(svc, "two")}
                    answered = {name for name, light in lights.items() if light["confirmed"]}
        assert answered >= expected, f"never answered: {sorted(expected - answered)}"
        assert "late" not in answered  # its account may log in, but no rule lets anything through

        # Over MQTT 5 the broker says so at once; the light's silence is named after 15 s as well
        # (what is all there is to see when the device, not the service, is refused).
        refused = (
            f"the broker refuses the service's messages on acl{TAG}-late/light/lamp/command (Not authorized): "
            "make its ACL with `arcroom broker acl`"
        )
        health = (await svc.client.get("/api/health")).json()
        assert health["status"] == "degraded" and health["problems"] == [refused]
        await clock.advance(UNANSWERED_S + 1)
        # The clock jumps: a command sent just before it is answered a moment later, in real time.
        async with asyncio.timeout(WAIT_S):
            while len((health := (await svc.client.get("/api/health")).json())["problems"]) != 2:
                await asyncio.sleep(0.05)
        first, silent = health["problems"]
        assert first == refused
        assert silent.startswith("room two: light 'late' has not answered its commands for 16 s")
        assert f"may the service publish to acl{TAG}-late/light/lamp/command?" in silent


def test_arcroom_check_names_each_mistake_and_passes_a_right_install(
    broker: Mosquitto,
    generated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ARCROOM_MQTT_URL", broker.url)
    monkeypatch.setenv("ARCROOM_MQTT_PASSWORD", password("arcroom"))
    monkeypatch.setenv("ARCROOM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ARCROOM_ROOMS_FILE", str(tmp_path / "rooms-before.yaml"))  # what the ACL was made from
    assert main(["check"]) == 0, capsys.readouterr()
    assert "arcroom check: no problem(s); 2 room(s), 8 light(s)" in capsys.readouterr().err

    # The late light, a misspelt library and a preset default that does not fit.
    monkeypatch.setenv("ARCROOM_ROOMS_FILE", str(generated))
    monkeypatch.setenv("ARCROOM_MUSIC_LIBRARY", str(tmp_path / "Musik"))
    assert main(["check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"ARCROOM_MUSIC_LIBRARY: {tmp_path / 'Musik'} is not a folder on this machine",
        "preset 'psilocybin': not its default, 49 of 49 tracks of playlist 'hopkins_psilocybin' missing "
        f"(the 'clinic' music library {tmp_path / 'Musik'} is not a folder (ARCROOM_MUSIC_LIBRARY))",
        "preset 'psilocybin': not its default, 49 of 49 tracks of playlist 'hopkins_psilocybin_2020' missing "
        f"(the 'clinic' music library {tmp_path / 'Musik'} is not a folder (ARCROOM_MUSIC_LIBRARY))",
        f"room two: light 'late': the broker refuses the service's messages on acl{TAG}-late/light/lamp/command "
        "(Not authorized): make its ACL with `arcroom broker acl`",
    ]

    monkeypatch.setenv("ARCROOM_MQTT_PASSWORD", "not-the-password")
    monkeypatch.delenv("ARCROOM_MUSIC_LIBRARY")
    assert main(["check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"the broker {broker.url} refused the login of user 'arcroom' (Not authorized): check "
        "ARCROOM_MQTT_USERNAME and ARCROOM_MQTT_PASSWORD (or the user:password in ARCROOM_MQTT_URL)"
    ]


def short_tones(library: Path, paths: list[str]) -> None:
    """A second of quiet tone at each path (a library's files, as small as a test can afford)."""
    frames = b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(8000))
    for relative in paths:
        path = library / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(frames)


async def test_a_clinic_install_end_to_end_then_each_mistake_named_in_health(
    broker: Mosquitto,
    generated: Path,
    settings: Settings,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two rooms, every family as its own device process on the generated ACL, a scanned library,
    tokens scoped to rooms: all well. Then each install mistake, and health names it."""
    hopkins = [
        t.path for seg in load_playlists(ROOT / "playlists")["hopkins_psilocybin"].segments.values() for t in seg.tracks
    ]
    library = tmp_path / "music"
    short_tones(library, hopkins)
    assert main(["library", "scan", "--library", str(library)]) == 0
    capsys.readouterr()
    fitted = tmp_path / "rooms-before.yaml"  # the rooms the ACL was made for
    one, two = "tablet-Room1-7Hq2xLp9", "tablet-Room2-4kW7aZq1"
    tokens = [
        Token(name="tablet-1", role="therapist", token=SecretStr(one), rooms=["one"]),
        Token(name="tablet-2", role="therapist", token=SecretStr(two), rooms=["two"]),
    ]
    right = on_broker(settings, broker, fitted, tokens=tokens, music_library=library, mqtt_claim_wait_ms=300)
    as_one = {"Authorization": f"Bearer {one}"}
    async with devices(broker, fitted), serve(right, clock) as svc:
        async with asyncio.timeout(WAIT_S):
            while (health := (await svc.client.get("/api/health")).json())["problems"]:
                await asyncio.sleep(0.05)
        assert health["status"] == "ok"
        r = await svc.client.post("/api/rooms/one/session", json={"preset": "psilocybin"}, headers=as_one)
        assert r.status_code == 201, r.text
        assert svc.runtime.rooms["one"].music.playlist().id == "hopkins_psilocybin"  # type: ignore[union-attr]
        assert (
            await svc.client.post("/api/rooms/two/session", json={"preset": "psilocybin"}, headers=as_one)
        ).status_code == 403

        # A second instance for the same rooms: refused, naming this one.
        again = right.model_copy(update={"mqtt_client_id": f"{right.mqtt_client_id}-again"})
        async with serve(again, clock) as other:
            async with asyncio.timeout(WAIT_S):
                while "already run by another Arcroom instance" not in str(
                    (await other.client.get("/api/health")).json()["problems"]
                ):
                    await asyncio.sleep(0.05)

        # Most of the library taken away: the session says so, and so does health.
        for relative in hopkins[2:]:
            (library / relative).unlink()
        monkeypatch.setattr(director, "AVAILABILITY_EVERY_S", 0.0)
        health = (await svc.client.get("/api/health")).json()
        assert health["problems"] == [
            f"room one: music: {len(hopkins) - 2} of {len(hopkins)} tracks of playlist 'hopkins_psilocybin' "
            f"missing in {library}"
        ]

    # Mistakes at install time, each named by the health of a service started with it.
    mistakes = [
        ({"mqtt_password": SecretStr("not-the-password")}, "refused the login of user 'arcroom'"),
        ({"music_library": tmp_path / "Musik"}, f"the music library {tmp_path / 'Musik'} (ARCROOM_MUSIC_LIBRARY)"),
        ({"rooms_file": generated}, f"refuses the service's messages on acl{TAG}-late/light/lamp/command"),
    ]
    for change, named in mistakes:
        async with serve(right.model_copy(update=change), clock) as svc:
            async with asyncio.timeout(WAIT_S):
                while named not in str((health := (await svc.client.get("/api/health")).json())["problems"]):
                    await asyncio.sleep(0.05)
            assert health["status"] == "degraded"
    with pytest.raises(ValidationError, match="looks like a placeholder"):
        Token(name="tablet-3", role="therapist", token=SecretStr("your-token-goes-here"))
