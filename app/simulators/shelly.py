"""Shelly lights: a Gen1 white-spectrum bulb (topics under shellies/) and a Gen2+ dimmer (JSON-RPC)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, ClassVar

from app.simulators.base import Outgoing, SimState, SimulatedLight, clamp, is_int, is_number

log = logging.getLogger(__name__)


def _dump(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class ShellyGen1Light(SimulatedLight):
    """A Gen1 white-spectrum bulb (Shelly Duo style), channel light/0.

    Follows the Gen1 API docs: `shellies/<id>/light/0/set` JSON {"turn": "on"|"off"|"toggle",
    "brightness": 0..100, "white": 0..100, "temp": 2700..6500 K, "transition": 0..5000 ms}, and
    `shellies/<id>/light/0/command` "on"/"off"/"toggle"; the device publishes `light/0` "on"/"off" and
    `light/0/status` JSON (ison, mode, brightness, white, temp, transition, timer fields). Values outside
    the documented ranges are clamped to them, so a transition longer than 5 s runs 5 s. A field of the
    wrong type fails the whole request, as the HTTP API answers it with an error. Availability
    `shellies/<id>/online` "true"/"false" (since fw 1.4.3), retained as an LWT. Status topics are not
    retained: Gen1's `mqtt_retain` setting defaults to off. brightness without turn does not switch the
    light on; no transition means the device's default of 0.
    """

    family = "shelly_gen1"
    online_payload = b"true"
    offline_payload = b"false"
    temp_min: ClassVar[int] = 2700
    temp_max: ClassVar[int] = 6500
    transition_max_ms: ClassVar[int] = 5000

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self._ison = False
        self._brightness = 100
        self._temp = 2700
        self._transition_ms = 0
        self._set_initial(self._sim())

    @property
    def base(self) -> str:
        return f"shellies/{self.topic}"

    @property
    def availability_topic(self) -> str:
        return f"{self.base}/online"

    @property
    def status_topic(self) -> str:
        return f"{self.base}/light/0/status"

    def subscriptions(self) -> list[str]:
        return [f"{self.base}/light/0/set", f"{self.base}/light/0/command", f"{self.base}/command"]

    def _white(self) -> int:
        return round((self._temp - self.temp_min) / (self.temp_max - self.temp_min) * 100)

    def _sim(self) -> SimState:
        return SimState(on=self._ison, brightness_pct=float(self._brightness) if self._ison else 0.0, kelvin=self._temp)

    def report(self) -> list[Outgoing]:
        status = {
            "ison": self._ison,
            "source": "mqtt",
            "has_timer": False,
            "timer_started": 0,
            "timer_duration": 0,
            "timer_remaining": 0,
            "mode": "white",
            "brightness": self._brightness,
            "white": self._white(),
            "temp": self._temp,
            "transition": self._transition_ms,
        }
        return [
            Outgoing(f"{self.base}/light/0", b"on" if self._ison else b"off"),
            Outgoing(self.status_topic, _dump(status)),
        ]

    def _reject(self, why: str, payload: bytes) -> list[Outgoing]:
        log.warning("shelly_gen1 %s: %s; request ignored: %r", self.topic, why, payload)
        return []

    def handle(self, topic: str, payload: bytes) -> list[Outgoing]:
        if topic == f"{self.base}/command":  # device-wide: "update" asks for a fresh status
            if payload.strip().lower() == b"update":
                return self.report()
            return self._reject("device command must be update (or announce)", payload)
        if topic.endswith("/light/0/command"):
            word = payload.decode(errors="replace").strip().lower()
            if word not in ("on", "off", "toggle"):
                return self._reject("command must be on, off or toggle", payload)
            request: dict[str, Any] = {"turn": word}
        else:
            try:
                parsed = json.loads(payload)
            except (UnicodeDecodeError, json.JSONDecodeError):
                return self._reject("not JSON", payload)
            if not isinstance(parsed, dict):
                return self._reject("not a JSON object", payload)
            request = parsed
        ison, brightness, temp, transition_ms = self._ison, self._brightness, self._temp, 0
        if "turn" in request:
            turn = request["turn"]
            if turn not in ("on", "off", "toggle"):
                return self._reject("turn must be on, off or toggle", payload)
            ison = (not self._ison) if turn == "toggle" else turn == "on"
        if "brightness" in request:
            if not is_number(request["brightness"]):
                return self._reject("brightness must be a number", payload)
            brightness = round(clamp(request["brightness"], 0, 100))
        if "temp" in request:
            if not is_number(request["temp"]):
                return self._reject("temp must be a number of kelvin", payload)
            temp = round(clamp(request["temp"], self.temp_min, self.temp_max))
        elif "white" in request:
            if not is_number(request["white"]):
                return self._reject("white must be a number", payload)
            temp = round(self.temp_min + clamp(request["white"], 0, 100) / 100 * (self.temp_max - self.temp_min))
        if "transition" in request:
            if not is_number(request["transition"]):
                return self._reject("transition must be a number of milliseconds", payload)
            transition_ms = round(clamp(request["transition"], 0, self.transition_max_ms))
        self._ison, self._brightness, self._temp, self._transition_ms = ison, brightness, temp, transition_ms
        self._move_to(self._sim(), transition_ms / 1000)
        return self.report()


class ShellyGen2Light(SimulatedLight):
    """A Gen2+ dimmer (Plus/Pro Dimmer style) with one Light component, light:0.

    Follows the Gen2 API docs: JSON-RPC 2.0 frames on `<prefix>/rpc` carrying id, src, method, params;
    the reply goes to `<src>/rpc` as {"id", "src": <device id>, "dst": <src>, "result" | "error"}.
    Light.Set takes id (required), on, brightness 0..100, transition_duration (s), toggle_after, and
    needs at least one of on/brightness; it answers null. brightness alone changes the level without
    switching the output. Light.Toggle and Light.GetStatus / Shelly.GetStatus are served too. An unknown
    method is answered with error 404 "No handler for <method>"; bad arguments with -103, an unknown
    component id with -105. Each change is notified on `<prefix>/events/rpc` as NotifyStatus (with
    "light:0" status and ts), and NotifyFullStatus on connect. Method names are matched
    case-insensitively. Availability `<prefix>/online` "true"/"false", retained (LWT); nothing else is
    retained. No transition_duration means the device's configured default, 0 here.
    """

    family = "shelly_gen2"
    online_payload = b"true"
    offline_payload = b"false"

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self._output = False
        self._brightness = 100.0
        self._source = "init"
        self._pending_transition = 0.0  # set by the method being served, used once it has succeeded
        self._set_initial(self._sim())

    @property
    def availability_topic(self) -> str:
        return f"{self.topic}/online"

    @property
    def events_topic(self) -> str:
        return f"{self.topic}/events/rpc"

    def subscriptions(self) -> list[str]:
        return [f"{self.topic}/rpc"]

    def _sim(self) -> SimState:
        return SimState(on=self._output, brightness_pct=self._brightness if self._output else 0.0)

    def _status(self) -> dict[str, Any]:
        brightness: float | int = (
            round(self._brightness) if self._brightness == round(self._brightness) else self._brightness
        )
        return {"id": 0, "source": self._source, "output": self._output, "brightness": brightness}

    def _notify(self, method: str) -> Outgoing:
        frame = {
            "src": self.topic,
            "dst": f"{self.topic}/events",
            "method": method,
            "params": {"ts": round(time.time(), 2), "light:0": self._status()},
        }
        return Outgoing(self.events_topic, _dump(frame))

    def report(self) -> list[Outgoing]:
        return [self._notify("NotifyFullStatus")]

    def handle(self, topic: str, payload: bytes) -> list[Outgoing]:
        try:
            frame = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            log.warning("shelly_gen2 %s: RPC frame is not JSON; dropped: %r", self.topic, payload)
            return []
        if not isinstance(frame, dict) or not isinstance(frame.get("src"), str) or not frame["src"]:
            # Without a source there is nowhere to send an answer.
            log.warning("shelly_gen2 %s: RPC frame without src; dropped: %r", self.topic, payload)
            return []
        src: str = frame["src"]
        request_id = frame.get("id")
        method = frame.get("method")
        params = frame.get("params", {})
        out: list[Outgoing] = []
        if not isinstance(method, str):
            error: dict[str, Any] | None = {"code": -103, "message": "Missing required argument 'method'!"}
            result = None
        elif params is not None and not isinstance(params, dict):
            error, result = {"code": -103, "message": "Invalid argument 'params'!"}, None
        else:
            handler = {
                "light.set": self._light_set,
                "light.toggle": self._light_toggle,
                "light.getstatus": self._light_get_status,
                "shelly.getstatus": self._shelly_get_status,
            }.get(method.lower())
            if handler is None:
                error, result = {"code": 404, "message": f"No handler for {method}"}, None
            else:
                before = self._status()
                error, result = handler(params or {})
                if error is None and self._status() != before:
                    self._move_to(self._sim(), self._pending_transition)
                    out.append(self._notify("NotifyStatus"))
        reply: dict[str, Any] = {"id": request_id, "src": self.topic, "dst": src}
        if error is None:
            reply["result"] = result
        else:
            log.warning("shelly_gen2 %s: %s failed: %s", self.topic, method, error["message"])
            reply["error"] = error
        return [Outgoing(f"{src}/rpc", _dump(reply)), *out]

    def _check_id(self, params: dict[str, Any]) -> dict[str, Any] | None:
        if "id" not in params:
            return {"code": -103, "message": "Missing required argument 'id'!"}
        if not is_int(params["id"]):
            return {"code": -103, "message": "Invalid argument 'id'!"}
        if params["id"] != 0:
            return {"code": -105, "message": f"Argument 'id', value {params['id']} not found!"}
        return None

    def _light_set(self, params: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
        error = self._check_id(params)
        if error:
            return error, None
        if "on" not in params and "brightness" not in params:
            return {"code": -103, "message": "Missing required argument 'on' or 'brightness'!"}, None
        if "on" in params and not isinstance(params["on"], bool):
            return {"code": -103, "message": "Invalid argument 'on'!"}, None
        if "brightness" in params and (not is_number(params["brightness"]) or not 0 <= params["brightness"] <= 100):
            return {"code": -103, "message": "Invalid argument 'brightness'!"}, None
        transition = 0.0
        if "transition_duration" in params:
            if not is_number(params["transition_duration"]) or params["transition_duration"] < 0:
                return {"code": -103, "message": "Invalid argument 'transition_duration'!"}, None
            transition = float(params["transition_duration"])
        if "on" in params:
            self._output = params["on"]
        if "brightness" in params:
            self._brightness = float(params["brightness"])
        self._source = "MQTT"
        self._pending_transition = transition
        return None, None

    def _light_toggle(self, params: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
        error = self._check_id(params)
        if error:
            return error, None
        self._output = not self._output
        self._source = "MQTT"
        self._pending_transition = 0.0
        return None, None

    def _light_get_status(self, params: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
        error = self._check_id(params)
        return (error, None) if error else (None, self._status())

    def _shelly_get_status(self, params: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
        return None, {"light:0": self._status()}
