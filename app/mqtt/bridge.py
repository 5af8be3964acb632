"""The rooms over MQTT: state and summary topics, Home Assistant discovery, room events, and the
command topics, each of which goes through the room's own RoomController methods."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from app import __version__
from app.domain.errors import DomainError
from app.domain.presets import Preset
from app.domain.session import check_advance
from app.mqtt import commands, topics
from app.mqtt.discovery import Catalogue, discovery_messages, owned_room, stale_configs
from app.mqtt.link import MqttLink
from app.mqtt.summary import TIMES, iso, room_summary
from app.pubsub import Hub
from app.room import RoomChange, RoomController
from app.supervisor import RECENT_S, Supervisor
from app.views import ViewCache

log = logging.getLogger(__name__)

ADVANCE_CONFIRM_S = 30.0  # "Next phase" over MQTT: a second press within this confirms the first
FALLBACK_PANIC_MAX_AGE_S = 12 * 3600  # a panic Home Assistant handled while we were down: honoured this long
DISCOVERY_SCAN_S = 2.0  # how long to collect the retained configs under the discovery prefix at start-up
SERVICE_STATE_EVERY_S = 5.0
# A room's state topic follows its lights' reports at most this often (every other change goes out
# at once): a fade makes reports every second per room, and the whole room's view on the broker
# each time was most of what a clinic's rooms cost the box at rest (bench/room_cost.py).
LIGHTS_STATE_EVERY_S = 5.0
# Room changes that Home Assistant's event entity fires on (the bridge adds advance_armed and refused).
FORWARDED = {"cue": "cue", "alert": "alert", "phase": "phase", "panic": "panic", "panic_cleared": "panic_cleared"}
_DETAIL_MAX_CHARS = 200
# Between two events of one room (see MqttBridge._event): well past Home Assistant's millisecond.
EVENT_SPACING_S = 0.02

Parser = commands.Parser


class MqttBridge:
    def __init__(
        self,
        link: MqttLink,
        rooms: Mapping[str, RoomController],
        views: ViewCache,
        changes: Hub[RoomChange],
        jobs: Supervisor,
        catalogue: Catalogue,
    ) -> None:
        self.link = link
        self.rooms = rooms
        self.views = views
        self.changes = changes
        self._jobs = jobs
        self.catalogue = catalogue
        self._configs = discovery_messages((room.room for room in rooms.values()), catalogue)
        self._summaries: dict[str, str] = {}
        self._times: dict[tuple[str, str], str] = {}
        self._service_state = ""
        self._advance_armed: dict[str, float] = {}  # room -> until (room clock)
        self._scanned = False
        self._next_event_at: dict[str, float] = {}  # room -> the loop time its next event may go out
        self._published_at: dict[str, float] = {}  # room -> the loop time its state last went out
        self._lights_due: dict[str, asyncio.TimerHandle] = {}  # room -> its light reports' publication
        self.stale_cleared: list[str] = []  # config topics deleted at start-up, for the log and tests

    # --- wiring ----------------------------------------------------------------------------

    def attach(self) -> None:
        """Subscribe, and give the link everything retained before it first connects: the link
        sends retained topics before `online`, so nobody reads the last run's state as current."""
        link = self.link
        link.subscribe(topics.PANIC, self._on_panic, commands=True)
        self._command(topics.PANIC_CLEAR, commands.clear_panic)
        self._command(topics.SESSION, commands.session_command)
        self._command(topics.SCENE, commands.scene_command)
        self._command(topics.VOLUME, commands.volume_command)
        self._command(topics.MUSIC, commands.music_command)
        if self.catalogue.talk:
            self._command(topics.TALK, commands.talk_command)
        link.subscribe(topics.PANIC_FALLBACK, self._on_fallback_panic)
        link.subscribe(topics.HA_STATUS, self._on_home_assistant_status)
        for room_id in self.rooms:
            self._publish_room(room_id)
            link.publish(topics.availability(room_id), b"online", qos=1, retain=True)
        self._publish_service_state()
        self._publish_discovery()
        link.on_connect(self._after_connect)

    async def publish_states(self) -> None:
        """Keep each room's retained topics current and forward its events; runs until cancelled."""
        with self.changes.subscribe() as changes:
            for room_id in self.rooms:
                self._publish_room(room_id)
            try:
                while True:
                    change = await changes.get()
                    if change.room not in self.rooms:
                        continue
                    if change.kind == "lights":
                        self._publish_lights_later(change.room)
                        continue
                    self._publish_room(change.room)
                    if change.kind in FORWARDED:
                        self._event(change.room, FORWARDED[change.kind], change.detail)
            finally:
                for pending in self._lights_due.values():  # nothing of this task outlives it
                    pending.cancel()
                self._lights_due.clear()

    async def publish_service_state(self) -> None:
        """The "Arcroom" device's diagnostics (background-task health, broker link); runs until cancelled."""
        while True:
            self._publish_service_state()
            await asyncio.sleep(SERVICE_STATE_EVERY_S)

    # --- start-up: discovery that stays true -------------------------------------------------

    def _after_connect(self) -> None:
        if not self._scanned:
            self._scanned = True
            self._jobs.spawn("mqtt discovery clean-up", self.clear_stale_discovery())

    async def clear_stale_discovery(self) -> None:
        """Delete the retained configs under the discovery prefix that this instance made in an
        earlier run but no longer has (a room or light taken out), and that room's own topics."""
        found: dict[str, str | None] = {}

        def collect(topic: str, payload: bytes, retained: bool) -> None:
            if payload:
                found[topic] = owned_room(payload, self.catalogue.status_topic)

        self.link.subscribe(topics.DISCOVERY_CONFIGS, collect)
        await asyncio.sleep(DISCOVERY_SCAN_S)  # the broker sends retained messages right after subscribing
        self.link.unsubscribe(topics.DISCOVERY_CONFIGS)
        stale = stale_configs(found, self._configs)
        gone_rooms = sorted({room for topic in stale if (room := found[topic]) and room not in self.rooms})
        for topic in stale:
            self.link.clear_retained(topic)
        if gone_rooms:
            # Their entities read these topics until Home Assistant has removed them: an empty
            # state sooner would be a template error in its log.
            await asyncio.sleep(DISCOVERY_SCAN_S)
        for room_id in gone_rooms:
            for topic in (topics.state(room_id), topics.summary(room_id), topics.availability(room_id)):
                self.link.clear_retained(topic)
            for name in TIMES:
                self.link.clear_retained(topics.time(room_id, name))
        if stale:
            log.warning(
                "removed %d Home Assistant discovery config(s) this instance no longer has%s",
                len(stale),
                f" (rooms no longer configured: {', '.join(gone_rooms)})" if gone_rooms else "",
            )
        self.stale_cleared = stale

    def _publish_discovery(self) -> None:
        # Retained, so the link republishes them after every reconnect as well.
        for topic, payload in self._configs.items():
            self.link.publish(topic, payload, qos=1, retain=True)

    def _on_home_assistant_status(self, topic: str, payload: bytes, retained: bool) -> None:
        if payload.strip().lower() == b"online":  # Home Assistant (re)started: tell it again
            self._publish_discovery()
            self._summaries.clear()
            self._times.clear()
            for room_id in self.rooms:
                self._publish_room(room_id)

    # --- publishing ------------------------------------------------------------------------

    def _publish_lights_later(self, room_id: str) -> None:
        if room_id in self._lights_due:
            return  # it will carry this change too
        loop = asyncio.get_running_loop()
        due = self._published_at.get(room_id, -math.inf) + LIGHTS_STATE_EVERY_S
        self._lights_due[room_id] = loop.call_at(max(due, loop.time()), self._publish_room, room_id)

    def _publish_room(self, room_id: str) -> None:
        if (pending := self._lights_due.pop(room_id, None)) is not None:
            pending.cancel()  # this publication carries the lights as they are now
        with contextlib.suppress(RuntimeError):  # attach() publishes before the loop runs
            self._published_at[room_id] = asyncio.get_running_loop().time()
        link = self.link
        link.publish(topics.state(room_id), self.views.public_json(room_id, link.connected), qos=1, retain=True)
        summary = room_summary(self.views.view(room_id, link.connected))  # the same view, built once
        if self.catalogue.talk:
            summary["talk"] = _talk_state(self.rooms[room_id])
        # The times first: the summary makes a time's entity available, and it should then show it.
        for name, value in summary["times"].items():
            if value is not None and self._times.get((room_id, name)) != value:
                self._times[room_id, name] = value
                link.publish(topics.time(room_id, name), value, qos=1, retain=True)
        text = json.dumps(summary, sort_keys=True)
        if self._summaries.get(room_id) != text:
            self._summaries[room_id] = text
            link.publish(topics.summary(room_id), text, qos=1, retain=True)

    def _publish_service_state(self) -> None:
        now = time.time()
        failing = sorted(name for name, f in self._jobs.failures.items() if now - f.last_at <= RECENT_S)
        state = json.dumps(
            {
                "version": __version__,
                "healthy": self._jobs.healthy(),
                "failing": failing,
                "broker": str(self.link.address),
                "connects": self.link.connects,
                "rooms": sorted(self.rooms),
                "instance": self.catalogue.instance,  # with a standby: the one that leads (this one)
            },
            sort_keys=True,
        )
        if state != self._service_state:
            self._service_state = state
            self.link.publish(topics.SERVICE_STATE, state, qos=1, retain=True)

    def _event(self, room_id: str, event_type: str, detail: Mapping[str, Any]) -> None:
        """One event on the room's event entity, at least EVENT_SPACING_S after the one before it.

        Home Assistant's MQTT event entity keeps an event only if its state, the time it came in
        to the millisecond, differs from the last one's: a cue that fell due with a phase change
        (a check-in at the start of the peak) arrived in the same millisecond and was lost. So
        events of one room go out in order, spaced; other rooms' are not held up."""
        payload = json.dumps({"event_type": event_type, **_flat(detail)})
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = max(now, self._next_event_at.get(room_id, now))
        self._next_event_at[room_id] = at + EVENT_SPACING_S
        if at <= now:
            self.link.publish(topics.events(room_id), payload, qos=1)
        else:
            loop.call_at(at, lambda: self.link.publish(topics.events(room_id), payload, qos=1))

    # --- commands --------------------------------------------------------------------------

    def _command(self, topic_filter: str, parse: Parser) -> None:
        def handle(topic: str, payload: bytes, retained: bool) -> None:  # never retained: see subscribe
            room = self._room_for(topic)
            if room is None:
                return
            try:
                command = parse(payload)
            except commands.BadCommand as exc:
                log.warning("MQTT command on %s ignored: %s", topic, exc)
                return
            self._jobs.spawn(f"mqtt {type(command).__name__} {room.id}", self._run(room, command))

        self.link.subscribe(topic_filter, handle, commands=True)

    def _room_for(self, topic: str) -> RoomController | None:
        room_id = topics.room_of(topic)
        room = self.rooms.get(room_id)
        if room is None:
            log.warning("MQTT message on %s for unknown room %r ignored", topic, room_id[:40])
        return room

    def _on_panic(self, topic: str, payload: bytes, retained: bool) -> None:  # never retained: see subscribe
        room = self._room_for(topic)
        if room is None:
            return
        press, warning = commands.panic_press(payload)
        if warning:
            log.warning("panic message on %s: %s", topic, warning)
        self._jobs.spawn(f"mqtt panic {room.id}", room.panic(press.by))

    def _on_fallback_panic(self, topic: str, payload: bytes, retained: bool) -> None:
        if not payload:
            return  # our own clearing, echoed
        room = self._room_for(topic)
        if room is None:
            self.link.clear_retained(topic)
            return
        self.link.clear_retained(topic)  # acted on once, whatever it says
        try:
            report = commands.fallback_panic(payload)
        except commands.BadCommand as exc:
            log.warning("panic fallback report on %s ignored: %s", topic, exc)
            return
        age_s = room.clock.now() - report.at
        if not -300 <= age_s <= FALLBACK_PANIC_MAX_AGE_S:
            log.warning("panic fallback report on %s from %s ignored: %.0f s old", topic, iso(report.at), age_s)
            return
        if room.in_panic():
            log.info("%s: Home Assistant handled a panic while Arcroom was down; the room is in panic already", room.id)
            return
        log.warning("%s: Home Assistant handled a panic at %s while Arcroom was down: panic", room.id, iso(report.at))
        self._jobs.spawn(f"mqtt fallback panic {room.id}", room.panic(f"{report.by} (while Arcroom was down)"))

    async def _run(self, room: RoomController, command: commands.Command) -> None:
        try:
            what = await self._apply(room, command)
        except DomainError as exc:
            log.warning("MQTT command in %s by %s refused: %s", room.id, command.by, exc)
            self._event(room.id, "refused", {"command": _describe(command), "reason": str(exc), "by": command.by})
            return
        log.info("MQTT command in %s by %s: %s", room.id, command.by, what)

    async def _apply(self, room: RoomController, c: commands.Command) -> str:
        match c:
            case commands.ClearPanic(mode=mode, by=by):
                await room.clear_panic(mode, by)
                return f"panic cleared ({mode})"
            case commands.SessionCommand(action="hold", by=by):
                room.hold(by=by)
                return "session held"
            case commands.SessionCommand(action="resume", by=by):
                room.resume(by=by)
                return "session resumed"
            case commands.SessionCommand(action="advance", confirm=confirm, by=by):
                return self._advance(room, confirm, by)
            case commands.SceneCommand(scene=scene, by=by):
                room.set_scene(scene, None, by)
                return f"scene {scene}"
            case commands.VolumeCommand(volume_pct=volume_pct, by=by):
                status = await room.audio(None, volume_pct, by)
                return f"volume {status.volume_pct} % (asked {volume_pct} %)"
            case commands.MusicCommand(action=action, by=by):
                await room.audio(action, None, by)
                return f"music {action}"
            case commands.TalkCommand(on=on, by=by):
                return await _talk(room, on, by)
        raise AssertionError(f"unhandled command {c!r}")  # pragma: no cover - every parser's result is matched

    def _advance(self, room: RoomController, confirm: bool, by: str) -> str:
        now = room.clock.now()
        armed_until = self._advance_armed.pop(room.id, -math.inf)
        if confirm or now <= armed_until:
            state = room.advance(by=by)
            return f"advanced to {state.phase}"
        session = room.session()
        if session is None:
            room.advance(by=by)  # refused, with the room's own reason
            raise AssertionError("advance without a session was not refused")  # pragma: no cover
        check_advance(session)  # refuse now what the confirmation would be refused
        self._advance_armed[room.id] = now + ADVANCE_CONFIRM_S
        upcoming = session.phases[session.phase_index + 1 :]
        following = upcoming[0].name if upcoming else None
        self._event(
            room.id, "advance_armed", {"until": iso(now + ADVANCE_CONFIRM_S), "next_phase": following, "by": by}
        )
        return f"next phase armed until {iso(now + ADVANCE_CONFIRM_S)}: send advance again to confirm"


