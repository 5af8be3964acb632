"""A Tasmota RGBCCT bulb: one command per topic, answered on stat/<topic>/RESULT."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, ClassVar

from app.simulators.base import (
    Outgoing,
    SimState,
    SimulatedLight,
    clamp,
    kelvin_to_mired,
    mired_to_kelvin,
    parse_hex_colour,
    rgb_to_hs,
)

log = logging.getLogger(__name__)

CT_MIN, CT_MAX = 153, 500


def _channels(state: SimState) -> list[float]:
    """The five PWM channels (R, G, B, cold white, warm white; 0..255) of an output state.

    White mode splits the colour temperature linearly between the two white channels, colour mode
    scales the colour; either is scaled by the output level.
    """
    level = state.brightness_pct / 100 if state.on else 0.0
    if state.rgb is not None:
        return [c * level for c in state.rgb] + [0.0, 0.0]
    mireds = kelvin_to_mired(state.kelvin) if state.kelvin else CT_MIN
    warm = (clamp(mireds, CT_MIN, CT_MAX) - CT_MIN) / (CT_MAX - CT_MIN)
    return [0.0, 0.0, 0.0, 255 * (1 - warm) * level, 255 * warm * level]


def _on_off_word(text: str) -> bool | str | None:
    """Tasmota's state words: True/False, "toggle", or None when the payload is no state at all."""
    word = text.strip().lower()
    if word in ("1", "on", "true"):
        return True
    if word in ("0", "off", "false"):
        return False
    if word in ("2", "toggle"):
        return "toggle"
    return None


