"""A room's music follows its session: re-planned on every change, its events in the session log.

The plan is a pure function of the session (app/domain/music_plan.py); the director decides when
to re-plan, records what the music did and what the facilitator chose (paused, resumed, skipped,
failed, Talk, another playlist, gentler music) as session events so a restart knows where the
music really is, and hands the plan to the room's two decks. Each plan carries the tracks'
loudness gains, read from the libraries' loudness caches off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from app.audio.player import Player
from app.audio.snapcast import SnapcastOutput
from app.domain.clock import Clock
from app.domain.errors import Conflict, NotFound
from app.domain.events import Event, EventType
from app.domain.music_events import (
    gentler_requests,
    music_pauses,
    music_skips,
    playlist_choices,
    talk_on,
)
from app.domain.music_plan import MusicPlan, PlanSteps, PlaylistChoice, session_plan_steps
from app.domain.playlists import Playlist, default_candidates
from app.domain.session import SessionState
from app.music.availability import Availability, availability
from app.music.decks import DeckPair, MusicStatus
from app.music.loudness import PlaylistGains
from app.music.options import MusicOptions
from app.room_session import RoomSession
from app.supervisor import Supervisor

log = logging.getLogger(__name__)

AVAILABILITY_EVERY_S = 30.0

AudioAction = Literal["pause", "resume", "skip"]


class PlaylistOption(BaseModel):
    """A playlist a facilitator may choose for the running session."""

    id: str
    title: str
    curator: str
    library: str
    playing: bool  # the one playing now
    available: bool  # made for the session's preset and its library configured
    why_not: str | None = None  # when not available


GAINS_REFRESH_S = 300.0  # a library scan made meanwhile applies to tracks started after the next refresh
PAUSE_FADE_S = 2.0  # the therapist's pause: quick, but not a cut
RESUME_FADE_S = 3.0
REFRESH_S = 30 * 60
PANIC_PAUSE_FIRST_S = 1.0  # the longest a re-plan waits for a panic's pause to be confirmed


class MusicDirector:
    def __init__(
        self,
        room_id: str,
        session: RoomSession,
        playlists: Mapping[str, Playlist],
        players: tuple[Player, Player],
        libraries: Mapping[str, Path],
        clock: Clock,
        *,
        ceiling_pct: int,
        volume_pct: int,
        on_change: Callable[[dict[str, Any]], None],
        jobs: Supervisor,
        options: MusicOptions | None = None,
        speakers: SnapcastOutput | None = None,
    ) -> None:
        self.room_id = room_id
        self.speakers = speakers  # where the room hears the decks, when that is not the box itself
        self.session = session  # the room's session: the music reads it and records what it did
        self.playlists = playlists
        self.libraries = libraries
        self.clock = clock
        self.options = options or MusicOptions()
        self._gains = PlaylistGains(libraries, self.options.loudness, self.options.loudness_caches)
        self._playlist_gains: dict[str, dict[str, float]] = {}  # playlist id -> path -> gain_db
        self.decks = DeckPair(
            room_id,
            players,
            libraries,
            clock,
            ceiling_pct=ceiling_pct,
            volume_pct=volume_pct,
            on_event=self._on_deck_event,
        )
        self._on_change = on_change
        self._jobs = jobs
        self._plan: MusicPlan | None = None
        self._lock = asyncio.Lock()
        self._replan_pending = False
        self._quiet = asyncio.Event()  # cleared while a panic's pause is under way
        self._quiet.set()
        self._settled = asyncio.Event()  # set when no re-plan is asked for or being made
        self._settled.set()
        self._replanning = 0  # re-plans begun and not yet done (waiting for the lock included)
        self._talk_until: float | None = None  # Talk is on until then
        self._talk_generation = 0  # a timeout ends only the press that set it
        self._talk_restored = False  # after a (re)start, a Talk still in force is taken up once
        self._gentler = False  # asked for in the current phase
        self._gentler_available = False  # the current segment has intensity tags to steer by
        self._availability: tuple[Availability, float] | None = None  # and when it was checked (monotonic)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self.speakers is not None:
            await self.speakers.start()
        await self.decks.start()
        try:
            await self.refresh_gains()
        except Exception:  # the music plays on at 0 dB; the next refresh tries again
            log.exception("music %s: could not read the loudness caches", self.room_id)

    async def close(self) -> None:
        await self.decks.close()
        if self.speakers is not None:
            await self.speakers.close()

    async def run(self) -> None:
        """Drive the decks, and re-plan now and then: an open-ended phase (closing) is planned only
        a few hours ahead and sends no notices of its own. Runs until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.decks.run())
            group.create_task(self._refresh())
            group.create_task(self._watch_gains())
            if self.speakers is not None:
                group.create_task(self.speakers.run())

    async def refresh_gains(self) -> bool:
        """Read every playlist's loudness gains from the caches, off the loop; whether any changed.

        Plans take them from memory, so making one (on the panic path too) never waits for a disk."""
        gains = await asyncio.to_thread(self._gains_for, list(self.playlists.values()))
        changed = gains != self._playlist_gains
        self._playlist_gains = gains
        return changed

    async def _watch_gains(self) -> None:
        while True:
            await self.clock.sleep_until(self.clock.now() + GAINS_REFRESH_S)
            try:
                changed = await self.refresh_gains()
            except Exception:
                log.exception("music %s: could not read the loudness caches", self.room_id)
                continue
            if changed and self.session.events() is not None:
                await self.replan()

    async def _refresh(self) -> None:
        while True:
            await self.clock.sleep_until(self.clock.now() + REFRESH_S)
            if self.session.events() is not None:
                await self.replan()

    # --- reading -------------------------------------------------------------------------------

    def playlist(self) -> Playlist | None:
        """The playlist playing now: the session's first, or the latest chosen since."""
        events = self.session.events()
        return None if events is None else self._current_playlist(events)

    def _current_playlist(self, events: list[Event]) -> Playlist | None:
        known = [self.playlists[pid] for _, pid in playlist_choices(events) if pid in self.playlists]
        return known[-1] if known else None

    @property
    def plan(self) -> MusicPlan | None:
        return self._plan

    def status(self) -> MusicStatus:
        talking = self._talk_until is not None
        status = self.decks.status()
        update: dict[str, Any] = {
            "talking": talking,
            "talk_until": self._talk_until,
            "gentler": self._gentler and self._plan is not None,
            "gentler_available": self._gentler_available and self._plan is not None,
            "played_by": self.options.instance,
        }
        if (found := self.library_problem()) is not None:
            update["missing_tracks"] = found.describe()
            # Failed only while nothing sounds: what the decks play is the truth, missing files or not.
            if found.unplayable and status.state in ("stopped", "error"):
                update |= {"state": "error", "error": found.describe()}
        if self.speakers is not None:
            update["snapcast"] = self.speakers.status()
            update["duck_db"] = round(self.speakers.duck_db, 2)
            if (problem := self.speakers.problem()) is not None:
                update |= {"state": "error", "error": problem}
        return status.model_copy(update=update)

    def library_problem(self) -> Availability | None:
        """The session's playlist, if some of its files are not there (checked at most every
        AVAILABILITY_EVERY_S: a library mounted late is found without a restart)."""
        playlist = self.playlist()
        if playlist is None:
            return None
        now = time.monotonic()
        cached = self._availability
        if cached is None or cached[0].playlist != playlist.id or now - cached[1] >= AVAILABILITY_EVERY_S:
            self._availability = cached = (availability(playlist, self.libraries), now)
        return None if cached[0].complete else cached[0]

    def playlist_for_new_session(self, preset_id: str, playlist_id: str | None) -> str | None:
        return choose_playlist(preset_id, playlist_id, self.playlists, self.libraries, self.options.default_playlists)

    # --- following the session -----------------------------------------------------------------

    def replan_soon(self) -> None:
        """Re-plan once for everything that has happened up to the next turn of the loop (one
        action can make several session notices)."""
        self._settled.clear()
        if not self._replan_pending:
            self._replan_pending = True
            self._jobs.spawn(f"music plan {self.room_id}", self._replan_when_due())

    async def _replan_when_due(self) -> None:
        await asyncio.sleep(0)
        if not self._quiet.is_set():
            # The panic's own re-plan waits for its pause: nothing stands between the panic and its
            # confirmation (the decks are quiet meanwhile whatever the plan says). A hung player
            # holds it up for a second at most.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), PANIC_PAUSE_FIRST_S)
        if self._replan_pending:  # else a re-plan since the request has read what it was for
            await self.replan()

    async def replan(self) -> None:
        self._settled.clear()
        self._replanning += 1
        try:
            async with self._lock:
                before = self._plan
                while not await self._replan_once():
                    pass  # the session changed while its plan was being built: built again from the new record
                self._talk_restored = True
        finally:
            self._replanning -= 1
            if not self._replan_pending and not self._replanning:
                self._settled.set()
        if self._plan != before:
            self._on_change({"plan": "changed"})

    async def settled_plan(self) -> MusicPlan | None:
        """The plan once every re-plan asked for so far is made: a change's plan is built in slices,
        and whoever asks for the plan just after a change must get the new one."""
        await self._settled.wait()
        return self._plan

    async def _replan_once(self) -> bool:
        """The decks follow a plan made from the session's record as it is now; False (and nothing
        followed) if the record changed while the plan was being built."""
        self._replan_pending = False
        events = self.session.events()
        state = self.session.state()
        choices = [] if events is None else playlist_choices(events)
        known = [(since, self.playlists[pid]) for since, pid in choices if pid in self.playlists]
        if events is None or state is None or not known:
            self._plan = None
            self._gentler = self._gentler_available = False
            await self.decks.follow(None, None)
            if self._talk_until is not None:  # the session is over: nobody to talk over
                await self._end_talk()
            return True
        playlist = known[-1][1]  # the one playing (a change during a pause waits for the resume)
        gains = self._playlist_gains
        requests = gentler_requests(events)
        # In panic or held the plan says the music is paused (since the panic), so following it
        # keeps the decks quiet, and a restart in panic comes back paused, not stopped. Built a
        # slice at a time between the loop's other work: a long plan takes milliseconds, and a
        # panic arriving meanwhile must not wait for all of them.
        steps = session_plan_steps(
            [PlaylistChoice(since, p, gains.get(p.id)) for since, p in known],
            state.phases,
            self.clock.now(),
            pauses=music_pauses(events),
            skips=music_skips(events),
            arc_frozen=state.frozen,
            gentler_from=requests,
        )
        plan = await _interleaved(steps)
        if self._replan_pending:
            return False  # every change to the record asks for a re-plan (replan_soon)
        self._plan = plan
        self._steering(state, playlist, requests)
        await self.decks.follow(plan, playlist)
        if not self._talk_restored:
            await self._restore_talk(events)
        return True

    def _gains_for(self, playlists: list[Playlist]) -> dict[str, dict[str, float]]:
        return {p.id: self._gains.for_playlist(p) for p in playlists}

    def _steering(self, state: SessionState, playlist: Playlist, requests: list[float]) -> None:
        phase = next((p for p in state.phases if p.status == "current"), None)
        if phase is None or phase.start is None:
            self._gentler = self._gentler_available = False
            return
        segment = playlist.segments.get(phase.music)
        self._gentler_available = segment is not None and segment.median_intensity is not None
        self._gentler = any(r >= phase.start for r in requests)

    # --- the panic path's audio --------------------------------------------------------------

    def pause_for_panic(self, fade_s: float = 0.0) -> Coroutine[Any, Any, None]:
        """The music stops at once (the panic event itself marks the pause in the log); re-plans
        wait from the call until it has."""
        self._quiet.clear()
        return self._pause_for_panic(fade_s)

    async def _pause_for_panic(self, fade_s: float) -> None:
        try:
            if self.speakers is None:
                await self.decks.pause(fade_s)
            else:
                # The players first: what snapserver has buffered (a second or so) must not be heard.
                await asyncio.gather(self.speakers.silence(), self.decks.pause(fade_s))
        finally:
            self._quiet.set()

    async def silence_speakers(self) -> None:
        """Keep the room's players muted (a restart in panic): applied as soon as they can be reached."""
        if self.speakers is not None:
            await self.speakers.silence()

    async def resume_after_panic(self, fade_in_s: float) -> None:
        self.session.record(EventType.AUDIO_RESUMED, {"reason": "panic cleared"})
        await self.decks.resume(fade_in_s)
        if self.speakers is not None:
            await self.speakers.unsilence()  # the decks fade in from silence: nothing abrupt is heard
        await self.replan()

    # --- the therapist's controls --------------------------------------------------------------

    async def command(self, action: AudioAction | None, volume_pct: int | None, by: str) -> MusicStatus:
        paused = self.decks.status().state == "paused"
        if action == "pause":
            if paused:
                raise Conflict("the music is already paused")
            # Logged as it starts to fade (within the plan's 3 s tolerance of when it went quiet);
            # the fade goes on without holding up the request.
            self.session.record(EventType.AUDIO_PAUSED, {"by": by, "fade_s": PAUSE_FADE_S})
            self._jobs.spawn(f"music pause {self.room_id}", self.decks.pause(PAUSE_FADE_S))
            await asyncio.sleep(0)  # let it begin, so the answer shows the music pausing
        elif action == "resume":
            if not paused:
                raise Conflict("the music is not paused")
            self.session.record(EventType.AUDIO_RESUMED, {"by": by})
            await self.decks.resume(RESUME_FADE_S)
            await self.replan()
        elif action == "skip":
            if self.session.events() is None or self._plan is None:
                raise Conflict("there is no music plan to skip in: start a session first")
            if paused:
                raise Conflict("the music is paused: resume it before skipping")
            self.session.record(EventType.TRACK_SKIPPED, {"by": by})
            await self.replan()
        if volume_pct is not None:
            # Who turned a client's music up or down belongs in the record like any other command.
            self.session.record(EventType.VOLUME_SET, {"volume_pct": volume_pct, "by": by})
            await self.decks.set_volume(volume_pct)
        self._on_change({"action": action, "volume": volume_pct})
        return self.decks.status()

    # --- Talk -------------------------------------------------------------------------------

    async def talk(self, on: bool, by: str) -> MusicStatus:
        """Talk on: the music ducks (and stays down until released or the timeout); off: it comes back."""
        options = self.options
        if on:
            if self.session.events() is None:
                raise Conflict(f"room {self.room_id!r} has no session running: there is no music to turn down")
            until = self.clock.now() + options.talk_timeout_s
            self.session.record(
                EventType.TALK,
                {"on": True, "by": by, "duck_db": options.talk_duck_db, "timeout_s": options.talk_timeout_s},
            )
            await self._start_talk(until, options.talk_fade_s)
        elif self._talk_until is not None:
            self.session.record(EventType.TALK, {"on": False, "by": by})
            await self._end_talk()
        self._on_change({"talk": on, "by": by})
        return self.status()

    async def _start_talk(self, until: float, fade_s: float) -> None:
        self._talk_generation += 1
        self._talk_until = until
        await self._duck(self.options.talk_duck_db, fade_s)
        self._jobs.spawn(f"talk timeout {self.room_id}", self._talk_timeout(self._talk_generation, until))

    async def _end_talk(self) -> None:
        self._talk_generation += 1
        self._talk_until = None
        await self._duck(0.0, self.options.talk_restore_s)

    async def _duck(self, db: float, over_s: float) -> None:
        # A Snapcast room's players are turned down themselves: the mix would be heard a buffer late.
        if self.speakers is not None:
            await self.speakers.duck(db, over_s)
        else:
            await self.decks.duck(db, over_s)

    async def _talk_timeout(self, generation: int, until: float) -> None:
        await self.clock.sleep_until(until)
        if generation == self._talk_generation and self._talk_until is not None:
            log.info("Talk in %s ended by itself after %.0f s", self.room_id, self.options.talk_timeout_s)
            await self.talk(False, "timeout")

    async def _restore_talk(self, events: list[Event]) -> None:
        """After a restart: a Talk still in force keeps the music down for what is left of it."""
        pressed = talk_on(events)
        if pressed is None:
            return
        until = pressed.at + float(pressed.data.get("timeout_s", self.options.talk_timeout_s))
        if until > self.clock.now():
            await self._start_talk(until, 0.0)
        else:
            self.session.record(EventType.TALK, {"on": False, "by": "timeout"})

    # --- music per client ---------------------------------------------------------------------

    async def choose(self, playlist_id: str, by: str) -> MusicStatus:
        """Another playlist for this session, from now on: it crossfades in at the arc's current phase."""
        events = self.session.events()
        if events is None:
            raise Conflict(f"room {self.room_id!r} has no session running; choose the playlist when starting one")
        current = self._current_playlist(events)
        chosen = choose_playlist(str(events[0].data.get("preset")), playlist_id, self.playlists, self.libraries)
        if current is not None and chosen == current.id:
            raise Conflict(f"playlist {playlist_id!r} is already playing")
        self.session.record(
            EventType.PLAYLIST_CHANGED,
            {"playlist": chosen, "from": current.id if current else None, "by": by},
        )
        await self.replan()
        self._on_change({"playlist": chosen, "by": by})
        return self.status()

    def options_for_session(self) -> list[PlaylistOption]:
        """The playlists made for the running session's preset, the one playing first."""
        events = self.session.events()
        if events is None:
            return []
        preset = str(events[0].data.get("preset"))
        current = self._current_playlist(events)
        out = []
        for p in self.playlists.values():
            if preset not in p.presets:
                continue
            missing = p.library not in self.libraries
            out.append(
                PlaylistOption(
                    id=p.id,
                    title=p.title,
                    curator=p.curator,
                    library=p.library,
                    playing=current is not None and current.id == p.id,
                    available=not missing,
                    why_not=f"the {p.library!r} music library is not configured" if missing else None,
                )
            )
        out.sort(key=lambda o: (not o.playing, not o.available, o.title))
        return out

    async def gentler(self, by: str) -> MusicStatus:
        """Gentler music from the next track on, within the current phase's segment (its intensity tags)."""
        state = self.session.state()
        playlist = self.playlist()
        if state is None or playlist is None:
            raise Conflict(f"room {self.room_id!r} has no session running")
        phase = next((p for p in state.phases if p.status == "current"), None)
        if phase is None:
            raise Conflict("the session has no current phase to steer the music in")
        segment = playlist.segments.get(phase.music)
        if segment is None or segment.median_intensity is None:
            raise Conflict(
                f"the {phase.music!r} music of playlist {playlist.id!r} has no intensity tags, "
                "so there is nothing gentler to choose (tag tracks with intensity: 1..5)"
            )
        if not self._gentler:
            self.session.record(EventType.MUSIC_GENTLER, {"phase": phase.name, "by": by})
            await self.replan()
        self._on_change({"gentler": True, "by": by})
        return self.status()

    def _on_deck_event(self, kind: str, detail: dict[str, Any]) -> None:
        """What the decks report (they log it): a failed track becomes a skip in the plan."""
        if kind == "track_failed":
            self.session.record(EventType.TRACK_FAILED, detail)
            self.replan_soon()
        elif kind == "silence":
            log.warning("no music has sounded in %s for a while although the plan wants some", self.room_id)
        self._on_change({"event": kind, **detail})


