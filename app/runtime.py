"""The running service: every adapter and background task, brought up in order and down in reverse."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.audio import Player, VlcPlayer
from app.audio.player import deck_outputs
from app.catalog import Catalog
from app.domain.clock import Clock, SystemClock
from app.domain.rooms import Room
from app.domain.session import SessionState
from app.engine import Notice, SessionEngine
from app.lighting import Lighting, RoomLighting
from app.lighting.demo import run_simulator
from app.mqtt import BrokerAddress, EmbeddedBroker, MqttLink
from app.music.demo import generate_demo_library
from app.music.room import MusicRoom, MusicStatus
from app.mqtt.discovery import HA_STATUS_TOPIC, discovery_messages
from app.panic import PanicControl, PanicStatus
from app.pubsub import Hub
from app.room_music import RoomMusic
from app.settings import Settings
from app.store import EventStore

log = logging.getLogger(__name__)

PlayerFactory = Callable[[Room, Settings], Player]


def vlc_player_for(room: Room, settings: Settings) -> Player:
    """One deck of a room's music (the runtime makes two, each with its own output)."""
    return VlcPlayer(room.audio.output, room.audio.device, name=room.id)


# How often, at most, a room's light reports are passed on to listeners: software fades
# make several reports a second per light, and a dashboard needs a few per second at most.
LIGHT_NOTICE_INTERVAL_S = 0.25
# Restoring a room after a restart: a short fade, in case a light lost its state meanwhile.
RESTORE_FADE_S = 5.0
# A room's serialised view is reused within the same quarter second (and until anything changes).
VIEW_CACHE_PER_S = 4


class RoomView(BaseModel):
    """What a dashboard or a smart-home system sees of a room."""

    id: str
    name: str
    now: float  # the service's clock, so a tablet can correct for its own
    session: SessionState | None
    panic: PanicStatus
    lighting: RoomLighting
    audio: MusicStatus
    mqtt_connected: bool