class TasmotaLight(SimulatedLight):
    """A five-channel (RGB + cold/warm white) bulb running Tasmota with default settings.

    Follows the Tasmota command docs and xdrv_04_light: commands on `cmnd/<topic>/<Command>`, the command
    name case-insensitive; Power ON/OFF/TOGGLE/1/0/2 (an empty payload is a query); Dimmer 0..100 (and
    +/-, step 10), Dimmer 0 turns power off; CT 153..500, outside that range ignored (not clamped);
    Color "r,g,b" or hex "#RRGGBB" (the colour carries the brightness: Color 128,0,0 means Dimmer 50);
    Dimmer/CT/Color turn the power on (SetOption20 off); Fade 0/1; Speed 1..40, outside ignored; Backlog
    "cmd arg; cmd arg"; State answers the whole STATE document on RESULT. With Fade on, the fade time is
    Speed x 0.5 s for a full 0-100 % change, scaled by
    the largest channel change (SetOption117 off), as the light driver computes it. Unknown commands get
    {"Command":"Unknown"}. Replies on `stat/<topic>/RESULT` and a power change on `stat/<topic>/POWER`,
    none retained (PowerRetain/StateRetain default off); `tele/<topic>/STATE` on connect; LWT
    `tele/<topic>/LWT` "Online"/"Offline", retained. Backlog runs its commands at once here, without
    the firmware's 200 ms spacing (SetOption34), so `target` moves on the message.
    """

    family = "tasmota"
    online_payload = b"Online"
    offline_payload = b"Offline"
    dimmer_step: ClassVar[int] = 10

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self._power = False
        self._dimmer = 100
        self._white_mode = True
        self._ct = 153
        self._rgb: tuple[int, int, int] = (255, 255, 255)
        self._fade = False
        self._speed = 1
        self._dimmer_before_off = 100  # what Power ON brings back after Dimmer 0
        self._booted = time.monotonic()
        self._set_initial(self._sim())

    @property
    def availability_topic(self) -> str:
        return f"tele/{self.topic}/LWT"

    @property
    def result_topic(self) -> str:
        return f"stat/{self.topic}/RESULT"

    def subscriptions(self) -> list[str]:
        return [f"cmnd/{self.topic}/+"]

    def _sim(self) -> SimState:
        return SimState(
            on=self._power and self._dimmer > 0,
            brightness_pct=float(self._dimmer) if self._power else 0.0,
            kelvin=mired_to_kelvin(self._ct) if self._white_mode else None,
            rgb=None if self._white_mode else self._rgb,
        )

    def _light_state(self) -> dict[str, Any]:
        """Tasmota's light status block (LightState), as RESULT and STATE carry it."""
        setting = SimState(
            on=True,
            brightness_pct=float(self._dimmer),
            kelvin=mired_to_kelvin(self._ct) if self._white_mode else None,
            rgb=None if self._white_mode else self._rgb,
        )
        channels = [round(c) for c in _channels(setting)]
        hue, sat = rgb_to_hs(self._rgb)
        return {
            "POWER": "ON" if self._power else "OFF",
            "Dimmer": self._dimmer,
            "Color": "".join(f"{c:02X}" for c in channels),
            "HSBColor": f"{hue},{sat},{0 if self._white_mode else self._dimmer}",
            "White": self._dimmer if self._white_mode else 0,
            "CT": self._ct,
            "Channel": [round(c / 255 * 100) for c in channels],
        }

    def report(self) -> list[Outgoing]:
        return [Outgoing(f"tele/{self.topic}/STATE", json.dumps(self._state(), separators=(",", ":")).encode())]

    def _state(self) -> dict[str, Any]:
        """The STATE document: sent as tele/<topic>/STATE, and as the RESULT of the State command."""
        uptime = int(time.monotonic() - self._booted)
        return {
            "Time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "Uptime": f"{uptime // 86400}T{time.strftime('%H:%M:%S', time.gmtime(uptime % 86400))}",
            "UptimeSec": uptime,
            **self._light_state(),
            "Fade": "ON" if self._fade else "OFF",
            "Speed": self._speed,
            "LedTable": "ON",
        }

    def _result(self, body: dict[str, Any]) -> Outgoing:
        return Outgoing(self.result_topic, json.dumps(body, separators=(",", ":")).encode())

    # --- commands -----------------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes) -> list[Outgoing]:
        prefix = f"cmnd/{self.topic}/"
        if not topic.startswith(prefix):
            return []
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            log.warning("tasmota %s: payload is not text: %r", self.topic, payload)
            return []
        return self._command(topic[len(prefix) :], text)

    def _command(self, name: str, text: str) -> list[Outgoing]:
        command = name.strip().lower()
        if command in ("backlog", "backlog0"):
            out: list[Outgoing] = []
            for part in text.split(";"):
                part = part.strip()
                if part:
                    sub, _, arg = part.partition(" ")
                    out += self._command(sub, arg.strip())
            return out
        if command == "state":  # a query: the whole state on RESULT, nothing changed
            return [self._result(self._state())]
        before = self._sim()
        was_on = self._power
        handler = {
            "power": self._cmd_power,
            "power1": self._cmd_power,
            "dimmer": self._cmd_dimmer,
            "ct": self._cmd_ct,
            "color": self._cmd_color,
            "color1": self._cmd_color,
            "fade": self._cmd_fade,
            "speed": self._cmd_speed,
        }.get(command)
        if handler is None:
            log.warning("tasmota %s: unknown command %r", self.topic, name)
            return [self._result({"Command": "Unknown"})]
        reply = handler(text.strip())
        after = self._sim()
        if after != before:
            self._move_to(after, self._fade_time(after))
        out = [self._result(reply)]
        if self._power != was_on:
            out.append(Outgoing(f"stat/{self.topic}/POWER", b"ON" if self._power else b"OFF"))
        return out

    def _fade_time(self, end: SimState) -> float:
        if not self._fade:
            return 0.0
        # Measured from what the bulb is emitting now (mid-fade too), to where it is going.
        distance = max(abs(a - b) for a, b in zip(_channels(self.state()), _channels(end), strict=True)) / 255
        return self._speed * 0.5 * distance

    def _cmd_power(self, arg: str) -> dict[str, Any]:
        if arg:
            word = _on_off_word(arg)
            if word is None:
                log.warning("tasmota %s: Power %r is not a state; answered as a query", self.topic, arg)
            else:
                self._power = (not self._power) if word == "toggle" else bool(word)
                if self._power and self._dimmer == 0:
                    self._dimmer = self._dimmer_before_off or 100
        return {"POWER": "ON" if self._power else "OFF"}

    def _cmd_dimmer(self, arg: str) -> dict[str, Any]:
        if arg:
            if arg in ("+", "-"):
                value = self._dimmer + (self.dimmer_step if arg == "+" else -self.dimmer_step)
            else:
                try:
                    value = int(float(arg))
                except ValueError:
                    log.warning("tasmota %s: Dimmer %r is not a number; answered as a query", self.topic, arg)
                    return self._light_state()
            value = int(clamp(value, 0, 100))
            if value == 0:
                self._dimmer_before_off = self._dimmer or self._dimmer_before_off
                self._power = False
            else:
                self._power = True
            self._dimmer = value
        return self._light_state()

    def _cmd_ct(self, arg: str) -> dict[str, Any]:
        if arg:
            try:
                value = int(float(arg))
            except ValueError:
                log.warning("tasmota %s: CT %r is not a number; answered as a query", self.topic, arg)
                return self._light_state()
            if CT_MIN <= value <= CT_MAX:
                self._ct, self._white_mode, self._power = value, True, True
                if self._dimmer == 0:
                    self._dimmer = self._dimmer_before_off
            else:
                log.warning("tasmota %s: CT %s outside %d..%d; ignored", self.topic, arg, CT_MIN, CT_MAX)
        return self._light_state()

    def _cmd_color(self, arg: str) -> dict[str, Any]:
        if arg:
            rgb: tuple[int, int, int] | None = None
            if "," in arg:
                try:
                    parts = [int(p) for p in arg.split(",")]
                except ValueError:
                    parts = []
                if len(parts) >= 3 and all(0 <= p <= 255 for p in parts):
                    rgb = (parts[0], parts[1], parts[2])
            else:
                rgb = parse_hex_colour(arg)
            if rgb is None:
                log.warning("tasmota %s: Color %r is neither r,g,b nor #RRGGBB; ignored", self.topic, arg)
                return self._light_state()
            top = max(rgb)
            if top == 0:
                self._power = False
            else:
                # The channels carry the level: Dimmer becomes the brightest channel, colour is normalised.
                self._rgb = (round(rgb[0] * 255 / top), round(rgb[1] * 255 / top), round(rgb[2] * 255 / top))
                self._dimmer = round(top / 255 * 100)
                self._white_mode = False
                self._power = True
        return self._light_state()

    def _cmd_fade(self, arg: str) -> dict[str, Any]:
        if arg:
            word = _on_off_word(arg)
            if word is None:
                log.warning("tasmota %s: Fade %r is not 0/1; ignored", self.topic, arg)
            else:
                self._fade = (not self._fade) if word == "toggle" else bool(word)
        return {"Fade": "ON" if self._fade else "OFF"}

    def _cmd_speed(self, arg: str) -> dict[str, Any]:
        if arg:
            if arg in ("+", "-"):
                value = self._speed + (1 if arg == "+" else -1)
            else:
                try:
                    value = int(float(arg))
                except ValueError:
                    value = 0
            if 1 <= value <= 40:
                self._speed = value
            else:
                log.warning("tasmota %s: Speed %r outside 1..40; ignored", self.topic, arg)
        return {"Speed": self._speed}