def choose_playlist(
    preset_id: str,
    playlist_id: str | None,
    playlists: Mapping[str, Playlist],
    libraries: Mapping[str, Path],
    defaults: Mapping[str, str] | None = None,
) -> str | None:
    """The playlist a new session will use: the one asked for, else the preset's default (the
    setting's, else the first candidate whose files are all there; the demo's always are)."""
    if playlist_id is None:
        if defaults and (configured := defaults.get(preset_id)) is not None:
            return configured  # checked at start-up; if its files are missing, the session says so
        candidates = default_candidates(preset_id, playlists, libraries.keys())
        for candidate in candidates:
            found = availability(candidate, libraries)
            if found.complete:
                return candidate.id
            log.warning("playlist %r is not a default for %s: %s", candidate.id, preset_id, found.describe())
        return candidates[0].id if candidates else None  # every one incomplete: the session will say so
    playlist = playlists.get(playlist_id)
    if playlist is None:
        raise NotFound(f"no playlist {playlist_id!r}")
    if preset_id not in playlist.presets:
        raise Conflict(
            f"playlist {playlist_id!r} is not made for preset {preset_id!r} (it suits: {', '.join(playlist.presets)})"
        )
    if playlist.library not in libraries:
        raise Conflict(
            f"playlist {playlist_id!r} needs the {playlist.library!r} music library, "
            "which is not configured (ARCROOM_MUSIC_LIBRARY)"
        )
    return playlist.id


async def _interleaved(steps: PlanSteps) -> MusicPlan:
    """The plan `steps` build, with the event loop's other work run between the steps."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            plan: MusicPlan = done.value
            return plan
        await asyncio.sleep(0)
