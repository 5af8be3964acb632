"""Each room's music follows its session: re-planned on every change, its events in the session log.

The plan is a pure function of the session (app/domain/music_plan.py); this module decides when
to re-plan, records what the music did (paused, resumed, skipped, failed) as session events so
a restart knows where the music really is, and hands the plan to the room's MusicRoom.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Literal

from app.domain.errors import Conflict, NotFound
from app.domain.events import EventType
from app.domain.music_events import music_pauses, music_skips
from app.domain.music_plan import MusicPlan, build_plan
from app.domain.playlists import Playlist, default_playlist
from app.engine import SessionEngine
from app.music.room import MusicRoom, MusicStatus

log = logging.getLogger(__name__)

AudioAction = Literal["pause", "resume", "skip"]
PAUSE_FADE_S = 2.0  # the therapist's pause: quick, but not a cut
RESUME_FADE_S = 3.0
REFRESH_S = 30 * 60


class RoomMusic:
    def __init__(self, engine: SessionEngine, playlists: Mapping[str, Playlist], rooms: Mapping[str, MusicRoom],
                 notify: Callable[[str, str, dict[str, Any]], None],
                 in_panic: Callable[[str], bool]) -> None:
        self.engine = engine
        self.playlists = playlists
        self.rooms = rooms
        self._notify = notify
        self._in_panic = in_panic
        self._plans: dict[str, MusicPlan | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    # --- reading -------------------------------------------------------------------------------

    def playlist_of(self, room: str) -> Playlist | None:
        live = self.engine.live_events(room)
        if live is None:
            return None
        playlist_id = live[0].data.get("playlist")
        return self.playlists.get(str(playlist_id)) if playlist_id else None

    def plan(self, room: str) -> MusicPlan | None:
        self.engine.room(room)
        return self._plans.get(room)

    def status(self, room: str) -> MusicStatus:
        return self.rooms[room].status()

    # --- following the session -----------------------------------------------------------------

    async def follow_sessions(self) -> None:
        """Re-plan a room's music whenever its session changes; runs until cancelled."""
        with self.engine.notices.subscribe() as notices:
            while True:
                batch = [await notices.get()]
                while not notices.empty():  # several notices from one action: one plan per room
                    batch.append(notices.get_nowait())
                rooms = {n.room for n in batch if n.kind in ("session_started", "phase", "event", "session_ended")}
                for room in sorted(rooms):
                    await self.replan(room)

    async def refresh(self) -> None:
        """Re-plan every room now and then: an open-ended phase (closing) is planned only a few
        hours ahead and sends no notices of its own."""
        clock = self.engine.clock
        while True:
            await clock.sleep_until(clock.now() + REFRESH_S)
            for room in self.rooms:
                if self.engine.live_events(room) is not None:
                    await self.replan(room)

    async def replan(self, room: str) -> None:
        async with self._locks.setdefault(room, asyncio.Lock()):
            events = self.engine.live_events(room)
            state = self.engine.room_state(room)
            playlist = self.playlist_of(room)
            if events is None or state is None or playlist is None:
                self._plans[room] = None
                await self.rooms[room].follow(None, None)
                return
            if state.panic or self._in_panic(room):
                return  # frozen: the plan is made again when the panic is cleared
            plan = build_plan(playlist, state.phases, self.engine.clock.now(), pauses=music_pauses(events),
                              skips=music_skips(events), arc_frozen=state.frozen)
            self._plans[room] = plan
            await self.rooms[room].follow(plan, playlist)
        self._notify(room, "music", {})

    # --- the panic path's audio --------------------------------------------------------------

    async def pause(self, room: str, fade_s: float = 0.0) -> None:
        """Panic: the music stops at once (the panic event itself marks the pause in the log)."""
        await self.rooms[room].pause(fade_s)

    async def resume_after_panic(self, room: str, fade_in_s: float) -> None:
        self.engine.record(room, EventType.AUDIO_RESUMED, {"reason": "panic cleared"})
        await self.rooms[room].resume(fade_in_s)
        await self.replan(room)

    # --- the therapist's controls --------------------------------------------------------------

    async def command(self, room: str, action: AudioAction | None, volume_pct: int | None, by: str) -> MusicStatus:
        self.engine.room(room)
        if self._in_panic(room) and action is not None:
            raise Conflict("the room is in panic: clear it (restore) to bring the music back")
        music = self.rooms[room]
        events = self.engine.live_events(room)
        paused = music.status().state == "paused"
        if action == "pause":
            if paused:
                raise Conflict("the music is already paused")
            # Logged as it starts to fade (within the plan's 3 s tolerance of when it went quiet);
            # the fade goes on without holding up the request.
            self.engine.record(room, EventType.AUDIO_PAUSED, {"by": by, "fade_s": PAUSE_FADE_S})
            self._background(music.pause(PAUSE_FADE_S))
            await asyncio.sleep(0)  # let it begin, so the answer shows the music pausing
        elif action == "resume":
            if not paused:
                raise Conflict("the music is not paused")
            self.engine.record(room, EventType.AUDIO_RESUMED, {"by": by})
            await music.resume(RESUME_FADE_S)
            await self.replan(room)
        elif action == "skip":
            if events is None or self._plans.get(room) is None:
                raise Conflict("there is no music plan to skip in: start a session first")
            if paused:
                raise Conflict("the music is paused: resume it before skipping")
            self.engine.record(room, EventType.TRACK_SKIPPED, {"by": by})
            await self.replan(room)
        if volume_pct is not None:
            await music.set_volume(volume_pct)
        self._notify(room, "music", {"action": action, "volume": volume_pct})
        return music.status()

    def on_music_event(self, room: str) -> Callable[[str, dict[str, Any]], None]:
        """What a room's MusicRoom reports: a failed track becomes a skip in the plan."""

        def handle(kind: str, detail: dict[str, Any]) -> None:
            if kind == "track_failed":
                log.warning("track failed in %s: %s (%s); skipping it", room, detail.get("path"), detail.get("error"))
                self.engine.record(room, EventType.TRACK_FAILED, detail)
                self._background(self.replan(room))
            elif kind == "silence":
                log.warning("no music has sounded in %s for a while although the plan wants some", room)
            self._notify(room, "music", {"event": kind, **detail})

        return handle

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def check_playlist(self, preset_id: str, playlist_id: str | None, libraries: Mapping[str, object]) -> str | None:
        """The playlist a new session will use: the one asked for, or the preset's default."""
        if playlist_id is None:
            chosen = default_playlist(preset_id, self.playlists, libraries.keys())
            return chosen.id if chosen else None
        playlist = self.playlists.get(playlist_id)
        if playlist is None:
            raise NotFound(f"no playlist {playlist_id!r}")
        if preset_id not in playlist.presets:
            raise Conflict(f"playlist {playlist_id!r} is not made for preset {preset_id!r} "
                           f"(it suits: {', '.join(playlist.presets)})")
        if playlist.library not in libraries:
            raise Conflict(f"playlist {playlist_id!r} needs the {playlist.library!r} music library, "
                           "which is not configured (ARCROOM_MUSIC_LIBRARY)")
        return playlist.id
