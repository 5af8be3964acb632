"""A room's music follows its session: re-planned on every change, its events in the session log.

The plan is a pure function of the session (app/domain/music_plan.py); the director decides when
to re-plan, records what the music did (paused, resumed, skipped, failed) as session events so
a restart knows where the music really is, and hands the plan to the room's two decks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from app.audio.player import Player
from app.domain.clock import Clock
from app.domain.errors import Conflict, NotFound
from app.domain.events import EventType
from app.domain.music_events import music_pauses, music_skips
from app.domain.music_plan import MusicPlan, build_plan
from app.domain.playlists import Playlist, default_playlist
from app.engine import SessionEngine
from app.music.decks import DeckPair, MusicStatus
from app.supervisor import Supervisor

log = logging.getLogger(__name__)

AudioAction = Literal["pause", "resume", "skip"]
PAUSE_FADE_S = 2.0  # the therapist's pause: quick, but not a cut
RESUME_FADE_S = 3.0
REFRESH_S = 30 * 60


class MusicDirector:
    def __init__(
        self,
        room_id: str,
        engine: SessionEngine,
        playlists: Mapping[str, Playlist],
        players: tuple[Player, Player],
        libraries: Mapping[str, Path],
        clock: Clock,
        *,
        ceiling_pct: int,
        volume_pct: int,
        on_change: Callable[[dict[str, Any]], None],
        jobs: Supervisor,
    ) -> None:
        self.room_id = room_id
        self.engine = engine
        self.playlists = playlists
        self.clock = clock
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

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.decks.start()

    async def close(self) -> None:
        await self.decks.close()

    async def run(self) -> None:
        """Drive the decks, and re-plan now and then: an open-ended phase (closing) is planned only
        a few hours ahead and sends no notices of its own. Runs until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.decks.run())
            group.create_task(self._refresh())

    async def _refresh(self) -> None:
        while True:
            await self.clock.sleep_until(self.clock.now() + REFRESH_S)
            if self.engine.live_events(self.room_id) is not None:
                await self.replan()

    # --- reading -------------------------------------------------------------------------------

    def playlist(self) -> Playlist | None:
        events = self.engine.live_events(self.room_id)
        if events is None:
            return None
        playlist_id = events[0].data.get("playlist")
        return self.playlists.get(str(playlist_id)) if playlist_id else None

    @property
    def plan(self) -> MusicPlan | None:
        return self._plan

    def status(self) -> MusicStatus:
        return self.decks.status()

    # --- following the session -----------------------------------------------------------------

    def replan_soon(self) -> None:
        """Re-plan once for everything that has happened up to the next turn of the loop (one
        action can make several session notices)."""
        if not self._replan_pending:
            self._replan_pending = True
            self._jobs.spawn(f"music plan {self.room_id}", self._replan_when_due())

    async def _replan_when_due(self) -> None:
        await asyncio.sleep(0)
        self._replan_pending = False
        await self.replan()

    async def replan(self) -> None:
        async with self._lock:
            events = self.engine.live_events(self.room_id)
            state = self.engine.room_state(self.room_id)
            playlist = self.playlist()
            before = self._plan
            if events is None or state is None or playlist is None:
                self._plan = None
                await self.decks.follow(None, None)
            else:
                # In panic or held the plan says the music is paused (since the panic), so following
                # it keeps the decks quiet, and a restart in panic comes back paused, not stopped.
                self._plan = build_plan(
                    playlist,
                    state.phases,
                    self.clock.now(),
                    pauses=music_pauses(events),
                    skips=music_skips(events),
                    arc_frozen=state.frozen,
                )
                await self.decks.follow(self._plan, playlist)
        if self._plan != before:
            self._on_change({"plan": "changed"})

    # --- the panic path's audio --------------------------------------------------------------

    async def pause_for_panic(self, fade_s: float = 0.0) -> None:
        """The music stops at once (the panic event itself marks the pause in the log)."""
        await self.decks.pause(fade_s)

    async def resume_after_panic(self, fade_in_s: float) -> None:
        self.engine.record(self.room_id, EventType.AUDIO_RESUMED, {"reason": "panic cleared"})
        await self.decks.resume(fade_in_s)
        await self.replan()

    # --- the therapist's controls --------------------------------------------------------------

    async def command(self, action: AudioAction | None, volume_pct: int | None, by: str) -> MusicStatus:
        paused = self.decks.status().state == "paused"
        if action == "pause":
            if paused:
                raise Conflict("the music is already paused")
            # Logged as it starts to fade (within the plan's 3 s tolerance of when it went quiet);
            # the fade goes on without holding up the request.
            self.engine.record(self.room_id, EventType.AUDIO_PAUSED, {"by": by, "fade_s": PAUSE_FADE_S})
            self._jobs.spawn(f"music pause {self.room_id}", self.decks.pause(PAUSE_FADE_S))
            await asyncio.sleep(0)  # let it begin, so the answer shows the music pausing
        elif action == "resume":
            if not paused:
                raise Conflict("the music is not paused")
            self.engine.record(self.room_id, EventType.AUDIO_RESUMED, {"by": by})
            await self.decks.resume(RESUME_FADE_S)
            await self.replan()
        elif action == "skip":
            if self.engine.live_events(self.room_id) is None or self._plan is None:
                raise Conflict("there is no music plan to skip in: start a session first")
            if paused:
                raise Conflict("the music is paused: resume it before skipping")
            self.engine.record(self.room_id, EventType.TRACK_SKIPPED, {"by": by})
            await self.replan()
        if volume_pct is not None:
            await self.decks.set_volume(volume_pct)
        self._on_change({"action": action, "volume": volume_pct})
        return self.decks.status()

    def _on_deck_event(self, kind: str, detail: dict[str, Any]) -> None:
        """What the decks report: a failed track becomes a skip in the plan."""
        if kind == "track_failed":
            log.warning(
                "track failed in %s: %s (%s); skipping it", self.room_id, detail.get("path"), detail.get("error")
            )
            self.engine.record(self.room_id, EventType.TRACK_FAILED, detail)
            self.replan_soon()
        elif kind == "silence":
            log.warning("no music has sounded in %s for a while although the plan wants some", self.room_id)
        self._on_change({"event": kind, **detail})


def choose_playlist(
    preset_id: str, playlist_id: str | None, playlists: Mapping[str, Playlist], libraries: Mapping[str, object]
) -> str | None:
    """The playlist a new session will use: the one asked for, or the preset's default."""
    if playlist_id is None:
        chosen = default_playlist(preset_id, playlists, libraries.keys())
        return chosen.id if chosen else None
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
