"""Turn abstract light states into a device's MQTT messages and its reports back, per its profile.

Outbound: build a plain dict, scale and clamp, encode. Inbound: apply each field only if present
and valid; anything else raises DecodeError, which the caller logs and ignores.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from app.domain.light import (
    LightState,
    clamp_kelvin,
    kelvin_to_mired,
    mired_to_kelvin,
    pct_to_scale,
    scale_to_pct,
    transition_value,
)
from app.domain.profiles import PowerField, Profile, Scalar, StateSpec

# Light reports are a few hundred bytes; anything much longer is not one (and not worth parsing).
MAX_REPORT_CHARS = 16_384


class DecodeError(ValueError):
    """A device message that does not say anything we can use."""


class NotAReport(DecodeError):
    """A well-formed message on a state topic that carries no light state (e.g. Tasmota's
    {"Fade":"ON"} reply, a Shelly event): expected traffic, not an error."""


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool


def encode_command(
    profile: Profile,
    topic: str,
    state: LightState,
    transition_s: float | None,
    *,
    change_pct: float = 100.0,
    rpc_id: int = 1,
) -> Outgoing:
    """The one message that sets `state`, natively fading over `transition_s` (None: device default)."""
    c = profile.command
    fields: dict[str, Any] = dict(c.static)
    if c.transition is not None and transition_s is not None:
        if transition_s > 0:
            fields.update(c.transition.with_transition)
            fields[c.transition.key] = transition_value(transition_s, c.transition.unit, change_pct)
        else:
            fields.update(c.transition.without_transition)
            if c.transition.send_zero and not c.transition.without_transition:
                fields[c.transition.key] = 0
    fields[c.power.key] = c.power.on if state.on else c.power.off
    if state.on:
        if state.brightness_pct is not None:
            fields[c.brightness.key] = pct_to_scale(state.brightness_pct, c.brightness.max)
        if state.kelvin is not None and c.color_temp is not None:
            ct = c.color_temp
            kelvin = clamp_kelvin(state.kelvin, ct.unit, ct.min, ct.max)
            fields[ct.key] = kelvin_to_mired(kelvin) if ct.unit == "mired" else kelvin
        if state.rgb is not None and c.rgb is not None:
            fields[c.rgb.key] = _rgb(state.rgb, c.rgb.format)
    target = profile.render(c.topic, topic)
    match c.encoding:
        case "json":
            payload = json.dumps(_nest(fields), separators=(",", ":"))
        case "jsonrpc":
            payload = json.dumps(
                {
                    "id": rpc_id,
                    "src": c.rpc_source,
                    "method": c.rpc_method,
                    "params": {**c.rpc_params, **_nest(fields)},
                },
                separators=(",", ":"),
            )
        case "backlog":
            payload = "; ".join(f"{k} {_plain(v)}" for k, v in fields.items())
    return Outgoing(target, payload.encode(), c.qos, c.retain)


def state_topics(profile: Profile, topic: str) -> list[str]:
    return [profile.render(t, topic) for t in profile.state.topics] if profile.state else []


def availability_topic(profile: Profile, topic: str) -> str | None:
    return profile.render(profile.availability.topic, topic) if profile.availability else None


def decode_state(profile: Profile, payload: bytes) -> dict[str, Any]:
    """The fields a state report gives (a subset of LightState's), or DecodeError."""
    spec = profile.state
    if spec is None:
        raise DecodeError("profile has no state topic")
    text = _text(payload)
    if spec.encoding == "plain":
        return _decode_plain(spec, text)
    obj = _json_object(text)
    for key, expected in spec.match.items():
        if not _same(obj.get(key), expected):
            raise NotAReport(f"not a state message ({key}={obj.get(key)!r})")
    if spec.path:
        for step in spec.path.split("."):
            inner = obj.get(step)
            if not isinstance(inner, dict):
                raise NotAReport(f"no {spec.path!r} in the message")
            obj = inner
    out: dict[str, Any] = {}
    if spec.power is not None and spec.power.key in obj:
        on = _power(spec.power, obj[spec.power.key])
        if on is not None:
            out["on"] = on
    if spec.brightness is not None and obj.get(spec.brightness.key) is not None:
        value = _number(obj[spec.brightness.key], "brightness", 0, spec.brightness.max)
        out["brightness_pct"] = round(scale_to_pct(value, spec.brightness.max), 2)
        if spec.brightness.zero_means_off:
            out["on"] = value > 0
    if spec.color_temp is not None and obj.get(spec.color_temp.key) is not None:
        value = _number(obj[spec.color_temp.key], "colour temperature", 0, 100_000)
        if value > 0:
            kelvin = mired_to_kelvin(value) if spec.color_temp.unit == "mired" else round(value)
            if 1000 <= kelvin <= 10000:
                out["kelvin"] = kelvin
    if not out:
        raise NotAReport("no light fields in the message")
    return out


def decode_availability(profile: Profile, payload: bytes) -> bool:
    spec = profile.availability
    if spec is None:
        raise DecodeError("profile has no availability topic")
    text = _text(payload)
    value: Any = text
    if spec.encoding == "json":
        obj = _json_object(text)
        assert spec.key is not None
        value = obj.get(spec.key)
    if _same(value, spec.online):
        return True
    if _same(value, spec.offline):
        return False
    raise DecodeError(f"unknown availability {value!r}")


# --- helpers ---------------------------------------------------------------------------------


def _decode_plain(spec: StateSpec, text: str) -> dict[str, Any]:
    if spec.power is not None:
        on = _power(spec.power, text)
        if on is not None:
            return {"on": on}
    if spec.brightness is not None and re.fullmatch(r"\d{1,6}(\.\d{1,6})?", text):
        value = _number(float(text), "brightness", 0, spec.brightness.max)
        out: dict[str, Any] = {"brightness_pct": round(scale_to_pct(value, spec.brightness.max), 2)}
        if spec.brightness.zero_means_off:
            out["on"] = value > 0
        return out
    raise DecodeError(f"unexpected value {text[:40]!r}")


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise DecodeError("not UTF-8") from None


def _json_object(text: str) -> dict[str, Any]:
    if len(text) > MAX_REPORT_CHARS:
        raise DecodeError(f"{len(text)} characters: longer than any light report ({MAX_REPORT_CHARS})")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecodeError(f"bad JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # 5000-digit numbers, nesting thousands deep
        raise DecodeError(f"unreadable JSON: {str(exc)[:80]}") from None
    if not isinstance(obj, dict):
        raise DecodeError("JSON is not an object")
    return obj


def _same(value: Any, expected: Scalar) -> bool:
    if isinstance(expected, bool):
        if isinstance(value, bool):
            return value is expected
        return isinstance(value, str) and value.lower() == str(expected).lower()
    if isinstance(value, bool):
        return False
    return str(value).lower() == str(expected).lower()


def _power(field: PowerField, value: Any) -> bool | None:
    if _same(value, field.on):
        return True
    if _same(value, field.off):
        return False
    return None


def _number(value: Any, what: str, low: float, high: float) -> float:
    """A finite number within the device's scale; anything else is a bad report, not a light at 100 %."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise DecodeError(f"{what} {str(value)[:20]!r} is not a number")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise DecodeError(f"{what} {str(value)[:20]} is outside {low:g}..{high:g}")
    return number


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _rgb(rgb: tuple[int, int, int], fmt: str) -> Any:
    r, g, b = rgb
    match fmt:
        case "object":
            return {"r": r, "g": g, "b": b}
        case "csv":
            return f"{r},{g},{b}"
        case "hex":
            return f"#{r:02X}{g:02X}{b:02X}"
        case _:
            return [[r, g, b]]


_INDEX = re.compile(r"^(\w+)\[(\d+)\]$")


def _nest(fields: dict[str, Any]) -> dict[str, Any]:
    """Expand dotted keys ("seg[0].cct") into nested objects and lists, as WLED expects."""
    out: dict[str, Any] = {}
    for dotted, value in fields.items():
        node: Any = out
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if m := _INDEX.match(part):
                name, index = m.group(1), int(m.group(2))
                items = node.setdefault(name, [])
                while len(items) <= index:
                    items.append({})
                if last:
                    items[index] = value
                else:
                    node = items[index]
            elif last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return out
