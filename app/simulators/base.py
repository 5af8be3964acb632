"""What every simulated light shares: its own MQTT connection, availability, and a light that fades.

Each firmware family is a subclass that knows only its topics and payloads (`subscriptions`,
`handle`, `report`). Nothing here, or in the families, imports the service's code: the simulators
are a second, independent reading of the firmware documentation, so a test that drives the service
against them catches the service's mapping mistakes instead of repeating them.
"""

from __future__ import annotations

import asyncio
import colorsys
import logging
import math
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import ClassVar

import aiomqtt

log = logging.getLogger(__name__)

# CONNACK codes for a refused login (MQTT 3.1.1: bad credentials 4, not authorised 5; MQTT 5: 0x86, 0x87).
_REFUSED = {4, 5, 0x86, 0x87}


@dataclass
class SimState:
    """What the physical light is doing (or, as `target`, heading for)."""

    on: bool = False
    brightness_pct: float = 0.0  # 0..100, actual output level (0 when off)
    kelvin: int | None = None  # set while the light is in a white / colour-temperature mode
    rgb: tuple[int, int, int] | None = None  # the colour setting as the firmware reports it, not scaled by brightness


@dataclass(frozen=True)
class Outgoing:
    """One message the device publishes."""

    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 0


class SimulatedLight(ABC):
    """A light on the broker. Subclasses speak one firmware's dialect; this class does the rest.

    `run()` owns the connection. Commands are handled one at a time in arrival order, as a
    single-threaded firmware does; a reply is published before the next command is read.
    """

    family: ClassVar[str] = ""
    reconnect_delay_s: ClassVar[float] = 0.2
    # A broker that refuses the light's login is retried ever more slowly, up to this.
    max_reconnect_delay_s: ClassVar[float] = 10.0
    keepalive_s: ClassVar[int] = 15
    # Used when a command names no transition of its own (each family documents its value).
    default_transition_s: ClassVar[float] = 0.0

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.received: list[tuple[str, bytes]] = []  # every command message that reached the device
        self.ignored: list[tuple[str, bytes]] = []  # the subset that arrived while go_offline() was in force
        self.online = True
        self.connects = 0
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._from = SimState()
        self._to = SimState()
        self._t0 = 0.0
        self._duration = 0.0
        self._client_id = f"sim-{self.family}-{uuid.uuid4().hex[:12]}"
        self._replies: set[asyncio.Task[None]] = set()

    # --- what a family provides -----------------------------------------------------------------

    @property
    @abstractmethod
    def availability_topic(self) -> str: ...

    online_payload: ClassVar[bytes] = b"online"
    offline_payload: ClassVar[bytes] = b"offline"

    @abstractmethod
    def subscriptions(self) -> list[str]:
        """Topic filters the firmware subscribes to."""

    @abstractmethod
    def handle(self, topic: str, payload: bytes) -> list[Outgoing]:
        """Apply one command; return what the firmware publishes in answer. Never raises on bad input."""

    @abstractmethod
    def report(self) -> list[Outgoing]:
        """What the firmware publishes about its state on connect (and on go_online)."""

    # --- the light itself -----------------------------------------------------------------------

    @staticmethod
    def _now() -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:  # outside a loop: the default loop clock is time.monotonic()
            return time.monotonic()

    def state(self) -> SimState:
        """The actual output now: linear between the level at the last command and its target."""
        now = self._now()
        if self._duration <= 0 or now >= self._t0 + self._duration:
            return replace(self._to)
        f = max(0.0, (now - self._t0) / self._duration)
        a, b = self._from, self._to
        brightness = a.brightness_pct + (b.brightness_pct - a.brightness_pct) * f
        kelvin = b.kelvin
        if a.kelvin is not None and b.kelvin is not None:
            kelvin = round(a.kelvin + (b.kelvin - a.kelvin) * f)
        rgb = b.rgb
        if a.rgb is not None and b.rgb is not None:
            rgb = (
                round(a.rgb[0] + (b.rgb[0] - a.rgb[0]) * f),
                round(a.rgb[1] + (b.rgb[1] - a.rgb[1]) * f),
                round(a.rgb[2] + (b.rgb[2] - a.rgb[2]) * f),
            )
        # Fading out still emits light until it reaches 0; fading in is on from the first instant.
        return SimState(on=b.on or brightness > 0, brightness_pct=brightness, kelvin=kelvin, rgb=rgb)

    @property
    def target(self) -> SimState:
        return replace(self._to)

    @property
    def transition_s(self) -> float:
        """Length of the latest movement (0 = instant): lets tests check durations without a clock."""
        return self._duration

    def _move_to(self, target: SimState, duration_s: float) -> None:
        self._from = self.state()
        self._to = replace(target)
        self._t0 = self._now()
        self._duration = max(0.0, duration_s)

    def _set_initial(self, initial: SimState) -> None:
        """The state at power-up: no transition."""
        self._from = replace(initial)
        self._to = replace(initial)
        self._duration = 0.0

    # --- the connection -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def _make_client(
        self, host: str, port: int, username: str | None = None, password: str | None = None
    ) -> aiomqtt.Client:
        return aiomqtt.Client(
            host,
            port,
            username=username,
            password=password,
            identifier=self._client_id,
            # The broker says this for the device when it vanishes, as real firmware configures it.
            will=aiomqtt.Will(self.availability_topic, self.offline_payload, qos=1, retain=True),
            keepalive=self.keepalive_s,
            timeout=5,
        )

    async def run(self, host: str, port: int, *, username: str | None = None, password: str | None = None) -> None:
        """Stay connected and serve commands until cancelled; reconnect after a short pause (longer
        each time the broker refuses the login, so a wrong password does not hammer it)."""
        delay = self.reconnect_delay_s
        while True:
            try:
                async with self._make_client(host, port, username, password) as client:
                    self._client = client
                    await self._on_connect(client)
                    delay = self.reconnect_delay_s
                    async for message in client.messages:
                        payload = message.payload
                        data = bytes(payload) if isinstance(payload, bytes | bytearray) else str(payload or "").encode()
                        await self._on_message(message.topic.value, data)
            except aiomqtt.MqttCodeError as exc:
                refused = getattr(exc.rc, "value", exc.rc) in _REFUSED
                if refused:
                    delay = min(max(delay * 2, 1.0), self.max_reconnect_delay_s)
                log.log(
                    logging.WARNING if refused else logging.INFO,
                    "%s %s: broker %s (%s); retrying in %.1f s",
                    self.family,
                    self.topic,
                    "refused the login" if refused else "unavailable",
                    exc,
                    delay,
                )
            except aiomqtt.MqttError as exc:
                log.info("%s %s: broker unavailable (%s); retrying in %.1f s", self.family, self.topic, exc, delay)
            finally:
                self._connected.clear()
                self._client = None
            await asyncio.sleep(delay)

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        self.connects += 1
        for topic_filter in self.subscriptions():
            await client.subscribe(topic_filter, qos=1)
        await self._publish(client, [self._availability()])
        if self.online:
            await self._publish(client, self.report())
        self._connected.set()

    async def _on_message(self, topic: str, payload: bytes) -> None:
        self.received.append((topic, payload))
        if not self.online:
            self.ignored.append((topic, payload))
            return
        try:
            replies = self.handle(topic, payload)
        except Exception:  # a firmware bug must not unplug the light: keep serving
            log.exception("%s %s: command on %s failed", self.family, self.topic, topic)
            return
        if self._client is not None and replies:
            # Like firmware, answer without holding up the next command: a reply that waits for
            # its PUBACK would also hide a dead connection from the message loop until it times out.
            task = asyncio.create_task(self._publish_quietly(self._client, replies))
            self._replies.add(task)
            task.add_done_callback(self._reply_done)

    def _reply_done(self, task: asyncio.Task[None]) -> None:
        self._replies.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s %s: a reply failed", self.family, self.topic, exc_info=exc)

    def _availability(self) -> Outgoing:
        return Outgoing(
            self.availability_topic, self.online_payload if self.online else self.offline_payload, retain=True, qos=1
        )

    @classmethod
    async def _publish_quietly(cls, client: aiomqtt.Client, messages: list[Outgoing]) -> None:
        try:
            await cls._publish(client, messages)
        except aiomqtt.MqttError as exc:
            log.info("reply not delivered: %s", exc)

    @staticmethod
    async def _publish(client: aiomqtt.Client, messages: list[Outgoing]) -> None:
        for m in messages:
            await client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain)

    async def go_offline(self) -> None:
        """Look gone: the offline payload as the broker would publish the will, then deaf to commands."""
        self.online = False
        if self._client is not None and self.connected:
            await self._publish(self._client, [self._availability()])

    async def go_online(self) -> None:
        self.online = True
        if self._client is not None and self.connected:
            await self._publish(self._client, [self._availability(), *self.report()])


