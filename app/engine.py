"""The session scheduler and the record: each room's session (`RoomSession`) fires its phase changes
and cues on time because this wakes it at its next deadline; and sessions past and present are
found here by id (reports, REMS forms, exports).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from app.domain import session as arc
from app.domain.clock import Clock, sleep_until_or_woken
from app.domain.errors import Conflict, NotFound
from app.domain.events import Event, EventType
from app.domain.presets import Preset, find_preset
from app.domain.rooms import Room
from app.domain.session import SessionInfo, SessionState
from app.room_session import Notice, NoticeListener, RoomSession
from app.store import EventStore, StoredSession

log = logging.getLogger(__name__)

__all__ = ["Notice", "NoticeListener", "RoomSession", "SessionEngine"]


class SessionEngine:
    def __init__(
        self,
        store: EventStore,
        presets: Mapping[str, Preset],
        rooms: Mapping[str, Room],
        clock: Clock,
        *,
        panic_counts_toward_arc: bool = False,
    ) -> None:
        self.store = store
        self.presets = presets
        self.clock = clock
        self._panic_counts = panic_counts_toward_arc
        self._listeners: list[NoticeListener] = []
        self._wake = asyncio.Event()
        self.sessions_by_room: dict[str, RoomSession] = {
            room_id: RoomSession(
                room_id,
                store,
                presets,
                clock,
                notify=self._notify,
                wake=self._wake.set,
                panic_counts_toward_arc=panic_counts_toward_arc,
            )
            for room_id in rooms
        }

    # --- lifecycle -------------------------------------------------------------------------

    def listen(self, listener: NoticeListener) -> None:
        """Call `listener` with every room's notices, synchronously, in the order they happen: a room
        acts on a phase change before the command that caused it returns."""
        self._listeners.append(listener)

    def session(self, room: str) -> RoomSession:
        """The room's session handle (the room owns it; this is where it is made and scheduled)."""
        try:
            return self.sessions_by_room[room]
        except KeyError:
            raise NotFound(f"no room {room!r}") from None

    def load(self) -> list[SessionState]:
        """Pick up unfinished sessions where the clock says they are, announcing nothing old."""
        resumed = []
        for stored in self.store.unfinished_sessions():
            handle = self.sessions_by_room.get(stored.info.room)
            if handle is None:
                log.warning(
                    "session %s is in room %r, which is no longer configured; left as it is",
                    stored.info.id,
                    stored.info.room,
                )
                continue
            resumed.append(handle.resume_stored(stored))
        return resumed

    async def run(self) -> None:
        """Wake each room's session at its next deadline; runs until cancelled."""
        while True:
            self._wake.clear()
            await sleep_until_or_woken(self.clock, self._next_deadline(), self._wake)
            now = self.clock.now()
            for handle in list(self.sessions_by_room.values()):
                try:
                    handle.announce_due(now)
                except Exception:  # one broken session must not stop the others' cues
                    log.exception("announcing for the session in %s failed", handle.room)

    # --- the record ----------------------------------------------------------------------------

    def preset(self, preset_id: str) -> Preset:
        return find_preset(self.presets, preset_id)

    def session_record(self, session_id: str) -> tuple[SessionInfo, list[Event], SessionState]:
        session_id = self.store.resolve(session_id) or session_id
        for handle in self.sessions_by_room.values():
            running = handle.running()
            if running is not None and running[0].id == session_id:
                return running
        stored = self.store.session(session_id)
        if stored is None:
            raise NotFound(f"no session {session_id!r}")
        events = self.store.events(session_id)
        state = arc.replay(stored.info, events, self.clock.now(), panic_counts_toward_arc=self._panic_counts)
        return stored.info, events, state

    def room_of(self, session_id: str) -> str | None:
        """The room a session was held in, or None if there is no such session."""
        full_id = self.store.resolve(session_id)
        stored = self.store.session(full_id) if full_id is not None else None  # a running one is stored too
        return stored.info.room if stored is not None else None

    def mark_rems_filed(self, session_id: str, reference: str | None = None, by: str | None = None) -> Event:
        """The REMS Patient Monitoring Form of this session was filed (recorded once)."""
        info, events, _ = self.session_record(session_id)
        session_id = info.id
        if not info.preset.rems_form:
            raise Conflict(f"preset {info.preset.id!r} has no REMS form to file")
        filed = [e for e in events if e.type is EventType.REMS_FILED]
        if filed:
            when = arc.iso_utc(filed[0].at)
            raise Conflict(f"the REMS form of session {session_id} was already marked filed at {when}")
        data = {**({"reference": reference} if reference else {}), **({"by": by} if by else {})}
        for handle in self.sessions_by_room.values():
            if (event := handle.rems_filed(session_id, data)) is not None:
                return event
        return self.store.append(session_id, self.clock.now(), EventType.REMS_FILED, data)

    def sessions(self, since: float) -> list[StoredSession]:
        """Every session started since `since`, oldest first."""
        return self.store.sessions_since(since)

    def rems_unfiled(self) -> list[StoredSession]:
        """Every dosed Spravato session whose REMS form is not marked filed, oldest first."""
        return self.store.rems_unfiled()

    # --- internals ---------------------------------------------------------------------------

    def _notify(self, notice: Notice) -> None:
        for listener in self._listeners:
            try:
                listener(notice)
            except Exception:  # one listener's bug must not stop the session or the others
                log.exception("a listener failed on %s %s", notice.room, notice.kind)

    def _next_deadline(self) -> float | None:
        now = self.clock.now()
        deadlines = [d for handle in self.sessions_by_room.values() if (d := handle.deadline(now)) is not None]
        return min(deadlines, default=None)
