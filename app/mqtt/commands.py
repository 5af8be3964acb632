"""What a message on one of a room's MQTT command topics asks for, read strictly (no I/O here).

Each topic takes a plain word or number, or a JSON object that can also say who sent it (`by`).
A payload that asks for nothing valid raises BadCommand with a message for the log; the bridge
logs it and ignores the message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

BY_MAX_CHARS = 64  # who pressed, as recorded: a name, not a document (a 1 MB `by` was seen)
PAYLOAD_MAX_BYTES = 4096  # every valid command is a few dozen bytes


Parser = Callable[[bytes], "Command"]


class BadCommand(ValueError):
    """A command payload that asks for nothing valid."""


SessionAction = Literal["hold", "resume", "advance"]
MusicAction = Literal["pause", "resume", "skip"]
ClearMode = Literal["restore", "hold"]


@dataclass(frozen=True)
class Command:
    by: str  # "mqtt:<sender>", for the room's log


@dataclass(frozen=True)
class PanicPress(Command):
    pass


@dataclass(frozen=True)
class ClearPanic(Command):
    mode: ClearMode


@dataclass(frozen=True)
class SessionCommand(Command):
    action: SessionAction
    confirm: bool = False


@dataclass(frozen=True)
class SceneCommand(Command):
    scene: str


@dataclass(frozen=True)
class VolumeCommand(Command):
    volume_pct: int


@dataclass(frozen=True)
class MusicCommand(Command):
    action: MusicAction


@dataclass(frozen=True)
class TalkCommand(Command):
    on: bool


@dataclass(frozen=True)
class FallbackPanic(Command):
    at: float  # epoch seconds, when Home Assistant handled the panic


def actor(by: object) -> str:
    """`mqtt:<by>`: printable characters only, at most BY_MAX_CHARS of them; `mqtt` if none."""
    if not isinstance(by, str):
        return "mqtt"
    clean = "".join(c for c in by if c.isprintable()).strip()[:BY_MAX_CHARS]
    return f"mqtt:{clean}" if clean else "mqtt"


def _read(payload: bytes) -> tuple[str, dict[str, Any] | None]:
    """The payload as text, and as a JSON object if it is one."""
    if len(payload) > PAYLOAD_MAX_BYTES:
        raise BadCommand(f"payload of {len(payload)} bytes (at most {PAYLOAD_MAX_BYTES})")
    text = payload.decode("utf-8", "replace").strip()
    if not text.startswith("{"):
        return text, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadCommand(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(value, dict):
        raise BadCommand("a JSON payload must be an object")
    return text, value


def _word(text: str, obj: dict[str, Any] | None, field: str, allowed: tuple[str, ...]) -> str:
    value: object = text if obj is None else obj.get(field)
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        shown = json.dumps(value)[:40] if obj is not None else repr(text[:40])
        raise BadCommand(f"{field} must be one of {', '.join(allowed)}, got {shown}")
    return value.strip().lower()


def panic_press(payload: bytes) -> tuple[PanicPress, str | None]:
    """Any non-empty message on the panic topic is a press; what it says only names the sender.

    Returns the press and, for a payload that is not the documented form, a warning for the log:
    a panic is never refused over its wording."""
    try:
        text, obj = _read(payload)
    except BadCommand as exc:
        return PanicPress(by="mqtt"), f"{exc}; treated as PRESS"
    if obj is not None:
        return PanicPress(by=actor(obj.get("by"))), None
    if text.upper() != "PRESS":
        return PanicPress(by="mqtt"), f"payload {text[:40]!r} is not PRESS or JSON; treated as PRESS"
    return PanicPress(by="mqtt"), None


def clear_panic(payload: bytes) -> ClearPanic:
    text, obj = _read(payload)
    mode = _word(text, obj, "mode", ("restore", "hold"))
    return ClearPanic(by=actor(obj.get("by") if obj else None), mode="restore" if mode == "restore" else "hold")


def session_command(payload: bytes) -> SessionCommand:
    text, obj = _read(payload)
    action = _word(text, obj, "action", ("hold", "resume", "advance"))
    confirm = obj.get("confirm", False) if obj else False
    if not isinstance(confirm, bool):
        raise BadCommand(f"confirm must be true or false, got {json.dumps(confirm)[:40]}")
    by = actor(obj.get("by") if obj else None)
    if action == "hold":
        return SessionCommand(by=by, action="hold")
    if action == "resume":
        return SessionCommand(by=by, action="resume")
    return SessionCommand(by=by, action="advance", confirm=confirm)


def scene_command(payload: bytes) -> SceneCommand:
    text, obj = _read(payload)
    scene: object = text if obj is None else obj.get("scene")
    if not isinstance(scene, str) or not scene.strip():
        raise BadCommand('give a scene name, or {"scene": "<name>"}')
    return SceneCommand(by=actor(obj.get("by") if obj else None), scene=scene.strip()[:80])


def volume_command(payload: bytes) -> VolumeCommand:
    text, obj = _read(payload)
    raw: object = obj.get("volume_pct") if obj is not None else text
    value: float
    if isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            raise BadCommand(f"volume must be a number from 0 to 100, got {raw[:40]!r}") from None
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        value = raw
    else:
        raise BadCommand(f"volume must be a number from 0 to 100, got {json.dumps(raw)[:40]}")
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise BadCommand(f"volume must be from 0 to 100, got {value:g}")
    return VolumeCommand(by=actor(obj.get("by") if obj else None), volume_pct=round(value))


def music_command(payload: bytes) -> MusicCommand:
    text, obj = _read(payload)
    action = _word(text, obj, "action", ("pause", "resume", "skip"))
    by = actor(obj.get("by") if obj else None)
    if action == "pause":
        return MusicCommand(by=by, action="pause")
    if action == "resume":
        return MusicCommand(by=by, action="resume")
    return MusicCommand(by=by, action="skip")


def talk_command(payload: bytes) -> TalkCommand:
    text, obj = _read(payload)
    value: object = obj.get("on") if obj is not None else text.upper()
    if value in ("ON", True):
        on = True
    elif value in ("OFF", False):
        on = False
    else:
        raise BadCommand(f'talk takes ON or OFF, or {{"on": true|false}}; got {json.dumps(value)[:40]}')
    return TalkCommand(by=actor(obj.get("by") if obj else None), on=on)


def fallback_panic(payload: bytes) -> FallbackPanic:
    _, obj = _read(payload)
    if obj is None:
        raise BadCommand('a fallback panic report is JSON: {"by": "...", "at": <epoch seconds>}')
    at = obj.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise BadCommand(f"at must be epoch seconds, got {json.dumps(at)[:40]}")
    return FallbackPanic(by=actor(obj.get("by")), at=float(at))