# --- conversions the firmwares document -----------------------------------------------------------


def mired_to_kelvin(mired: float) -> int:
    return round(1_000_000 / mired)


def kelvin_to_mired(kelvin: float) -> int:
    return round(1_000_000 / kelvin)


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def is_number(value: object) -> bool:
    """A JSON number (bool is an int in Python, but never a number in JSON)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: object) -> bool:
    """A JSON integer literal: what ArduinoJson's is<intN_t>() accepts (2.0 is a float there)."""
    return isinstance(value, int) and not isinstance(value, bool)


def hs_to_rgb(hue: float, saturation_pct: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((hue % 360) / 360, clamp(saturation_pct, 0, 100) / 100, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


def rgb_to_hs(rgb: tuple[int, int, int]) -> tuple[int, int]:
    h, s, _ = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    return round(h * 360) % 360, round(s * 100)


def _linear(c: float) -> float:
    return ((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92


def _gamma(c: float) -> float:
    return 1.055 * c ** (1 / 2.4) - 0.055 if c > 0.0031308 else 12.92 * c


def rgb_to_xy(rgb: tuple[int, int, int]) -> tuple[float, float]:
    """sRGB to CIE xy (wide-gamut D65 matrix, as Hue and Zigbee2MQTT use)."""
    r, g, b = (_linear(c / 255) for c in rgb)
    x = r * 0.649926 + g * 0.103455 + b * 0.197109
    y = r * 0.234327 + g * 0.743075 + b * 0.022598
    z = g * 0.053077 + b * 1.035763
    total = x + y + z
    if total == 0:
        return 0.3127, 0.3290  # D65 white point for black
    return round(x / total, 4), round(y / total, 4)


def xy_to_rgb(x: float, y: float) -> tuple[int, int, int]:
    """CIE xy to sRGB at full brightness (the inverse of `rgb_to_xy`, scaled so the top channel is 255)."""
    if y <= 0:
        return 255, 255, 255
    big_y = 1.0
    big_x = big_y / y * x
    big_z = big_y / y * (1 - x - y)
    r = big_x * 1.656492 - big_y * 0.354851 - big_z * 0.255038
    g = -big_x * 0.707196 + big_y * 1.655397 + big_z * 0.036152
    b = big_x * 0.051713 - big_y * 0.121364 + big_z * 1.011530
    r, g, b = (max(0.0, c) for c in (r, g, b))
    top = max(r, g, b)
    if top > 1:
        r, g, b = r / top, g / top, b / top
    r, g, b = (clamp(_gamma(c), 0, 1) for c in (r, g, b))
    top = max(r, g, b) or 1.0
    return round(r / top * 255), round(g / top * 255), round(b / top * 255)


def parse_hex_colour(text: str) -> tuple[int, int, int] | None:
    """'#RRGGBB' or 'RRGGBB' (a trailing white byte, as in 'RRGGBBWW', is dropped)."""
    digits = text.strip().removeprefix("#")
    if len(digits) not in (6, 8) or any(c not in "0123456789abcdefABCDEF" for c in digits):
        return None
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
