"""A WLED LED strip: plain brightness on its device topic, the JSON API on /api."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

from app.simulators.base import Outgoing, SimState, SimulatedLight, is_int, parse_hex_colour

log = logging.getLogger(__name__)


def _byte(value: int) -> int:
    """ArduinoJson's conversion to uint8_t: an integer out of 0..255 does not fit and becomes 0."""
    return value if 0 <= value <= 255 else 0


class WledLight(SimulatedLight):
    """A WLED strip (RGB with CCT white) at default settings, device topic `wled/<id>`.

    Follows WLED's mqtt.cpp and json.cpp. `wled/<id>`: a payload containing "ON"/"on"/"true" restores
    the last brightness, one containing "T"/"t" toggles, anything else is read as a number (strtoul:
    text that is no number reads as 0 and switches the strip OFF, exactly as the firmware does).
    `wled/<id>/col`: "#RRGGBB" / "hRRGGBB" or a decimal. `wled/<id>/api`: a JSON object goes to the JSON
    state API: on (bool, or "t" to toggle), bri 0..255, tt (this change only) and transition (from now
    on) in 100 ms units, and seg (object or list, segment 0) with col [[r,g,b], ...] or hex strings and
    cct (0..255 relative, or 1900..10091 K). A top-level "col" is NOT part of the API and is ignored,
    as WLED ignores it. Integer fields must be JSON integers (ArduinoJson); an out-of-range integer
    becomes 0. A non-JSON /api payload would be the HTTP API, which is not simulated (ignored, logged).
    Changes fade over the default transition of 700 ms unless tt/transition say otherwise. After a
    change the strip publishes `wled/<id>/g` (brightness, 0 when off) and `wled/<id>/c` ("#RRGGBB"),
    not retained (retainMqttMsg defaults off); `wled/<id>/status` "online"/"offline" is retained (LWT).
    The /v XML status is not simulated.
    """

    family = "wled"
    default_transition_s = 0.7
    base_topic: ClassVar[str] = "wled"

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self._bri = 0  # 0 = off: WLED keeps no separate power flag
        self._bri_last = 128
        self._col: tuple[int, int, int] = (255, 160, 0)  # WLED's default orange
        self._cct = 127
        self._transition_s: float = self.default_transition_s
        self._set_initial(self._sim())

    @property
    def device_topic(self) -> str:
        return f"{self.base_topic}/{self.topic}"

    @property
    def availability_topic(self) -> str:
        return f"{self.device_topic}/status"

    def subscriptions(self) -> list[str]:
        return [self.device_topic, f"{self.device_topic}/col", f"{self.device_topic}/api"]

    @property
    def kelvin(self) -> int:
        """The white channels' colour temperature; WLED stores it as 0..255 over 1900..10091 K."""
        return 1900 + self._cct * 32

    def _sim(self) -> SimState:
        return SimState(on=self._bri > 0, brightness_pct=self._bri / 255 * 100, kelvin=self.kelvin, rgb=self._col)

    def report(self) -> list[Outgoing]:
        return [
            Outgoing(f"{self.device_topic}/g", str(self._bri).encode()),
            Outgoing(f"{self.device_topic}/c", ("#{:02X}{:02X}{:02X}".format(*self._col)).encode()),
        ]

    def _toggle(self) -> None:
        if self._bri == 0:
            self._bri = self._bri_last
        else:
            self._bri_last = self._bri
            self._bri = 0

    def _set_bri(self, value: int) -> None:
        if value == 0 and self._bri > 0:
            self._bri_last = self._bri
        self._bri = value

    def handle(self, topic: str, payload: bytes) -> list[Outgoing]:
        text = payload.decode(errors="replace")
        before = (self._bri, self._col, self._cct)
        once: float | None = None
        if topic == self.device_topic:
            self._plain(text)
        elif topic == f"{self.device_topic}/col":
            self._colour_topic(text)
        elif topic == f"{self.device_topic}/api":
            once = self._api(text, payload)
        transition = self._transition_s if once is None else once  # after /api may have set a new default
        if (self._bri, self._col, self._cct) == before:
            return []
        self._move_to(self._sim(), transition)
        return self.report()

    def _plain(self, text: str) -> None:
        if "ON" in text or "on" in text or "true" in text:
            self._bri = self._bri_last
        elif "T" in text or "t" in text:
            self._toggle()
        else:
            digits = ""
            for ch in text.strip():
                if not ch.isdigit():
                    break
                digits += ch
            value = int(digits) if digits else 0
            if not digits:
                log.warning("wled %s: %r is no brightness; WLED reads it as 0 (off)", self.topic, text)
            self._set_bri(value & 0xFF)  # strtoul into a uint8_t

    def _colour_topic(self, text: str) -> None:
        text = text.strip()
        if text[:1] in ("#", "h", "H"):
            rgb = parse_hex_colour(text[1:])
        else:
            try:
                value = int(text)
            except ValueError:
                rgb = None
            else:
                rgb = ((value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF)
        if rgb is None:
            log.warning("wled %s: /col %r is no colour; ignored", self.topic, text)
            return
        self._col = rgb

    def _api(self, text: str, payload: bytes) -> float | None:
        """Apply a JSON state; returns a one-off transition (tt) in seconds, if it named one."""
        if not text.lstrip().startswith("{"):
            log.warning("wled %s: /api payload is not JSON (HTTP API not simulated); ignored: %r", self.topic, payload)
            return None
        try:
            root = json.loads(text)
        except json.JSONDecodeError:
            log.warning("wled %s: /api JSON does not parse; ignored: %r", self.topic, payload)
            return None
        if not isinstance(root, dict):
            log.warning("wled %s: /api JSON is not an object; ignored: %r", self.topic, payload)
            return None
        on_before = self._bri > 0
        if "bri" in root:
            if is_int(root["bri"]) and root["bri"] >= 0:
                self._set_bri(_byte(root["bri"]))
            else:
                log.warning("wled %s: bri %r is not an integer 0..255; ignored", self.topic, root["bri"])
        on_value = root.get("on")
        on = on_value if isinstance(on_value, bool) else self._bri > 0
        if on != (self._bri > 0):
            self._toggle()
        if isinstance(on_value, str) and on_value.startswith("t") and (on_before or self._bri == 0):
            self._toggle()
        if "transition" in root:
            if is_int(root["transition"]) and root["transition"] >= 0:
                self._transition_s = root["transition"] / 10
            else:
                log.warning("wled %s: transition %r is not an integer; ignored", self.topic, root["transition"])
        once: float | None = None
        if "tt" in root:
            if is_int(root["tt"]) and root["tt"] >= 0:
                once = root["tt"] / 10
            else:
                log.warning("wled %s: tt %r is not an integer; ignored", self.topic, root["tt"])
        if "col" in root:
            log.warning("wled %s: top-level 'col' is not part of the JSON API (use seg); ignored", self.topic)
        segment = root.get("seg")
        if isinstance(segment, list):
            segment = segment[0] if segment else None
        if isinstance(segment, dict) and segment.get("id", 0) == 0:
            self._segment(segment)
        return once

    def _segment(self, seg: dict[str, Any]) -> None:
        if "cct" in seg:
            if is_int(seg["cct"]) and seg["cct"] >= 0:
                k = seg["cct"]
                if k > 255:  # Kelvin, as Segment::setCCT converts it
                    k = (min(max(k, 1900), 10091) - 1900) >> 5
                self._cct = k
            else:
                log.warning("wled %s: cct %r is not an integer; ignored", self.topic, seg["cct"])
        colours = seg.get("col")
        if isinstance(colours, list) and colours:
            primary = colours[0]
            rgb: tuple[int, int, int] | None = None
            if isinstance(primary, list) and len(primary) >= 3 and all(is_int(c) for c in primary[:3]):
                rgb = (_byte(primary[0]), _byte(primary[1]), _byte(primary[2]))
            elif isinstance(primary, str):
                rgb = parse_hex_colour(primary)
            if rgb is None:
                log.warning("wled %s: seg col %r is no colour; ignored", self.topic, primary)
            else:
                self._col = rgb
