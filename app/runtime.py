"""The running service: every adapter and background task, brought up in order and down in reverse."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from pydantic import BaseModel

from app.audio import Player, PlayerStatus, VlcPlayer
from app.catalog import Catalog
from app.domain.clock import Clock, SystemClock
from app.domain.rooms import Light, Room
from app.domain.session import SessionState
from app.engine import SessionEngine
from app.mqtt import BrokerAddress, EmbeddedBroker, MqttLink
from app.settings import Settings
from app.store import EventStore

log = logging.getLogger(__name__)

PlayerFactory = Callable[[Room, Settings], Player]


def vlc_player_for(room: Room, settings: Settings) -> Player:
    return VlcPlayer(settings.audio_output or room.audio.output, room.audio.device, name=room.id)


class RoomView(BaseModel):
    """What a dashboard or a smart-home system sees of a room."""

    id: str
    name: str
    session: SessionState | None
    lights: list[Light]
    audio: PlayerStatus
    mqtt_connected: bool


class Tasks:
    """Background tasks whose failure is logged and reported, never silently lost."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self.failed: dict[str, str] = {}

    def start(self, name: str, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._finished)
        self._tasks[name] = task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.failed[task.get_name()] = repr(exc)
            log.critical("background task %s stopped", task.get_name(), exc_info=exc)

    async def stop(self) -> None:
        for task in reversed(list(self._tasks.values())):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)


class Runtime:
    def __init__(self, settings: Settings, engine: SessionEngine, link: MqttLink, players: dict[str, Player],
                 tasks: Tasks, broker: EmbeddedBroker | None) -> None:
        self.settings = settings
        self.engine = engine
        self.link = link
        self.players = players
        self.tasks = tasks
        self.broker = broker

    @classmethod
    @asynccontextmanager
    async def running(cls, settings: Settings, catalog: Catalog, *, clock: Clock | None = None,
                      player_factory: PlayerFactory = vlc_player_for) -> AsyncIterator[Runtime]:
        presets, rooms = catalog.presets, catalog.rooms
        async with AsyncExitStack() as stack:
            store = EventStore(settings.database)
            stack.callback(store.close)

            broker: EmbeddedBroker | None = None
            if settings.mqtt_url:
                password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
                address = BrokerAddress.from_url(settings.mqtt_url, settings.mqtt_username, password)
            else:
                broker = EmbeddedBroker(settings.embedded_broker_host, settings.embedded_broker_port,
                                        strict_port="embedded_broker_port" in settings.model_fields_set)
                await broker.start()
                stack.push_async_callback(broker.stop)
                address = BrokerAddress(settings.embedded_broker_host, broker.port)

            players: dict[str, Player] = {}
            for room in rooms.values():
                player = player_factory(room, settings)
                await player.start()
                stack.push_async_callback(player.close)
                players[room.id] = player

            engine = SessionEngine(store, presets, rooms, clock or SystemClock(),
                                   panic_counts_toward_arc=settings.panic_counts_toward_arc)
            engine.load()
            link = MqttLink(address, settings.mqtt_client_id)
            tasks = Tasks()
            stack.push_async_callback(tasks.stop)
            runtime = cls(settings, engine, link, players, tasks, broker)
            tasks.start("mqtt", link.run())
            stack.push_async_callback(link.close)  # runs before tasks.stop: say "offline" while connected
            tasks.start("engine", engine.run())
            tasks.start("state-publisher", runtime._publish_states())
            log.info("Arcroom running: %d room(s), %d preset(s), MQTT %s", len(rooms), len(presets), address)
            yield runtime

    def room_view(self, room_id: str) -> RoomView:
        room = self.engine.room(room_id)
        return RoomView(id=room.id, name=room.name, session=self.engine.room_state(room_id),
                        lights=list(room.lights), audio=self.players[room_id].status(),
                        mqtt_connected=self.link.connected)

    def state_topic(self, room_id: str) -> str:
        return f"arcroom/{room_id}/state"

    async def _publish_states(self) -> None:
        """Keep each room's retained state topic current."""
        with self.engine.notices.subscribe() as notices:
            for room_id in self.engine.rooms:
                self._publish_state(room_id)
            while True:
                notice = await notices.get()
                self._publish_state(notice.room)

    def _publish_state(self, room_id: str) -> None:
        payload = json.dumps(self.room_view(room_id).model_dump(mode="json"))
        self.link.publish(self.state_topic(room_id), payload, qos=1, retain=True)