def _talk_state(room: RoomController) -> bool:
    return room.audio_status().talking


async def _talk(room: RoomController, on: bool, by: str) -> str:
    await room.talk(on, by)
    return f"talk {'on' if on else 'off'}"


def _describe(c: commands.Command) -> str:
    fields = {k: v for k, v in vars(c).items() if k != "by"}
    return f"{type(c).__name__} {fields}"


def _flat(detail: Mapping[str, Any]) -> dict[str, Any]:
    """A room change's detail as event attributes: plain values only, strings bounded."""
    out: dict[str, Any] = {}
    for key, value in list(detail.items())[:20]:
        if key in ("event_type", "event_types"):
            continue
        if isinstance(value, str):
            out[key] = value[:_DETAIL_MAX_CHARS]
        elif value is None or isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
            out[key] = value
    if isinstance(out.get("due_at"), float):
        out["due_at"] = iso(out["due_at"])
    return out


def catalogue_for(
    presets: Iterable[Preset],
    scenes: Iterable[str],
    public_url: str,
    status_topic: str = topics.STATUS,
    instance: str | None = None,
) -> Catalogue:
    """What discovery needs from the data files: every phase and scene name, and where the dashboard is."""
    phases = sorted({phase.name for preset in presets for phase in preset.phases})
    return Catalogue(
        public_url=public_url,
        phases=tuple(phases),
        scenes=tuple(sorted(scenes)),
        talk=True,
        status_topic=status_topic,
        instance=instance,
    )
