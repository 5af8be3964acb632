"""What each command topic's payload asks for, read strictly; a bad one is refused with a reason."""

from __future__ import annotations

import pytest

from app.mqtt import commands as c


def test_a_panic_is_never_refused_over_its_wording() -> None:
    assert c.panic_press(b"PRESS") == (c.PanicPress(by="mqtt"), None)
    assert c.panic_press(b'{"by": "home-assistant"}') == (c.PanicPress(by="mqtt:home-assistant"), None)
    press, warning = c.panic_press(b"{not json")
    assert press == c.PanicPress(by="mqtt") and warning and "not valid JSON" in warning
    press, warning = c.panic_press(b"help!")
    assert press == c.PanicPress(by="mqtt") and warning and "treated as PRESS" in warning
    press, warning = c.panic_press(b"x" * 2_000_000)  # 2 MB: still a panic, the payload not kept
    assert press == c.PanicPress(by="mqtt") and warning and "2000000 bytes" in warning


def test_who_pressed_is_bounded_and_printable() -> None:
    press, _ = c.panic_press(('{"by": "' + "w" * 3000 + '"}').encode())
    assert press.by == "mqtt:" + "w" * c.BY_MAX_CHARS
    press, _ = c.panic_press(b'{"by": "wall\\u0000\\nbutton"}')
    assert press.by == "mqtt:wallbutton"
    assert c.panic_press(b'{"by": 42}')[0].by == "mqtt"
    assert c.panic_press(b'{"by": "   "}')[0].by == "mqtt"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"restore", c.ClearPanic(by="mqtt", mode="restore")),
        (b"HOLD", c.ClearPanic(by="mqtt", mode="hold")),
        (b'{"mode": "hold", "by": "nurse"}', c.ClearPanic(by="mqtt:nurse", mode="hold")),
    ],
)
def test_clear_panic(payload: bytes, expected: c.ClearPanic) -> None:
    assert c.clear_panic(payload) == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"hold", c.SessionCommand(by="mqtt", action="hold")),
        (b'{"action": "resume"}', c.SessionCommand(by="mqtt", action="resume")),
        (b'{"action": "advance", "by": "ha"}', c.SessionCommand(by="mqtt:ha", action="advance", confirm=False)),
        (b'{"action": "advance", "confirm": true}', c.SessionCommand(by="mqtt", action="advance", confirm=True)),
        (b"advance", c.SessionCommand(by="mqtt", action="advance", confirm=False)),
    ],
)
def test_session_commands(payload: bytes, expected: c.SessionCommand) -> None:
    assert c.session_command(payload) == expected


def test_other_commands() -> None:
    assert c.scene_command(b"peak") == c.SceneCommand(by="mqtt", scene="peak")
    assert c.scene_command(b'{"scene": "idle", "by": "x"}') == c.SceneCommand(by="mqtt:x", scene="idle")
    assert c.volume_command(b"42.4") == c.VolumeCommand(by="mqtt", volume_pct=42)
    assert c.volume_command(b'{"volume_pct": 10}') == c.VolumeCommand(by="mqtt", volume_pct=10)
    assert c.volume_command(b'{"volume_pct": "15"}') == c.VolumeCommand(by="mqtt", volume_pct=15)
    assert c.music_command(b"skip") == c.MusicCommand(by="mqtt", action="skip")
    assert c.talk_command(b"ON") == c.TalkCommand(by="mqtt", on=True)
    assert c.talk_command(b'{"on": false}') == c.TalkCommand(by="mqtt", on=False)
    assert c.fallback_panic(b'{"by": "home-assistant", "at": 1800000000.5}') == c.FallbackPanic(
        by="mqtt:home-assistant", at=1800000000.5
    )


@pytest.mark.parametrize(
    ("parse", "payload", "reason"),
    [
        (c.clear_panic, b"later", "mode must be one of restore, hold"),
        (c.clear_panic, b"[1]", "mode must be one of"),
        (c.session_command, b'{"action": "advance", "confirm": "yes"}', "confirm must be true or false"),
        (c.session_command, b'{"action": "end"}', "action must be one of hold, resume, advance"),
        (c.session_command, b'["hold"]', "action must be one of"),
        (c.scene_command, b'{"scene": 3}', "give a scene name"),
        (c.volume_command, b"loud", "volume must be a number"),
        (c.volume_command, b"NaN", "volume must be from 0 to 100"),
        (c.volume_command, b"1e999", "volume must be from 0 to 100"),
        (c.volume_command, b"101", "volume must be from 0 to 100"),
        (c.volume_command, b'{"volume_pct": true}', "volume must be a number"),
        (c.music_command, b"stop", "action must be one of pause, resume, skip"),
        (c.talk_command, b"maybe", "talk takes ON or OFF"),
        (c.fallback_panic, b"PRESS", "fallback panic report is JSON"),
        (c.fallback_panic, b'{"at": "yesterday"}', "at must be epoch seconds"),
        (c.session_command, b'{"action": "hold"', "not valid JSON"),
        (c.session_command, b"x" * 5000, "payload of 5000 bytes"),
    ],
)
def test_bad_payloads_are_refused_with_the_reason(parse: c.Parser, payload: bytes, reason: str) -> None:
    with pytest.raises(c.BadCommand, match=reason):
        parse(payload)
