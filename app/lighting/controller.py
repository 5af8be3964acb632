"""A room's lights: each light's intended state, its fades, what it reports, and re-asserting it.

Every light has one Fade (start -> target over a duration) that says where it should be at any
moment. A device that can fade natively gets one command; anything longer or finer than it can
do is stepped from here at least once a second, each step a short native glide where the device
allows it. A new command starts from where the light is at that moment, never from the start of
the fade it interrupts; a light never heard from is sent its target directly (a fade "from off"
would be a dip to black in a dark room). After a broker reconnect, or when a light comes back
online, it is sent where it should be now, once.

Which scene the room should show is not decided here (app/domain/intended.py): this module only
gets each light where it is told to.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel

from app import counters
from app.domain.clock import Clock, sleep_until_or_woken
from app.domain.errors import NotFound
from app.domain.light import (
    Fade,
    LightState,
    clamp_kelvin,
    longest_native,
    matches,
    merge,
    native_seconds,
    transition_fits,
)
from app.domain.profiles import Profile
from app.domain.rooms import Light, Room
from app.lighting.codec import (
    DecodeError,
    NotAReport,
    availability_topic,
    decode_availability,
    decode_state,
    encode_command,
    state_topics,
)

log = logging.getLogger(__name__)

Delivery = Literal["sent", "confirmed", "unconfirmed"]


class Link(Protocol):
    """What the lights need of the MQTT link (app.mqtt.MqttLink; a recording fake in unit tests)."""

    @property
    def connected(self) -> bool: ...

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False, queue_offline: bool = True
    ) -> None: ...

    def subscribe(self, topic_filter: str, handler: Callable[[str, bytes, bool], None]) -> None: ...

    def on_connect(self, hook: Callable[[], None]) -> None: ...


# A device answers a command with its state within a second or two; this long without a word, it
# is not getting them (or cannot answer).
UNANSWERED_S = 15.0


class FadeView(BaseModel):
    native: bool
    started_at: float
    ends_at: float


class LightView(BaseModel):
    name: str
    role: str
    profile: str
    topic: str
    online: bool | None  # None: not heard from yet
    last_seen: float | None
    intended: LightState | None  # where it should be now: the current point of any fade
    target: LightState | None
    commanded: LightState | None
    commanded_at: float | None
    reported: LightState | None
    confirmed: bool  # the report matches the last command within tolerance
    fade: FadeView | None


@dataclass
class _Channel:
    light: Light
    profile: Profile
    fade: Fade | None = None
    next_step_at: float | None = None
    commanded: LightState | None = None
    commanded_at: float | None = None
    reported: LightState | None = None
    last_seen: float | None = None
    online: bool | None = None
    # Since when commands have gone unanswered (no report since the first sent while connected):
    # a broker drops a publish its ACL refuses without a word, so silence is all there is to see.
    unanswered_since: float | None = None

    def intended(self, now: float) -> LightState | None:
        return self.fade.at(now) if self.fade else None

    @property
    def confirmed(self) -> bool:
        return self.commanded is not None and self.reported is not None and matches(self.commanded, self.reported)


class RoomLights:
    step_s = 1.0  # software fades: at least one step a second

    def __init__(
        self, room: Room, profiles: Mapping[str, Profile], link: Link, clock: Clock, on_change: Callable[[], None]
    ) -> None:
        self.room_id = room.id
        self.link = link
        self.clock = clock
        self._on_change = on_change
        self._channels = {light.name: _Channel(light, profiles[light.profile]) for light in room.lights}
        self._wake = asyncio.Event()
        self._reported = asyncio.Event()
        self._rpc_ids = itertools.count(1)
        self.version = 0  # bumped on every change: lets views be cached
        if not self._channels:
            self._reported.set()

    # --- wiring ------------------------------------------------------------------------------

    def attach(self) -> None:
        """Subscribe to every light's reports and availability; re-assert on every reconnect."""
        for ch in self._channels.values():
            for topic in state_topics(ch.profile, ch.light.topic):
                self.link.subscribe(topic, functools.partial(self._on_report, ch))
            if (availability := availability_topic(ch.profile, ch.light.topic)) is not None:
                self.link.subscribe(availability, functools.partial(self._on_availability, ch))
        self.link.on_connect(self._connected)

    async def run(self) -> None:
        """Step software fades on time; runs until cancelled."""
        while True:
            self._wake.clear()
            deadline = min(
                (ch.next_step_at for ch in self._channels.values() if ch.next_step_at is not None), default=None
            )
            await sleep_until_or_woken(self.clock, deadline, self._wake)
            now = self.clock.now()
            for ch in self._channels.values():
                if ch.next_step_at is not None and ch.next_step_at <= now:
                    self._step(ch, now)

    async def wait_for_reports(self, timeout_s: float) -> None:
        """Until every light has said where it is (retained reports arrive just after connecting), at most timeout_s."""
        try:
            await asyncio.wait_for(self._reported.wait(), timeout_s)
        except TimeoutError:
            silent = [ch.light.name for ch in self._channels.values() if ch.reported is None]
            log.info("%s: no report yet from %s; they get their state directly", self.room_id, ", ".join(silent))

    # --- commands ----------------------------------------------------------------------------

    def show(self, targets: Mapping[str, LightState], transition_s: float, *, force: bool = False) -> list[str]:
        """Fade each named light to its target; one already heading there is left alone unless forced
        (a second panic sends every command again, in case one was missed).

        Each light on its own: one whose command cannot be made or sent is logged and named in the
        result, and the others still get theirs."""
        failed = []
        for name, target in targets.items():
            ch = self._channels.get(name)
            if ch is None:
                continue
            try:
                fitted = self._fit(ch.profile, target)
                if not force and ch.fade is not None and ch.fade.target == fitted:
                    continue
                self._fade(ch, fitted, transition_s)
            except Exception:  # one light's fault must not keep the others dark (or bright)
                log.exception("%s/%s could not be commanded", self.room_id, name)
                failed.append(name)
        self._changed()
        return failed

    def target(self, light: str) -> LightState | None:
        """Where a light is heading (or, if never commanded, what it last reported)."""
        ch = self._channel(light)
        return ch.fade.target if ch.fade else ch.reported

    def names(self) -> list[str]:
        return list(self._channels)

    def delivery(self) -> dict[str, Delivery]:
        """Per light: confirmed (it reports the last command), sent (published), or unconfirmed
        (the broker is away: it goes out on reconnect)."""
        out: dict[str, Delivery] = {}
        for name, ch in self._channels.items():
            if ch.confirmed:
                out[name] = "confirmed"
            else:
                out[name] = "sent" if self.link.connected else "unconfirmed"
        return out

    def _connected(self) -> None:
        """After each (re)connect: ask the lights that can be asked where they are, and send every
        light where it should be now."""
        for ch in self._channels.values():
            spec = ch.profile.state
            if spec is not None and spec.request_topic and ch.reported is None:
                self.link.publish(
                    ch.profile.render(spec.request_topic, ch.light.topic),
                    spec.request_payload,
                    qos=1,
                    queue_offline=False,
                )
        self.reassert_all()

    def reassert_all(self) -> None:
        for ch in self._channels.values():
            try:
                self._reassert(ch)
            except Exception:  # as in show(): the others still get theirs
                log.exception("%s/%s could not be re-asserted", self.room_id, ch.light.name)

    # --- views -------------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Lights that are offline or silent after commands, one line each (for /api/health)."""
        now = self.clock.now()
        lines = []
        for ch in self._channels.values():
            name = f"room {self.room_id}: light {ch.light.name!r}"
            if ch.online is False:
                lines.append(f"{name} is offline (its device says so)")
            elif ch.unanswered_since is not None and now - ch.unanswered_since >= UNANSWERED_S:
                topic = ch.profile.render(ch.profile.command.topic, ch.light.topic)
                lines.append(
                    f"{name} has not answered its commands for {now - ch.unanswered_since:.0f} s: is it on the "
                    f"network, and may the service publish to {topic}? (a broker drops what its ACL refuses, silently)"
                )
        return lines

    def view(self) -> list[LightView]:
        now = self.clock.now()
        return [
            LightView(
                name=ch.light.name,
                role=ch.light.role,
                profile=ch.profile.id,
                topic=ch.light.topic,
                online=ch.online,
                last_seen=ch.last_seen,
                intended=ch.intended(now),
                target=ch.fade.target if ch.fade else None,
                commanded=ch.commanded,
                commanded_at=ch.commanded_at,
                reported=ch.reported,
                confirmed=ch.confirmed,
                fade=None
                if ch.fade is None or ch.fade.done(now)
                else FadeView(native=ch.fade.native, started_at=ch.fade.started_at, ends_at=ch.fade.ends_at),
            )
            for ch in self._channels.values()
        ]

    # --- internals ---------------------------------------------------------------------------

    def _channel(self, light: str) -> _Channel:
        try:
            return self._channels[light]
        except KeyError:
            raise NotFound(f"no light {light!r} in room {self.room_id!r}") from None

    def _changed(self) -> None:
        self.version += 1
        self._on_change()

    def _fade(self, ch: _Channel, target: LightState, duration_s: float) -> None:
        now = self.clock.now()
        # Start from where the light is now: mid-fade if one is running, else what it reported.
        start = ch.intended(now) or _level_known(ch.reported)
        transition = ch.profile.command.transition
        if start is None:
            # Never heard from (or heard "on" without a level): where it is is unknown, so a stepped
            # fade would begin with a jump (from black, or up to full). One command to the target
            # instead, with as much of the fade as the device does by itself: it glides from wherever
            # it really is.
            glide_s = 0.0 if transition is None else longest_native(duration_s, transition.unit, transition.max_s)
            ch.fade, ch.next_step_at = Fade(target, target, now, glide_s, True), None
            self._send(ch, target, glide_s)
            return
        change = abs(target.level_pct - start.level_pct)
        native = duration_s <= 0 or (
            transition is not None and transition_fits(duration_s, transition.unit, transition.max_s, change)
        )
        if not native and duration_s <= self.step_s:
            duration_s, native = 0.0, True  # too short to step: go there now (the panic scene, say)
        elif native and transition is not None:
            duration_s = native_seconds(duration_s, transition.unit)  # the fade the device will do
        ch.fade = Fade(start, target, now, max(0.0, duration_s), native)
        if native:
            ch.next_step_at = None
            self._send(ch, target, duration_s, change)
        else:
            ch.next_step_at = now
            self._step(ch, now)
            self._wake.set()

    def _step(self, ch: _Channel, now: float) -> None:
        fade = ch.fade
        if fade is None or fade.done(now):
            ch.next_step_at = None
            if fade is not None and ch.commanded != fade.target:
                self._send(ch, fade.target, 0)
            return
        following = min(now + self.step_s, fade.ends_at)
        point, upcoming = fade.at(now), fade.at(following)
        transition = ch.profile.command.transition
        change = abs(upcoming.level_pct - point.level_pct)
        if transition is not None and transition_fits(following - now, transition.unit, transition.max_s, change):
            self._send(ch, upcoming, following - now, change)  # glide to the next step's point
        else:
            self._send(ch, point, 0)
        ch.next_step_at = following

    def _reassert(self, ch: _Channel) -> None:
        """Send a light where it should be now, once: the rest of its fade from the current point."""
        if ch.fade is None:
            return
        now = self.clock.now()
        if ch.fade.done(now):
            self._send(ch, ch.fade.target, 0)
        else:
            self._fade(ch, ch.fade.target, ch.fade.ends_at - now)

    def _send(self, ch: _Channel, state: LightState, transition_s: float | None, change_pct: float = 100.0) -> None:
        out = encode_command(
            ch.profile,
            ch.light.topic,
            state,
            transition_s if ch.profile.command.transition else None,
            change_pct=change_pct,
            rpc_id=next(self._rpc_ids),
        )
        self.link.publish(out.topic, out.payload, qos=out.qos, retain=out.retain, queue_offline=False)
        counters.LIGHT_COMMANDS_SENT.labels(self.room_id).inc()
        ch.commanded, ch.commanded_at = state, self.clock.now()
        if ch.unanswered_since is None and ch.profile.state is not None and self.link.connected:
            ch.unanswered_since = ch.commanded_at
        self._changed()

    @staticmethod
    def _fit(profile: Profile, state: LightState) -> LightState:
        """What the device can actually show: colour temperature clamped to its range."""
        ct = profile.command.color_temp
        if state.kelvin is None:
            return state
        if ct is None:
            return merge(state, {"kelvin": None})
        return merge(state, {"kelvin": clamp_kelvin(state.kelvin, ct.unit, ct.min, ct.max)})

    def _on_report(self, ch: _Channel, _topic: str, payload: bytes, _retained: bool) -> None:
        try:
            fields = decode_state(ch.profile, payload)
            ch.reported = merge(ch.reported, fields)
        except NotAReport as exc:
            log.debug("no light state from %s/%s: %s", self.room_id, ch.light.name, exc)
            return
        except (DecodeError, ValueError) as exc:
            log.warning("ignored a report from %s/%s (%s): %s", self.room_id, ch.light.name, ch.profile.id, exc)
            return
        ch.last_seen = self.clock.now()
        ch.unanswered_since = None
        if ch.profile.availability is None:
            ch.online = True
        if all(c.reported is not None for c in self._channels.values()):
            self._reported.set()
        self._changed()

    def _on_availability(self, ch: _Channel, _topic: str, payload: bytes, retained: bool) -> None:
        try:
            online = decode_availability(ch.profile, payload)
        except DecodeError as exc:
            log.warning("ignored availability from %s/%s (%s): %s", self.room_id, ch.light.name, ch.profile.id, exc)
            return
        was = ch.online
        ch.online = online
        if online:
            ch.last_seen = self.clock.now()
            # A live "online" is the device (re)connecting: it may have missed commands, so it gets
            # where it should be now. A retained one is the broker telling us, as we subscribe, that
            # it was there: our own connect has just sent it where it should be (each command once).
            if not retained or was is False:
                if was is False:
                    log.info("%s/%s is back online: sending its intended state", self.room_id, ch.light.name)
                self._reassert(ch)
        else:
            log.warning("%s/%s is offline", self.room_id, ch.light.name)
        self._changed()


def _level_known(reported: LightState | None) -> LightState | None:
    """A report to fade from: one that says how bright. "On" alone (Tasmota's POWER, a plain
    switch topic) would read as 100 %, and a fade from there starts with a jump up."""
    if reported is None or (reported.on and reported.brightness_pct is None and reported.rgb is None):
        return None
    return reported
