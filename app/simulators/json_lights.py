"""Lights commanded with one JSON object: Zigbee2MQTT, ESPHome's MQTT JSON light, and a Home Assistant
MQTT JSON-schema firmware. Their payloads look alike and differ in the details that matter (brightness
scales, how a transition is spelled, what is retained), so each follows its own documentation here.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, ClassVar

from app.simulators.base import (
    Outgoing,
    SimState,
    SimulatedLight,
    clamp,
    hs_to_rgb,
    is_int,
    is_number,
    mired_to_kelvin,
    parse_hex_colour,
    rgb_to_xy,
    xy_to_rgb,
)

log = logging.getLogger(__name__)


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _dump(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# --- Zigbee2MQTT --------------------------------------------------------------------------------


def _js_number(value: object) -> float:
    """JavaScript's Number(), which Zigbee2MQTT's converters apply to brightness and color_temp."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if value is None:
        return 0.0
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            return float(text)
        except ValueError:
            return math.nan
    return math.nan


class _Rejected(ValueError):
    """A converter refused its part of a message (Zigbee2MQTT logs it and carries on with the rest)."""


class Zigbee2MqttLight(SimulatedLight):
    """A colour + white-spectrum bulb behind Zigbee2MQTT 2.x.

    Follows: zigbee2mqtt.io device pages (`/set` with state ON/OFF/TOGGLE, brightness 0-254, color_temp in
    mireds or a preset name, color as {x,y} / {r,g,b} / {rgb} / {hex} / {hue,saturation}, transition in
    seconds; `/get` with {"state": ""} re-reads); Z2M's publish.ts (a non-JSON payload is accepted only if
    it is on/off/toggle; each converter runs once per message and one failing converter does not stop the
    others; the state published is the whole cached device state, optimistic, with the TARGET values);
    zigbee-herdsman-converters light_onoff_brightness (brightness 255 is taken as 254, 0 turns the light
    off, brightness without state implies ON, an ON after an OFF-with-transition restores the old level).
    Availability: `<base>/<name>/availability`, retained JSON {"state":"online"|"offline"} (2.x).
    Retain of the state topic is the device option `retain`, documented default false: set
    `retain_state = True` to model a device configured with `retain: true`.
    """

    family = "zigbee2mqtt"
    base_topic: ClassVar[str] = "zigbee2mqtt"
    online_payload = b'{"state":"online"}'
    offline_payload = b'{"state":"offline"}'
    min_mireds: ClassVar[int] = 150  # a typical bulb's range; Z2M clamps to the range the device reports
    max_mireds: ClassVar[int] = 500
    presets: ClassVar[dict[str, int]] = {"coolest": 150, "cool": 250, "neutral": 370, "warm": 454, "warmest": 500}

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.retain_state = False
        self._on = False
        self._level = 254  # the bulb's level while on (1..254)
        self._turned_off_with_transition = False
        self._rgb: tuple[int, int, int] = (255, 255, 255)
        self._cache: dict[str, Any] = {"brightness": 254, "color_mode": "color_temp", "color_temp": 370, "state": "OFF"}
        self._set_initial(self._sim())

    @property
    def availability_topic(self) -> str:
        return f"{self.base_topic}/{self.topic}/availability"

    @property
    def state_topic(self) -> str:
        return f"{self.base_topic}/{self.topic}"

    def subscriptions(self) -> list[str]:
        base = self.state_topic
        return [f"{base}/set", f"{base}/set/+", f"{base}/get", f"{base}/get/+"]

    def report(self) -> list[Outgoing]:
        return [Outgoing(self.state_topic, _dump(dict(sorted(self._cache.items()))), retain=self.retain_state)]

    def _sim(self) -> SimState:
        mode = self._cache.get("color_mode")
        return SimState(
            on=self._on,
            brightness_pct=self._level / 254 * 100 if self._on else 0.0,
            kelvin=mired_to_kelvin(self._cache["color_temp"]) if mode == "color_temp" else None,
            rgb=self._rgb if mode == "xy" else None,
        )

    def _parse(self, topic: str, payload: bytes) -> tuple[str, dict[str, Any]] | None:
        base = self.state_topic
        for kind in ("set", "get"):
            if topic == f"{base}/{kind}":
                message = _json_object(payload)
                if message is None:
                    text = payload.decode(errors="replace").strip()
                    if text.lower() in ("on", "off", "toggle"):
                        return kind, {"state": text}  # publish.ts: a bare state word is accepted
                    log.warning("zigbee2mqtt %s: invalid message %r, skipping", self.topic, payload)
                    return None
                return kind, message
            if topic.startswith(f"{base}/{kind}/"):
                attribute = topic.rsplit("/", 1)[1]
                try:
                    value = json.loads(payload)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    value = payload.decode(errors="replace")
                return kind, {attribute: value}
        return None

    def handle(self, topic: str, payload: bytes) -> list[Outgoing]:
        parsed = self._parse(topic, payload)
        if parsed is None:
            return []
        kind, message = parsed
        if kind == "get":
            return self.report()  # the bulb answers the read with what it is doing
        transition = 0.0
        if "transition" in message:
            seconds = _js_number(message["transition"])
            if math.isnan(seconds) or seconds < 0:
                # utils.getTransition throws inside every converter: nothing of this message applies
                log.warning(
                    "zigbee2mqtt %s: transition %r is not a number; message skipped", self.topic, message["transition"]
                )
                return []
            transition = round(seconds * 10) / 10  # sent to the bulb in tenths of a second
        changes: dict[str, Any] = {}
        level_keys = [k for k in message if k in ("state", "brightness", "brightness_percent")]
        colour_keys = [k for k in message if k in ("color", "color_temp")]
        try:
            if level_keys:
                changes.update(self._convert_onoff_brightness(message, "transition" in message))
        except _Rejected as exc:
            log.warning("zigbee2mqtt %s: publish 'set' failed: %s", self.topic, exc)
        try:
            if colour_keys:  # one converter serves both keys, and runs once: the first key wins
                key = colour_keys[0]
                changes.update(
                    self._convert_color_temp(message[key]) if key == "color_temp" else self._convert_color(message[key])
                )
        except _Rejected as exc:
            log.warning("zigbee2mqtt %s: publish 'set' failed: %s", self.topic, exc)
        for key in message:
            if key not in ("state", "brightness", "brightness_percent", "color", "color_temp", "transition"):
                log.warning("zigbee2mqtt %s: no converter available for '%s'", self.topic, key)
        if not changes:
            return []
        self._cache.update(changes)
        self._move_to(self._sim(), transition)
        return self.report()

    def _convert_onoff_brightness(self, message: dict[str, Any], transition_specified: bool) -> dict[str, Any]:
        raw_state = message.get("state", ...)
        state: str | None
        if raw_state is ...:
            state = None
            state_given = False
        else:
            state_given = True
            state = raw_state.lower() if isinstance(raw_state, str) else None  # null: level only, no on/off
        brightness: float | None = None
        if "brightness" in message:
            brightness = _js_number(message["brightness"])
        elif "brightness_percent" in message:
            brightness = _js_number(message["brightness_percent"]) * 255 / 100
        if brightness == 255:
            brightness = 254  # accepted for backwards compatibility
        if brightness is not None and (math.isnan(brightness) or brightness < 0 or brightness > 254):
            raise _Rejected(f"brightness value of message {message!r} invalid, must be a number >= 0 and =< 254")
        if state is not None and state not in ("on", "off", "toggle"):
            raise _Rejected(f"state value of message {message!r} invalid, must be 'ON', 'OFF' or 'TOGGLE'")
        if state is None and brightness is None:
            raise _Rejected(f"at least one of 'brightness' or 'state' must have a value: {message!r}")
        if not state_given:
            state = "off" if brightness == 0 else "on"
        publish_brightness = brightness is not None
        target = ("off" if self._on else "on") if state == "toggle" else state
        if target == "off":
            brightness = 0 if (transition_specified or brightness == 0) else None
            self._turned_off_with_transition = brightness is not None
        elif target == "on" and brightness is None and (transition_specified or self._turned_off_with_transition):
            brightness = self._level  # "previous": the level from before the off
            publish_brightness = True
        result: dict[str, Any] = {}
        if brightness is None:  # a plain genOnOff on/off
            self._on = target == "on"
            result["state"] = "ON" if self._on else "OFF"
            if self._on and self._cache.get("brightness") == 0:
                result["brightness"] = 1
            return result
        level = round(brightness)
        if level == 0 and (target == "on" or state is None):
            level = 1
        if target != "off":
            self._level = level
            self._turned_off_with_transition = False
        if publish_brightness:
            result["brightness"] = level
        if state is not None:
            self._on = level != 0
            result["state"] = "ON" if self._on else "OFF"
        return result

    def _convert_color_temp(self, value: object) -> dict[str, Any]:
        if isinstance(value, str) and value.lower() in self.presets:
            mireds = float(self.presets[value.lower()])
        else:
            mireds = _js_number(value)
        if math.isnan(mireds):
            raise _Rejected(f"color_temp {value!r} is not a number")
        clamped = round(clamp(mireds, self.min_mireds, self.max_mireds))
        if clamped != round(mireds):
            log.warning("zigbee2mqtt %s: color_temp %s clamped to %s", self.topic, value, clamped)
        return {"color_temp": clamped, "color_mode": "color_temp"}

    def _convert_color(self, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Rejected(f"color {value!r} is not an object")
        rgb: tuple[int, int, int] | None = None
        try:
            if "x" in value and "y" in value:
                x, y = float(value["x"]), float(value["y"])
                rgb = xy_to_rgb(x, y)
                xy = (x, y)
            else:
                if all(k in value for k in ("r", "g", "b")):
                    rgb = (int(value["r"]), int(value["g"]), int(value["b"]))
                elif "rgb" in value:
                    r, g, b = (int(part) for part in str(value["rgb"]).split(","))
                    rgb = (r, g, b)
                elif "hex" in value:
                    rgb = parse_hex_colour(str(value["hex"]))
                elif ("hue" in value and "saturation" in value) or ("h" in value and "s" in value):
                    hue = float(value["hue"] if "hue" in value else value["h"])
                    saturation = float(value["saturation"] if "saturation" in value else value["s"])
                    rgb = hs_to_rgb(hue, saturation)
                if rgb is None or any(not 0 <= c <= 255 for c in rgb):
                    raise _Rejected(f"value {value!r} for attribute 'color' is not a supported colour")
                xy = rgb_to_xy(rgb)
        except (TypeError, ValueError) as exc:
            raise _Rejected(f"color {value!r}: {exc}") from exc
        self._rgb = rgb
        return {"color": {"x": xy[0], "y": xy[1]}, "color_mode": "xy"}


# --- ESPHome ------------------------------------------------------------------------------------


class EsphomeLight(SimulatedLight):
    """An ESPHome light (RGB, or colour temperature, one at a time) on the MQTT JSON schema.

    Follows ESPHome's light_json_schema.cpp and light_call.cpp: each field is taken only if it has the
    right JSON type (ArduinoJson `is<uint8_t>()` / `is<uint16_t>()`), otherwise just that field is skipped
    and the rest of the command applies. `transition` must be a whole number of seconds: a fractional (or
    2.0-style float) value fails `is<uint16_t>()`, is ignored with a warning, and the light's
    `default_transition_length` (1 s by default) is used instead. brightness 0 without a state turns the
    light off; a plain ON at brightness 0 comes on at full. Colour in the command carries brightness
    ({"r":128,...} is half-bright red), and the state reports it the same way. Bad JSON: the command is
    dropped. State JSON on `<topic>/state` is retained (ESPHome MQTT's default retain: true);
    availability is the node's birth/will on `<node>/status` "online"/"offline", retained.
    """

    family = "esphome"
    default_transition_s = 1.0
    min_mireds: ClassVar[int] = 153
    max_mireds: ClassVar[int] = 500

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.retain_state = True
        self._on = False
        self._brightness = 1.0
        self._mode = "color_temp"
        self._mireds = 370.0
        self._rgb = (1.0, 1.0, 1.0)  # normalised: the largest channel is 1
        self._colour_brightness = 1.0
        self._set_initial(self._sim())

    @property
    def node(self) -> str:
        return self.topic.split("/", 1)[0]

    @property
    def availability_topic(self) -> str:
        return f"{self.node}/status"

    @property
    def state_topic(self) -> str:
        return f"{self.topic}/state"

    def subscriptions(self) -> list[str]:
        return [f"{self.topic}/command"]

    def _reported_rgb(self) -> tuple[int, int, int]:
        r, g, b = (round(self._colour_brightness * c * 255) for c in self._rgb)
        return r, g, b

    def report(self) -> list[Outgoing]:
        body: dict[str, Any] = {
            "color_mode": self._mode,
            "state": "ON" if self._on else "OFF",
            "brightness": round(self._brightness * 255),
        }
        colour: dict[str, int] = {}
        if self._mode == "rgb":
            colour = dict(zip("rgb", self._reported_rgb(), strict=True))
        body["color"] = colour  # always present, empty outside RGB mode, as dump_json builds it
        if self._mode == "color_temp":
            body["color_temp"] = int(self._mireds)
        return [Outgoing(self.state_topic, _dump(body), retain=self.retain_state)]

    def _sim(self) -> SimState:
        return SimState(
            on=self._on,
            brightness_pct=self._brightness * 100 if self._on else 0.0,
            kelvin=mired_to_kelvin(self._mireds) if self._mode == "color_temp" else None,
            rgb=self._reported_rgb() if self._mode == "rgb" else None,
        )

    def handle(self, topic: str, payload: bytes) -> list[Outgoing]:
        root = _json_object(payload)
        if root is None:
            log.warning("esphome %s: parsing JSON failed, command dropped: %r", self.topic, payload)
            return []
        state: bool | None = None
        if isinstance(root.get("state"), str):
            word = root["state"].upper()
            if word in ("ON", "OFF"):
                state = word == "ON"
            elif word == "TOGGLE":
                state = not self._on
            else:
                log.warning("esphome %s: state %r is not ON/OFF/TOGGLE; ignored", self.topic, root["state"])
        brightness: float | None = None
        if "brightness" in root:
            if is_int(root["brightness"]) and 0 <= root["brightness"] <= 255:
                brightness = root["brightness"] / 255
            else:
                log.warning("esphome %s: brightness %r is not 0..255; ignored", self.topic, root["brightness"])
        rgb: tuple[float, float, float] | None = None
        if isinstance(root.get("color"), dict):
            colour = root["color"]
            given = [colour.get(k) for k in "rgb"]
            if any(is_int(c) and 0 <= c <= 255 for c in given):
                # A channel left out keeps its current value (set_red/green/blue are separate calls).
                now = [c * self._colour_brightness for c in self._rgb]
                r, g, b = (c / 255 if is_int(c) and 0 <= c <= 255 else now[i] for i, c in enumerate(given))
                rgb = (r, g, b)
        mireds: float | None = None
        if "color_temp" in root:
            if is_int(root["color_temp"]) and 0 <= root["color_temp"] <= 65535:
                mireds = float(root["color_temp"])
            else:
                log.warning("esphome %s: color_temp %r is not an integer; ignored", self.topic, root["color_temp"])
        transition = self.default_transition_s
        if "transition" in root:
            if is_int(root["transition"]) and 0 <= root["transition"] <= 65535:
                transition = float(root["transition"])
            else:
                log.warning(
                    "esphome %s: transition %r is not a whole number of seconds; ignored, "
                    "default transition (%.1f s) used",
                    self.topic,
                    root["transition"],
                    self.default_transition_s,
                )

        if state is None and brightness is None and rgb is None and mireds is None:
            return []  # nothing this light understood: LightCall would change nothing, and publish the same
        if brightness == 0 and state is None:
            state = False
        if state and brightness is None and self._brightness == 0:
            brightness = 1.0  # a plain turn-on must make the light visible
        if rgb is not None:
            self._mode = "rgb"
            top = max(rgb)
            self._colour_brightness = top
            if top > 0:
                self._rgb = (rgb[0] / top, rgb[1] / top, rgb[2] / top)
        elif mireds is not None:
            self._mode = "color_temp"
        if mireds is not None:
            if not self.min_mireds <= mireds <= self.max_mireds:
                log.warning(
                    "esphome %s: color temperature %.0f mireds out of range [%d - %d]",
                    self.topic,
                    mireds,
                    self.min_mireds,
                    self.max_mireds,
                )
            self._mireds = clamp(mireds, self.min_mireds, self.max_mireds)
        if brightness is not None:
            self._brightness = brightness
        if state is not None:
            self._on = state
        self._move_to(self._sim(), transition)
        return self.report()


# --- Home Assistant MQTT JSON schema --------------------------------------------------------------


class HaJsonLight(SimulatedLight):
    """A custom firmware that follows Home Assistant's MQTT light JSON schema (schema: json).

    Follows HA's docs for that schema with default options: state "ON"/"OFF", brightness on
    brightness_scale 255, color_temp in mireds (color_temp_kelvin false), color {r,g,b} (also {h,s} or
    {x,y}), transition in seconds as a float; the state JSON carries color_mode. Choices a firmware
    author makes and HA leaves open, taken here: a command with any invalid field is ignored whole (with
    a warning); brightness 0 means off; no transition means instant. State on `<topic>/state` and
    availability on `<topic>/availability` ("online"/"offline") are both retained.
    """

    family = "ha_json"
    min_mireds: ClassVar[int] = 153
    max_mireds: ClassVar[int] = 500

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.retain_state = True
        self._on = False
        self._brightness = 255
        self._mode = "color_temp"
        self._mireds = 370
        self._rgb: tuple[int, int, int] = (255, 255, 255)
        self._set_initial(self._sim())

    @property
    def availability_topic(self) -> str:
        return f"{self.topic}/availability"

    @property
    def state_topic(self) -> str:
        return f"{self.topic}/state"

    def subscriptions(self) -> list[str]:
        return [f"{self.topic}/set"]

    def report(self) -> list[Outgoing]:
        body: dict[str, Any] = {
            "state": "ON" if self._on else "OFF",
            "brightness": self._brightness,
            "color_mode": self._mode,
        }
        if self._mode == "color_temp":
            body["color_temp"] = self._mireds
        else:
            body["color"] = dict(zip("rgb", self._rgb, strict=True))
        return [Outgoing(self.state_topic, _dump(body), retain=self.retain_state)]

    def _sim(self) -> SimState:
        return SimState(
            on=self._on,
            brightness_pct=self._brightness / 255 * 100 if self._on else 0.0,
            kelvin=mired_to_kelvin(self._mireds) if self._mode == "color_temp" else None,
            rgb=self._rgb if self._mode == "rgb" else None,
        )

    def _invalid(self, why: str, payload: bytes) -> list[Outgoing]:
        log.warning("ha_json %s: %s; command ignored: %r", self.topic, why, payload)
        return []

    def handle(self, topic: str, payload: bytes) -> list[Outgoing]:
        command = _json_object(payload)
        if command is None:
            return self._invalid("not a JSON object", payload)
        on = self._on
        if "state" in command:
            if not isinstance(command["state"], str) or command["state"].upper() not in ("ON", "OFF"):
                return self._invalid("state must be ON or OFF", payload)
            on = command["state"].upper() == "ON"
        brightness = self._brightness
        if "brightness" in command:
            if not is_number(command["brightness"]) or not 0 <= command["brightness"] <= 255:
                return self._invalid("brightness must be a number 0..255", payload)
            brightness = round(command["brightness"])
            if brightness == 0:
                on = False
        mode, mireds, rgb = self._mode, self._mireds, self._rgb
        if "color_temp" in command:
            if not is_number(command["color_temp"]) or command["color_temp"] <= 0:
                return self._invalid("color_temp must be a positive number of mireds", payload)
            mode, mireds = "color_temp", round(clamp(command["color_temp"], self.min_mireds, self.max_mireds))
        if "color" in command:
            colour = command["color"]
            if not isinstance(colour, dict):
                return self._invalid("color must be an object", payload)
            if all(is_number(colour.get(k)) and 0 <= colour[k] <= 255 for k in "rgb"):
                rgb = (round(colour["r"]), round(colour["g"]), round(colour["b"]))
            elif is_number(colour.get("h")) and is_number(colour.get("s")):
                rgb = hs_to_rgb(colour["h"], colour["s"])
            elif is_number(colour.get("x")) and is_number(colour.get("y")):
                rgb = xy_to_rgb(colour["x"], colour["y"])
            else:
                return self._invalid("color must be {r,g,b}, {h,s} or {x,y}", payload)
            mode = "rgb"
        transition = 0.0
        if "transition" in command:
            if not is_number(command["transition"]) or command["transition"] < 0:
                return self._invalid("transition must be a number of seconds >= 0", payload)
            transition = float(command["transition"])
        self._on, self._brightness, self._mode, self._mireds, self._rgb = on, brightness, mode, mireds, rgb
        self._move_to(self._sim(), transition)
        return self.report()


__all__ = ["EsphomeLight", "HaJsonLight", "Zigbee2MqttLight"]