@dataclass(frozen=True)
class RoomChange:
    """Something in a room changed: `kind` is a session notice kind, or "lights"."""

    room: str
    kind: str
    detail: dict[str, Any]


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
    def __init__(self, settings: Settings, engine: SessionEngine, link: MqttLink, tasks: Tasks,
                 broker: EmbeddedBroker | None, libraries: dict[str, Path]) -> None:
        self.settings = settings
        self.engine = engine
        self.link = link
        self.tasks = tasks
        self.broker = broker
        self.libraries = libraries
        self.players: dict[str, MusicRoom] = {}  # each room's music, on its two decks
        self.changes: Hub[RoomChange] = Hub()
        self.lighting: Lighting  # set by running()
        self.panic: PanicControl  # set by running()
        self.music: RoomMusic  # set by running()
        self._panic_tasks: set[asyncio.Task[Any]] = set()
        self._light_notice_pending: set[str] = set()
        self._versions: dict[str, int] = {}
        self._view_cache: dict[str, tuple[tuple[int, ...], bytes]] = {}

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

            clock = clock or SystemClock()
            engine = SessionEngine(store, presets, rooms, clock,
                                   panic_counts_toward_arc=settings.panic_counts_toward_arc)
            resumed = engine.load()
            link = MqttLink(address, settings.mqtt_client_id)
            tasks = Tasks()
            libraries = {"demo": settings.demo_music_dir}
            if settings.music_library is not None:
                libraries["clinic"] = settings.music_library
            if any(p.library == "demo" for p in catalog.playlists.values()):
                # Made once, at the first start: a few minutes of generated ambient audio.
                await asyncio.to_thread(generate_demo_library, settings.demo_music_dir)
            runtime = cls(settings, engine, link, tasks, broker, libraries)
            runtime.music = RoomMusic(engine, catalog.playlists, runtime.players, runtime.notify,
                                      in_panic=lambda room: runtime.panic.status(room).active)
            for room in rooms.values():
                output = settings.audio_output or room.audio.output
                decks = tuple(player_factory(room.model_copy(update={"audio": room.audio.model_copy(
                    update={"output": deck})}), settings) for deck in deck_outputs(output))
                music = MusicRoom(room.id, decks, libraries, clock,  # type: ignore[arg-type]
                                  ceiling_pct=room.audio.volume_ceiling_pct, volume_pct=room.audio.volume_pct,
                                  on_event=runtime.music.on_music_event(room.id))
                await music.start()
                stack.push_async_callback(music.close)
                runtime.players[room.id] = music
            stack.push_async_callback(tasks.stop)
            runtime.lighting = Lighting(link, rooms, catalog.profiles, catalog.scenes, clock,
                                        notify=runtime._lights_changed)
            runtime.lighting.attach()
            runtime.panic = PanicControl(engine, runtime.lighting,
                                         {room_id: _PanicAudio(runtime.music, room_id) for room_id in rooms},
                                         clock, runtime.notify, audio_fade_s=settings.panic_audio_fade_ms / 1000)
            link.subscribe("arcroom/+/panic", runtime._on_panic_message)
            link.subscribe(HA_STATUS_TOPIC, runtime._on_home_assistant_status)
            runtime._publish_discovery()
            for state in resumed:
                if state.panic:
                    runtime.panic.resume_after_restart(state.room, state.now)
                else:
                    runtime.lighting.apply_scene(state.room, state.scene, transition_s=RESTORE_FADE_S,
                                                 source="restore")
            for room in rooms.values():
                for light in room.lights:
                    if light.simulated:
                        tasks.start(f"simulator {room.id}/{light.name}",
                                    run_simulator(catalog.profiles[light.profile], light.topic, address))
            tasks.start("mqtt", link.run())
            stack.push_async_callback(link.close)  # runs before tasks.stop: say "offline" while connected
            tasks.start("engine", engine.run())
            tasks.start("lighting", runtime.lighting.run())
            tasks.start("session-notices", runtime._follow_sessions())
            tasks.start("state-publisher", runtime._publish_states())
            for room in rooms.values():
                tasks.start(f"music {room.id}", runtime.players[room.id].run())
            tasks.start("music-plans", runtime.music.follow_sessions())
            tasks.start("music-refresh", runtime.music.refresh())
            for state in resumed:  # the music picks up where the plan says it is, fading in
                tasks.start(f"resume music {state.room}", runtime.music.replan(state.room))
            log.info("Arcroom running: %d room(s), %d preset(s), MQTT %s", len(rooms), len(presets), address)
            yield runtime

    def room_view(self, room_id: str) -> RoomView:
        room = self.engine.room(room_id)
        return RoomView(id=room.id, name=room.name, now=self.engine.clock.now(),
                        session=self.engine.room_state(room_id),
                        panic=self.panic.status(room_id), lighting=self.lighting.view(room_id), audio=self.players[room_id].status(),
                        mqtt_connected=self.link.connected)

    def room_view_json(self, room_id: str) -> bytes:
        """The room view serialised, shared by every reader of the same moment: the dashboard's
        stream, its polling, and the MQTT state topic all ask for it after each change."""
        key = (self.engine.version, self.lighting.version, self._versions.get(room_id, 0),
               int(self.engine.clock.now() * VIEW_CACHE_PER_S))
        cached = self._view_cache.get(room_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        data = self.room_view(room_id).model_dump_json().encode()
        self._view_cache[room_id] = (key, data)
        return data

    def notify(self, room: str, kind: str, detail: dict[str, Any] | None = None) -> None:
        self._versions[room] = self._versions.get(room, 0) + 1
        self.changes.publish(RoomChange(room, kind, detail or {}))

    def _lights_changed(self, room: str) -> None:
        if room in self._light_notice_pending:
            return
        self._light_notice_pending.add(room)

        def flush() -> None:
            self._light_notice_pending.discard(room)
            self.notify(room, "lights")

        asyncio.get_running_loop().call_later(LIGHT_NOTICE_INTERVAL_S, flush)

    async def _follow_sessions(self) -> None:
        """Carry the session's phase changes into the room, and every notice to listeners."""
        with self.engine.notices.subscribe() as notices:
            while True:
                notice: Notice = await notices.get()
                if notice.kind == "phase" and not notice.state.panic and not self.panic.status(notice.room).active:
                    # A phase change ends any manual override: the phase's scene takes over.
                    self.lighting.apply_scene(notice.room, notice.state.scene, source="phase")
                self.notify(notice.room, notice.kind, notice.detail)

    def _on_panic_message(self, topic: str, payload: bytes) -> None:
        """`arcroom/<room>/panic` with PRESS (a Home Assistant button) or a JSON object."""
        room = topic.split("/")[1]
        if room not in self.engine.rooms:
            log.warning("panic message for unknown room %r ignored", room)
            return
        by = "mqtt"
        text = payload.decode("utf-8", "replace").strip()
        if text.startswith("{"):
            try:
                by = f"mqtt:{json.loads(text).get('by', 'json')}"
            except (ValueError, AttributeError):
                log.warning("panic message on %s is not valid JSON; treated as PRESS", topic)
        elif text.upper() not in ("PRESS", ""):
            log.warning("panic message on %s with payload %r: treated as PRESS", topic, text[:40])
        task = asyncio.get_running_loop().create_task(self.panic.panic(room, by))
        self._panic_tasks.add(task)
        task.add_done_callback(self._panic_tasks.discard)

    def _publish_discovery(self) -> None:
        # Retained, so the link republishes them after every reconnect as well.
        for room in self.engine.rooms.values():
            for topic, payload in discovery_messages(room, self.link.status_topic):
                self.link.publish(topic, payload, qos=1, retain=True)

    def _on_home_assistant_status(self, topic: str, payload: bytes) -> None:
        if payload.strip().lower() == b"online":  # Home Assistant (re)started: tell it again
            self._publish_discovery()
            for room_id in self.engine.rooms:
                self._publish_state(room_id)

    def state_topic(self, room_id: str) -> str:
        return f"arcroom/{room_id}/state"

    async def _publish_states(self) -> None:
        """Keep each room's retained state topic current."""
        with self.changes.subscribe() as changes:
            for room_id in self.engine.rooms:
                self._publish_state(room_id)
            while True:
                change = await changes.get()
                self._publish_state(change.room)

    def _publish_state(self, room_id: str) -> None:
        self.link.publish(self.state_topic(room_id), self.room_view_json(room_id), qos=1, retain=True)


class _PanicAudio:
    """A room's music as the panic path sees it."""

    def __init__(self, music: RoomMusic, room: str) -> None:
        self.music = music
        self.room = room

    async def pause(self, fade_s: float = 0.0) -> None:
        await self.music.pause(self.room, fade_s)

    async def resume(self, fade_in_s: float = 0.0) -> None:
        await self.music.resume_after_panic(self.room, fade_in_s)
