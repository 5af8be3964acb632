"""What a standby shows of a room when the leader does not answer it.

The standby passes requests to the leader (app/api/forward.py). When the leader cannot be
reached from here (its address wrong, the link between the two machines down, or the leader dead
or frozen until the lease passes), the standby answers a room's state and its event stream itself,
from the broker and the record:

- the view is the one the leader last published on `arcroom/<room>/state` (retained: the same
  document as `GET /state`, without the client's label and intention), followed live as the
  leader publishes it;
- the label and the intention come from the record (the database both instances share);
- every command the view lists as refused, with the reason: from here only a panic goes through
  (app/standby.py lights the room itself). What the room should show stays the leader's answer:
  nothing here derives it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, get_args

import aiomqtt

from app.domain.errors import Unavailable
from app.mqtt import topics
from app.room import RefusableCommand
from app.settings import Settings
from app.standby import CONNECT_TIMEOUT_S, own_connection
from app.store import EventStore

log = logging.getLogger(__name__)

COMMANDS = get_args(RefusableCommand)  # what a view may list as refused
KEEPALIVE_S = 15.0  # as the leader's own stream (app/api/routes_views.py)
RETRY_MAX_S = 10.0


class BrokerViews:
    """The rooms' views as the leader last published them, kept while this instance stands by."""

    def __init__(self, settings: Settings, room_ids: Iterable[str], standing_by: Callable[[], bool]) -> None:
        """`standing_by`: whether this instance stands by now (while it leads, its own views go by unread;
        the next leader publishes every room's view as it starts)."""
        self.settings = settings
        self.room_ids = frozenset(room_ids)
        self._standing_by = standing_by
        self._views: dict[str, dict[str, Any]] = {}
        self._changed = asyncio.Event()  # set and replaced on every view that comes in
        self._store: EventStore | None = None
        self._personal: dict[str, tuple[str | None, str | None]] = {}  # session id -> label, intention

    async def run(self) -> None:
        """Follow the rooms' state topics until cancelled, reconnecting with back-off."""
        if self.settings.mqtt_url is None:
            return  # two instances need an external broker: the settings refuse to start without one
        url = self.settings.mqtt_url
        backoff = 0.5
        try:
            while True:
                try:
                    async with own_connection(self.settings, url, "views", CONNECT_TIMEOUT_S) as client:
                        await client.subscribe(topics.state("+"), qos=1)
                        backoff = 0.5
                        async for message in client.messages:
                            self._took(message.topic.value, message.payload)
                except aiomqtt.MqttError as exc:
                    log.warning("standby: the rooms' views on the broker: %s; trying again in %.1f s", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(RETRY_MAX_S, backoff * 2)
        finally:
            if self._store is not None:
                self._store.close()

    def _took(self, topic: str, payload: Any) -> None:
        room_id = topics.room_of(topic)
        if room_id not in self.room_ids or not isinstance(payload, bytes | bytearray) or not self._standing_by():
            return
        if not payload:  # cleared: the room is gone
            self._views.pop(room_id, None)
        else:
            try:
                view = json.loads(payload)
            except ValueError:
                view = None
            if not isinstance(view, dict):
                log.warning("standby: a state on %s that is not a view, ignored", topic)
                return
            self._views[room_id] = view
        self._changed.set()
        self._changed = asyncio.Event()

    async def view(self, room_id: str, leader: str | None, refusal: str) -> dict[str, Any]:
        """The room's view as the leader last published it, completed from the record; 503 with
        `refusal` when the leader has published none."""
        shown = self._views.get(room_id)
        if shown is None:
            raise Unavailable(refusal)
        view = dict(shown)
        why = (
            f"{leader or 'the instance that runs the rooms'} does not answer this instance: only a panic goes "
            "through from here (it lights the room itself)"
        )
        view["refused"] = dict.fromkeys(COMMANDS, why)
        session = view.get("session")
        if isinstance(session, dict) and isinstance(session.get("session_id"), str):
            label, intention = await self._personal_data(session["session_id"])
            view["session"] = {**session, "client_label": label, "intention": intention}
        return view

    async def _personal_data(self, session_id: str) -> tuple[str | None, str | None]:
        """The session's label and intention, from the record (read once per session)."""
        if session_id not in self._personal:
            try:
                self._personal[session_id] = await asyncio.to_thread(self._read_personal, session_id)
            except Exception as exc:  # noqa: BLE001 - the view is shown without them
                log.warning("standby: the record did not give session %s's label: %r", session_id[:8], exc)
                return None, None
        return self._personal[session_id]

    def _read_personal(self, session_id: str) -> tuple[str | None, str | None]:
        if self._store is None:
            from app.stores import open_store

            self._store = open_store(self.settings.database, self.settings.database_secret())
        stored = self._store.session(session_id)
        events = self._store.events(session_id)
        intention = events[0].data.get("intention") if events else None
        return (stored.info.client_label if stored else None), (intention if isinstance(intention, str) else None)

    async def events(self, room_id: str, leader: str | None, refusal: str) -> AsyncIterator[bytes]:
        """The room's view as `state` events, one for every view the leader publishes."""
        first = json.dumps(await self.view(room_id, leader, refusal)).encode()
        yield b"event: state\ndata: " + first + b"\nretry: 2000\n\n"
        shown = self._views.get(room_id)
        while True:
            changed = self._changed
            try:
                async with asyncio.timeout(KEEPALIVE_S):
                    await changed.wait()
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if self._views.get(room_id) is not shown and room_id in self._views:
                shown = self._views[room_id]
                data = json.dumps(await self.view(room_id, leader, refusal)).encode()
                yield b"event: state\ndata: " + data + b"\n\n"
