"""One room: its session, lights, music and panic state, and the rules that tie them together.

Routes and the MQTT bridge talk to a room, never to the engine, the lights or the decks
separately. What the lights should show is asked of one function (`intended_state`) on every
path: a phase change, restore after a panic, a manual change or clearing it, a session's start
and end, and a restart.

What may happen during a panic (and while held after one): recording a dose or a booster,
starting or ending a session, advancing or extending a phase, notes, readings, acknowledging
cues and alerts, facilitators signing in and out, ready to leave, and the volume, Talk,
choosing another playlist and asking for gentler music (a playlist chosen in panic plays when
the music resumes). Refused with 409: manual light changes, pausing/resuming/skipping the
music, and `hold`/`resume` of the session (the panic freezes the arc already; clear it with
hold or restore).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from app import counters
from app.audio.player import Player
from app.audio.snapcast import SnapcastOutput
from app.domain.clock import Clock
from app.domain.errors import Conflict, NotFound
from app.domain.events import EventType
from app.domain.intended import Intended, SceneSource, intended_state, override_in_force
from app.domain.light import OFF, LightState, merge
from app.domain.playlists import Playlist
from app.domain.profiles import Profile
from app.domain.readings import Readings
from app.domain.room_log import IDLE, ManualOverride, PanicStatus, RoomEvent, RoomEventType, RoomRecord, apply
from app.domain.rooms import Room
from app.domain.scenes import Scene
from app.domain.session import SessionState
from app.engine import SessionEngine
from app.lighting.controller import LightView, Link, RoomLights
from app.music.decks import MusicStatus
from app.music.director import AudioAction, MusicDirector, PlaylistOption
from app.music.options import MusicOptions
from app.panic import AUDIO_CONFIRM_S, ClearMode, LightDelivery, PanicResult, audio_outcome
from app.pubsub import Hub
from app.room_session import Notice
from app.store import EventStore
from app.supervisor import Supervisor

log = logging.getLogger(__name__)

RESTART_FADE_S = 5.0  # after a restart, lights that reported fade from where they are
REPORT_WAIT_S = 1.0  # after a restart, how long to wait for the lights to say where they are
RESTORE_LIGHTS_S = 10.0  # clearing a panic: slow enough not to startle, quick enough to be useful
RESTORE_AUDIO_FADE_S = 8.0
RESTORE_AUDIO_WAIT_S = 1.0
CLEAR_OVERRIDE_FADE_S = 10.0
# How often, at most, a room's light reports are passed on to listeners: software fades make
# several reports a second per light, and a dashboard needs a few per second at most.
LIGHT_NOTICE_INTERVAL_S = 0.25
# Session events that change neither the arc nor the music.
_NO_REPLAN = {
    EventType.NOTE.value,
    EventType.CUE_ACKNOWLEDGED.value,
    EventType.READING.value,
    EventType.ALERT_ACKNOWLEDGED.value,
    EventType.FACILITATOR_SIGNED_IN.value,
    EventType.FACILITATOR_SIGNED_OUT.value,
    EventType.READY_TO_LEAVE.value,
    EventType.REMS_FILED.value,
}


# A command the room can refuse as a whole, whatever its details: what the dashboard disables.
RefusableCommand = Literal["hold", "resume", "lights", "music"]

# What a panic (and the hold after one) refuses, and why.
PANIC_REFUSES: dict[RefusableCommand, str] = {
    "hold": "the panic has already frozen the session; clear it with mode 'hold' (keep it bright and quiet) "
    "to keep it on hold",
    "resume": "restore the room (clear the panic with mode 'restore') to bring the room and the session back",
    "lights": "the lights stay at the panic scene until the panic is cleared",
    "music": "restore the room (clear the panic with mode 'restore') to bring the music back",
}


@dataclass(frozen=True)
class RoomChange:
    """Something in a room changed: a session notice kind, "panic", "lights", "music", ..."""

    room: str
    kind: str
    detail: dict[str, Any]


class RoomLighting(BaseModel):
    scene: str | None = Field(description="The scene the lights were last sent towards; None before the first command")
    source: SceneSource | None = Field(description="Why: panic, held, manual, phase, or idle (no session)")
    override: ManualOverride | None = Field(description="A manual change in force (until the next phase or cleared)")
    lights: list[LightView] = Field(description="Each light: commanded, reported, online, confirmed, its fade")


class RoomController:
    def __init__(
        self,
        room: Room,
        *,
        engine: SessionEngine,
        store: EventStore,
        scenes: Mapping[str, Scene],
        profiles: Mapping[str, Profile],
        playlists: Mapping[str, Playlist],
        link: Link,
        players: tuple[Player, Player],
        libraries: Mapping[str, Path],
        clock: Clock,
        jobs: Supervisor,
        changes: Hub[RoomChange],
        panic_audio_fade_s: float = 0.0,
        music_options: MusicOptions | None = None,
        speakers: SnapcastOutput | None = None,
    ) -> None:
        self.room = room
        self.id = room.id
        self.sessions = engine.session(room.id)  # this room's session: its events, its state, its commands
        self.store = store
        self.scenes = scenes
        self.clock = clock
        self._jobs = jobs
        self._changes = changes
        self._panic_audio_fade_s = panic_audio_fade_s
        self._libraries = libraries
        self.lights = RoomLights(room, profiles, link, clock, on_change=self._lights_changed)
        self.music = MusicDirector(
            room.id,
            self.sessions,
            playlists,
            players,
            libraries,
            clock,
            ceiling_pct=room.audio.volume_ceiling_pct,
            volume_pct=room.audio.volume_pct,
            on_change=lambda detail: self._changed("music", detail),
            jobs=jobs,
            options=music_options,
            speakers=speakers,
        )
        self._events: list[RoomEvent] = []
        self._record: RoomRecord = IDLE
        self._shown: Intended | None = None
        self._light_notice_pending = False
        self.version = 0  # bumped on every change of the room's own state: lets views be cached
        self.sessions.listen(self._on_notice)

    # --- lifecycle -----------------------------------------------------------------------------

    def load(self) -> None:
        """The room's own log, as the last run left it (panic, held, a manual override)."""
        self._events = self.store.room_events(self.id)
        for event in self._events:
            self._record = apply(self._record, event)
        if self._record.panic.active:
            log.warning(
                "%s comes back %s (since %s, by %s)",
                self.id,
                "in panic" if self._record.panic.mode == "panic" else "held after a panic",
                self._record.panic.since,
                self._record.panic.by,
            )
            session = self.session()
            if session is not None and not session.panic and not session.held:
                # The room's log has the panic and the session's does not: a standby recorded it
                # (app/standby.py), or the service stopped between the two writes. The session
                # freezes now, as the room did.
                log.warning("%s: the running session is frozen by the room's panic", self.id)
                self._freeze_session(self._record.panic)

    async def start(self) -> None:
        self.lights.attach()
        await self.music.start()

    async def close(self) -> None:
        await self.music.close()

    async def take_over(self) -> None:
        """After a (re)start, show what the room should show now, without an abrupt change: in panic
        at once; otherwise once the lights had a moment to say where they are, so each fades from there."""
        if self._record.panic.active:
            self._show(0.0)
            await self.music.silence_speakers()
        self.music.replan_soon()
        if self._record.panic.active:
            return
        await self.lights.wait_for_reports(REPORT_WAIT_S)
        if self._shown is not None:
            return  # a phase change (or a command) got there first
        if self._record.override is not None and override_in_force(self._record, self.session()) is None:
            self._log(RoomEventType.LIGHTS_OVERRIDE_CLEARED, {"reason": "a new phase began while the service was down"})
        self._show(max(RESTART_FADE_S, self._fade_left()))

    def _fade_left(self) -> float:
        """How much of the fade into what the room shows was still to come: a restart mid-fade
        finishes it on time rather than in a few seconds."""
        intended = self.intended()
        if intended.override is not None:
            ends_at = intended.override.fade_ends_at
        elif (session := self.session()) is not None:
            ends_at = session.phase_started_at + self.scenes[intended.scene].fade_s
        else:
            return 0.0
        return max(0.0, ends_at - self.clock.now())

    # --- reading -------------------------------------------------------------------------------

    def session(self) -> SessionState | None:
        return self.sessions.state()

    def refused(self) -> dict[RefusableCommand, str]:
        """The commands the room refuses now, each with its reason ("in panic: ..."): the one rule
        behind the API's 409s and the dashboard's disabled buttons."""
        panic = self._record.panic
        if not panic.active:
            return {}
        state = "in panic" if panic.mode == "panic" else "held after a panic"
        return {command: f"{state}: {why}" for command, why in PANIC_REFUSES.items()}

    def panic_status(self) -> PanicStatus:
        return self._record.panic

    def in_panic(self) -> bool:
        return self._record.panic.active

    def intended(self) -> Intended:
        session = None if self._record.panic.active else self.session()
        return intended_state(self.room, self.scenes, self._record, session)

    def lighting(self, session: SessionState | None = None) -> RoomLighting:
        """What the lights show and why; `session`: the state just read, if the caller has it (one
        projection per view), else it is read here."""
        shown = self._shown
        if session is None and not self._record.panic.active:
            session = self.session()
        override = None if self._record.panic.active else override_in_force(self._record, session)
        return RoomLighting(
            scene=shown.scene if shown else None,
            source=shown.source if shown else None,
            override=override,
            lights=self.lights.view(),
        )

    def audio_status(self) -> MusicStatus:
        return self.music.status()

    # --- the session -----------------------------------------------------------------------------

    def start_session(
        self,
        preset_id: str,
        client_label: str | None,
        playlist_id: str | None,
        by: str | None = None,
        intention: str | None = None,
    ) -> SessionState:
        self.sessions.preset(preset_id)
        playlist = self.music.playlist_for_new_session(preset_id, playlist_id)
        state = self.sessions.start(preset_id, client_label, playlist, by=by, intention=intention)
        panic = self._record.panic
        if panic.active:
            # The room is in panic (or held): the new session begins frozen, as the room is.
            self._freeze_session(panic)
            state = self._require_session()
        return state

    def _freeze_session(self, panic: PanicStatus) -> None:
        self.sessions.panic(panic.by or "room")
        if panic.mode == "held":
            self.sessions.clear_panic("hold", panic.by or "room")

    def dose(
        self,
        *,
        booster: bool,
        amount: float | None,
        unit: str | None = None,
        lot: str | None = None,
        override_reason: str | None = None,
        by: str | None = None,
    ) -> SessionState:
        return self.sessions.dose(
            booster=booster, amount=amount, unit=unit, lot=lot, override_reason=override_reason, by=by
        )

    def advance(self, by: str | None = None) -> SessionState:
        return self.sessions.advance(by)

    def undo_advance(self, by: str | None = None) -> SessionState:
        return self.sessions.undo_advance(by)

    def extend(self, minutes: float, by: str | None = None) -> SessionState:
        return self.sessions.extend(minutes, by)

    def hold(self, by: str | None = None) -> SessionState:
        self._refuse("hold")
        return self.sessions.hold(by)

    def resume(self, by: str | None = None) -> SessionState:
        self._refuse("resume")
        return self.sessions.resume(by)

    def note(self, text: str, by: str | None = None) -> SessionState:
        return self.sessions.note(text, by)

    def acknowledge(
        self,
        cue_id: str,
        readings: Readings | None = None,
        not_taken_reason: str | None = None,
        by: str | None = None,
    ) -> SessionState:
        return self.sessions.acknowledge(cue_id, readings, not_taken_reason, by)

    def record_reading(self, readings: Readings, kind: str | None = None, by: str | None = None) -> SessionState:
        return self.sessions.record_reading(readings, kind, by)

    def acknowledge_alert(self, alert_id: str, facilitator: str | None = None, by: str | None = None) -> SessionState:
        return self.sessions.acknowledge_alert(alert_id, facilitator, by)

    def sign_in(self, name: str, by: str | None = None) -> SessionState:
        return self.sessions.sign_in(name, by)

    def sign_out(self, name: str, by: str | None = None) -> SessionState:
        return self.sessions.sign_out(name, by)

    def ready_to_leave(self, by: str | None = None) -> SessionState:
        return self.sessions.ready_to_leave(by)

    def end(self, override_reason: str | None, by: str | None = None) -> SessionState:
        return self.sessions.end(override_reason, by)

    def _require_session(self) -> SessionState:
        state = self.session()
        if state is None:
            raise Conflict(f"room {self.id!r} has no session running; start one first")
        return state

    # --- panic ---------------------------------------------------------------------------------

    async def panic(self, by: str) -> PanicResult:
        """Every light up bright, the music paused, the session frozen: each effect guarded on its own."""
        started = time.perf_counter()
        errors: list[str] = []
        already = self._record.panic.mode == "panic"
        if already:
            log.warning("panic in %s while already in panic (by %s): light commands sent again", self.id, by)
        # Applied in memory first and written after the lights are out: a busy database (a backup,
        # a purge) holds its lock for a while, and the lights must not wait for the disk.
        panic_event = self._apply(RoomEventType.PANIC, {"by": by})
        # 1. Lights: queued for the broker now; nothing here waits for the network.
        try:
            failed = self._show(0.0, force=True)
            errors += [f"light {name}: could not be commanded (see the log)" for name in failed]
        except Exception as exc:  # the audio and the record must still happen
            log.exception("panic in %s: the lights could not be commanded", self.id)
            errors.append(f"lights: {type(exc).__name__}: {exc}")
        # 2. Audio: on its own thread; we wait a little for the answer, never for a hung player.
        pause = self._jobs.spawn(f"panic audio {self.id}", self.music.pause_for_panic(self._panic_audio_fade_s))
        await asyncio.sleep(0)  # the pause is on the player's thread before anything waits for the database
        self._store(panic_event, errors)
        # 3. Session: recorded and frozen (no cue, phase change or scene fade fires in panic).
        session_id = None
        try:
            state = self.sessions.panic(by)
            session_id = state.session_id if state else None
        except Exception as exc:  # the room must still brighten if the database is failing
            log.exception("panic in %s: the session could not record it", self.id)
            errors.append(f"session: {type(exc).__name__}: {exc}")
        audio = await audio_outcome(pause, AUDIO_CONFIRM_S, started)
        self._changed("panic", {"by": by})
        took_ms = (time.perf_counter() - started) * 1000
        log.warning("PANIC in %s by %s: handled in %.1f ms, audio %s", self.id, by, took_ms, audio.status)
        counters.panic_handled(self.id, took_ms / 1000, audio.confirmed_ms)
        return PanicResult(
            room=self.id,
            panic=True,
            already=already,
            took_ms=round(took_ms, 3),
            lights=[LightDelivery(name=n, status=s) for n, s in self.lights.delivery().items()],
            audio=audio,
            session_id=session_id,
            errors=errors,
        )

    async def clear_panic(self, mode: ClearMode, by: str) -> PanicStatus:
        """restore: the room fades to what it should show now and the music comes back; hold: it
        stays bright and quiet, the session on hold, until cleared again with restore."""
        panic = self._record.panic
        if not panic.active:
            raise Conflict(f"room {self.id!r} is not in panic")
        if panic.mode == "held" and mode == "hold":
            raise Conflict(
                f"room {self.id!r} is already held after a panic; clear with mode 'restore' to bring it back"
            )
        self._log(RoomEventType.PANIC_CLEARED, {"mode": mode, "by": by})
        if mode == "restore":
            self._show(RESTORE_LIGHTS_S)
        self.sessions.clear_panic(mode, by)
        if mode == "restore" and self.session() is not None:
            resume = self._jobs.spawn(f"restore audio {self.id}", self.music.resume_after_panic(RESTORE_AUDIO_FADE_S))
            outcome = await audio_outcome(resume, RESTORE_AUDIO_WAIT_S, time.perf_counter())
            if outcome.error is not None:
                log.warning("audio in %s did not confirm resuming after panic: %s", self.id, outcome.error)
        self._changed("panic_cleared", {"mode": mode, "by": by})
        return self._record.panic

    # --- lights by hand ------------------------------------------------------------------------

    def set_scene(self, scene_name: str, transition_s: float | None, by: str) -> RoomLighting:
        """A scene by hand: holds until the next phase change, or until cleared."""
        self._refuse("lights")
        scene = self.scenes.get(scene_name)
        if scene is None:
            raise NotFound(f"no scene {scene_name!r}; have: {', '.join(sorted(self.scenes))}")
        lights = {light.name: scene.for_role(light.role) for light in self.room.lights}
        fade_s = scene.fade_s if transition_s is None else transition_s
        self._log_override(lights, f"scene {scene_name}", by, fade_s, scene=scene_name)
        self._show(fade_s)
        return self.lighting()

    def adjust(
        self,
        light: str | None,
        *,
        on: bool | None = None,
        brightness_pct: float | None = None,
        kelvin: int | None = None,
        rgb: tuple[int, int, int] | None = None,
        transition_s: float = 2.0,
        by: str = "",
    ) -> RoomLighting:
        """A change to one light or (light=None) every light; holds like a scene by hand."""
        self._refuse("lights")
        names = self.lights.names()
        if light is not None:
            if light not in names:
                raise NotFound(f"no light {light!r} in room {self.id!r}")
            names = [light]
        changes: dict[str, object] = {}
        if brightness_pct is not None:
            changes.update(on=brightness_pct > 0, brightness_pct=brightness_pct)
        if on is not None:
            changes["on"] = on
        if kelvin is not None:
            changes.update(kelvin=kelvin, rgb=None)
        if rgb is not None:
            changes["rgb"] = rgb
        lights = {name: merge(self.lights.target(name) or OFF, changes) for name in names}
        what = ", ".join(
            f"{k}={v}"
            for k, v in [("on", on), ("brightness", brightness_pct), ("kelvin", kelvin), ("rgb", rgb)]
            if v is not None
        )
        self._log_override(lights, f"{light or 'all lights'}: {what}", by, transition_s)
        self._show(transition_s)
        return self.lighting()

    def clear_override(self, by: str) -> RoomLighting:
        """Back to what the phase (or the idle room) shows, over CLEAR_OVERRIDE_FADE_S."""
        if self._record.override is not None:
            self._log(RoomEventType.LIGHTS_OVERRIDE_CLEARED, {"by": by})
            if not self._record.panic.active:
                self._show(CLEAR_OVERRIDE_FADE_S)
            self._changed("lights", {"override": None})
        return self.lighting()

    # --- music by hand -------------------------------------------------------------------------

    async def audio(self, action: AudioAction | None, volume_pct: int | None, by: str) -> MusicStatus:
        if action is not None:
            self._refuse("music")
        return await self.music.command(action, volume_pct, by)

    async def talk(self, on: bool, by: str) -> MusicStatus:
        """Talk on: the music ducks (ARCROOM_TALK_*) until released or its timeout; off: it comes back."""
        return await self.music.talk(on, by)

    async def choose_playlist(self, playlist_id: str, by: str) -> MusicStatus:
        """Another playlist for the running session: it crossfades in at the arc's current phase."""
        return await self.music.choose(playlist_id, by)

    async def gentler(self, by: str) -> MusicStatus:
        """Gentler music from the next track on, for the rest of the current phase."""
        return await self.music.gentler(by)

    def playlist_options(self) -> list[PlaylistOption]:
        """The playlists the running session may switch to (empty when idle)."""
        return self.music.options_for_session()

    # --- internals -----------------------------------------------------------------------------

    def _refuse(self, command: RefusableCommand) -> None:
        if (why := self.refused().get(command)) is not None:
            raise Conflict(f"room {self.id!r} is {why}")

    def _show(self, transition_s: float, *, force: bool = False) -> list[str]:
        """Send the lights towards what the room should show now (only what changed, unless forced);
        the names of lights that could not be commanded."""
        intended = self.intended()
        if intended == self._shown and not force:
            return []
        failed = self.lights.show(intended.lights, transition_s, force=force)
        self._shown = intended
        self.version += 1
        return failed

    def _log(self, type_: RoomEventType, data: dict[str, Any]) -> None:
        """Record a room event, then apply it (if the database fails, nothing changes: 500)."""
        event = self.store.append_room_event(self.id, self.clock.now(), type_, data)
        self._events.append(event)
        self._record = apply(self._record, event)
        self.version += 1

    def _apply(self, type_: RoomEventType, data: dict[str, Any]) -> RoomEvent:
        """Apply a room event at once, before it is stored (the panic's: see panic())."""
        event = RoomEvent(seq=len(self._events), at=self.clock.now(), type=type_, data=data)
        self._events.append(event)
        self._record = apply(self._record, event)
        self.version += 1
        return event

    def _store(self, event: RoomEvent, errors: list[str]) -> None:
        """Write an event applied by _apply; if the database fails the room still acts on it, and says so."""
        try:
            self.store.append_room_event(self.id, event.at, event.type, event.data)
        except Exception as exc:  # a panic must still brighten the room
            log.exception("%s: could not record %s", self.id, event.type.value)
            errors.append(f"record: {type(exc).__name__}: {exc}")

    def _log_override(
        self, lights: Mapping[str, LightState], detail: str, by: str, transition_s: float, scene: str | None = None
    ) -> None:
        self._log(
            RoomEventType.LIGHTS_OVERRIDE,
            {
                "detail": detail,
                "by": by,
                "scene": scene,
                "transition_s": transition_s,
                "lights": {name: state.model_dump(mode="json", exclude_none=True) for name, state in lights.items()},
            },
        )

    def _on_notice(self, notice: Notice) -> None:
        if notice.kind == "phase" or notice.kind == "session_ended":
            if self._record.override is not None:
                why = "the session ended" if notice.kind == "session_ended" else f"phase {notice.state.phase} began"
                self._log(RoomEventType.LIGHTS_OVERRIDE_CLEARED, {"reason": why})
            intended = self.intended()
            self._show(intended.fade_s(self.scenes))
        if notice.kind not in ("cue", "alert") and notice.detail.get("type") not in _NO_REPLAN:
            self.music.replan_soon()
        self._changed(notice.kind, notice.detail)

    def _changed(self, kind: str, detail: dict[str, Any]) -> None:
        self.version += 1
        self._changes.publish(RoomChange(self.id, kind, detail))

    def _lights_changed(self) -> None:
        if self._light_notice_pending:
            return
        self._light_notice_pending = True

        def flush() -> None:
            self._light_notice_pending = False
            self._changed("lights", {})

        asyncio.get_running_loop().call_later(LIGHT_NOTICE_INTERVAL_S, flush)
