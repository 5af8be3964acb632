"""Room lighting: each light's intended state, its fades, what it reports, and re-asserting it.

Every light has one Fade (start -> target over a duration) that says where it should be at any
moment. A device that can fade natively gets one command; anything longer or finer than it can
do is stepped from here at least once a second, each step a short native glide where the device
allows it. A new command starts from where the light is at that moment, never from the start of
the fade it interrupts. After a broker reconnect, or when a light comes back online, it is sent
where it should be now.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from app.domain.clock import Clock, sleep_until_or_woken
from app.domain.errors import NotFound
from app.domain.light import OFF, Fade, LightState, clamp_kelvin, matches, merge, transition_fits
from app.domain.profiles import Profile
from app.domain.rooms import Light, Room
from app.domain.scenes import Scene
from app.lighting.codec import DecodeError, NotAReport, availability_topic, decode_availability, decode_state, \
    encode_command, state_topics
from app.mqtt.link import MqttLink

log = logging.getLogger(__name__)

SceneSource = Literal["phase", "manual", "panic", "restore"]


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


class Override(BaseModel):
    """A manual change that holds until the next phase change or until cleared."""

    since: float
    detail: str


@dataclass(frozen=True)
class LightingSnapshot:
    targets: dict[str, LightState]
    scene: tuple[str, SceneSource] | None
    override: Override | None


class RoomLighting(BaseModel):
    scene: str | None
    source: SceneSource | None
    override: Override | None
    lights: list[LightView]


@dataclass
class _Channel:
    room: str
    light: Light
    profile: Profile
    fade: Fade | None = None
    next_step_at: float | None = None
    commanded: LightState | None = None
    commanded_at: float | None = None
    reported: LightState | None = None
    last_seen: float | None = None
    online: bool | None = None

    def intended(self, now: float) -> LightState | None:
        return self.fade.at(now) if self.fade else None

    @property
    def confirmed(self) -> bool:
        return self.commanded is not None and self.reported is not None and matches(self.commanded, self.reported)


class Lighting:
    step_s = 1.0  # software fades: at least one step a second

    def __init__(self, link: MqttLink, rooms: Mapping[str, Room], profiles: Mapping[str, Profile],
                 scenes: Mapping[str, Scene], clock: Clock, notify: Callable[[str], None] = lambda room: None) -> None:
        self.link = link
        self.scenes = scenes
        self.clock = clock
        self._notify_listener = notify
        self._rooms: dict[str, dict[str, _Channel]] = {
            room.id: {light.name: _Channel(room.id, light, profiles[light.profile]) for light in room.lights}
            for room in rooms.values()
        }
        self._scene: dict[str, tuple[str, SceneSource]] = {}
        self._override: dict[str, Override] = {}
        self._wake = asyncio.Event()
        self._rpc_ids = itertools.count(1)
        self.version = 0  # bumped on every change: lets views be cached

    # --- wiring ------------------------------------------------------------------------------

    def attach(self) -> None:
        """Subscribe to every light's reports and availability; re-assert on every reconnect."""
        for ch in self._channels():
            for topic in state_topics(ch.profile, ch.light.topic):
                self.link.subscribe(topic, lambda _t, payload, ch=ch: self._on_report(ch, payload))
            if (topic := availability_topic(ch.profile, ch.light.topic)) is not None:
                self.link.subscribe(topic, lambda _t, payload, ch=ch: self._on_availability(ch, payload))
        self.link.on_connect(self.reassert_all)

    async def run(self) -> None:
        """Step software fades on time; runs until cancelled."""
        while True:
            self._wake.clear()
            deadline = min((ch.next_step_at for ch in self._channels() if ch.next_step_at is not None), default=None)
            await sleep_until_or_woken(self.clock, deadline, self._wake)
            now = self.clock.now()
            for ch in self._channels():
                if ch.next_step_at is not None and ch.next_step_at <= now:
                    self._step(ch, now)

    # --- commands ----------------------------------------------------------------------------

    def apply_scene(self, room: str, scene_name: str, *, transition_s: float | None = None,
                    source: SceneSource = "phase") -> None:
        channels = self._room(room)
        scene = self.scenes.get(scene_name)
        if scene is None:
            raise NotFound(f"no scene {scene_name!r}; have: {', '.join(sorted(self.scenes))}")
        if source == "manual":
            self._override[room] = Override(since=self.clock.now(), detail=f"scene {scene_name}")
        else:
            self._override.pop(room, None)
        fade_s = scene.fade_s if transition_s is None else transition_s
        for ch in channels.values():
            self._fade(ch, scene.for_role(ch.light.role), fade_s)
        self._scene[room] = (scene_name, source)
        self._notify(room)

    def adjust(self, room: str, light: str | None, *, on: bool | None = None, brightness_pct: float | None = None,
               kelvin: int | None = None, rgb: tuple[int, int, int] | None = None,
               transition_s: float = 2.0) -> None:
        """A manual change to one light or (light=None) every light in the room; starts an override."""
        channels = self._room(room)
        if light is not None and light not in channels:
            raise NotFound(f"no light {light!r} in room {room!r}")
        now = self.clock.now()
        for ch in channels.values() if light is None else [channels[light]]:
            base = (ch.fade.target if ch.fade else ch.reported) or OFF
            changes: dict[str, object] = {}
            if brightness_pct is not None:
                changes.update(on=brightness_pct > 0, brightness_pct=brightness_pct)
            if on is not None:
                changes["on"] = on
            if kelvin is not None:
                changes.update(kelvin=kelvin, rgb=None)
            if rgb is not None:
                changes["rgb"] = rgb
            self._fade(ch, merge(base, changes), transition_s)
        what = ", ".join(f"{k}={v}" for k, v in [("on", on), ("brightness", brightness_pct), ("kelvin", kelvin),
                                                ("rgb", rgb)] if v is not None)
        self._override[room] = Override(since=now, detail=f"{light or 'all lights'}: {what}")
        self._notify(room)

    def clear_override(self, room: str) -> bool:
        self._room(room)
        cleared = self._override.pop(room, None) is not None
        self._notify(room)
        return cleared

    def _notify(self, room: str) -> None:
        self.version += 1
        self._notify_listener(room)

    def has_override(self, room: str) -> bool:
        return room in self._override

    def snapshot(self, room: str) -> LightingSnapshot:
        """Where each light is heading, and why: what a panic must be able to return to."""
        channels = self._room(room)
        return LightingSnapshot(
            targets={name: ch.fade.target for name, ch in channels.items() if ch.fade is not None},
            scene=self._scene.get(room), override=self._override.get(room))

    def restore(self, room: str, snapshot: LightingSnapshot, transition_s: float) -> None:
        for name, ch in self._room(room).items():
            if name in snapshot.targets:
                self._fade(ch, snapshot.targets[name], transition_s)
        if snapshot.scene is not None:
            self._scene[room] = snapshot.scene
        if snapshot.override is not None:
            self._override[room] = snapshot.override
        else:
            self._override.pop(room, None)
        self._notify(room)

    def delivery(self, room: str) -> dict[str, str]:
        """Per light: confirmed (it reports the last command), sent (published), or unconfirmed
        (the broker is away: it goes out on reconnect)."""
        out = {}
        for name, ch in self._room(room).items():
            if ch.confirmed:
                out[name] = "confirmed"
            else:
                out[name] = "sent" if self.link.connected else "unconfirmed"
        return out

    def reassert_all(self) -> None:
        for ch in self._channels():
            self._reassert(ch)

    # --- views -------------------------------------------------------------------------------

    def view(self, room: str) -> RoomLighting:
        now = self.clock.now()
        scene, source = self._scene.get(room, (None, None))
        return RoomLighting(scene=scene, source=source, override=self._override.get(room), lights=[
            LightView(name=ch.light.name, role=ch.light.role, profile=ch.profile.id, topic=ch.light.topic,
                      online=ch.online, last_seen=ch.last_seen, intended=ch.intended(now),
                      target=ch.fade.target if ch.fade else None, commanded=ch.commanded,
                      commanded_at=ch.commanded_at, reported=ch.reported, confirmed=ch.confirmed,
                      fade=None if ch.fade is None or ch.fade.done(now)
                      else FadeView(native=ch.fade.native, started_at=ch.fade.started_at, ends_at=ch.fade.ends_at))
            for ch in self._room(room).values()
        ])

    # --- internals ---------------------------------------------------------------------------

    def _channels(self) -> Iterator[_Channel]:
        for channels in self._rooms.values():
            yield from channels.values()

    def _room(self, room: str) -> dict[str, _Channel]:
        try:
            return self._rooms[room]
        except KeyError:
            raise NotFound(f"no room {room!r}") from None

    def _fade(self, ch: _Channel, target: LightState, duration_s: float) -> None:
        now = self.clock.now()
        target = self._fit(ch.profile, target)
        # Start from where the light is now: mid-fade if one is running, else what it reported.
        start = ch.intended(now) or ch.reported
        transition = ch.profile.command.transition
        if start is None:
            # Never heard from it: let the device fade from wherever it is, if it can.
            start = target if transition is None else OFF
        change = abs(target.level_pct - start.level_pct)
        native = duration_s <= 0 or (transition is not None
                                     and transition_fits(duration_s, transition.unit, transition.max_s, change))
        if not native and duration_s <= self.step_s:
            duration_s, native = 0.0, True  # too short to step: go there now (the panic scene, say)
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
        if ch.fade is None:
            return
        now = self.clock.now()
        point = ch.fade.at(now)
        self._send(ch, point, 0)
        if not ch.fade.done(now):
            self._fade(ch, ch.fade.target, ch.fade.ends_at - now)

    def _send(self, ch: _Channel, state: LightState, transition_s: float | None, change_pct: float = 100.0) -> None:
        out = encode_command(ch.profile, ch.light.topic, state,
                             transition_s if ch.profile.command.transition else None,
                             change_pct=change_pct, rpc_id=next(self._rpc_ids))
        self.link.publish(out.topic, out.payload, qos=out.qos, retain=out.retain, queue_offline=False)
        ch.commanded, ch.commanded_at = state, self.clock.now()
        self._notify(ch.room)

    @staticmethod
    def _fit(profile: Profile, state: LightState) -> LightState:
        """What the device can actually show: colour temperature clamped to its range."""
        ct = profile.command.color_temp
        if state.kelvin is None:
            return state
        if ct is None:
            return merge(state, {"kelvin": None})
        return merge(state, {"kelvin": clamp_kelvin(state.kelvin, ct.unit, ct.min, ct.max)})

    def _on_report(self, ch: _Channel, payload: bytes) -> None:
        try:
            fields = decode_state(ch.profile, payload)
            ch.reported = merge(ch.reported, fields)
        except NotAReport as exc:
            log.debug("no light state from %s/%s: %s", ch.room, ch.light.name, exc)
            return
        except (DecodeError, ValueError) as exc:
            log.warning("ignored a report from %s/%s (%s): %s", ch.room, ch.light.name, ch.profile.id, exc)
            return
        ch.last_seen = self.clock.now()
        if ch.profile.availability is None:
            ch.online = True
        self._notify(ch.room)

    def _on_availability(self, ch: _Channel, payload: bytes) -> None:
        try:
            online = decode_availability(ch.profile, payload)
        except DecodeError as exc:
            log.warning("ignored availability from %s/%s (%s): %s", ch.room, ch.light.name, ch.profile.id, exc)
            return
        was = ch.online
        ch.online = online
        if online:
            ch.last_seen = self.clock.now()
            # Every "online" is a fresh connection of the device (or of us, getting the retained
            # message): it may have missed commands, so it gets where it should be now.
            if was is False:
                log.info("%s/%s is back online: sending its intended state", ch.room, ch.light.name)
            self._reassert(ch)
        else:
            log.warning("%s/%s is offline", ch.room, ch.light.name)
        self._notify(ch.room)
