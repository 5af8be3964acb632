"""The running service: builds and wires every part, brings them up in order and down in reverse.

No policy lives here: what a room does is app/room.py, the MQTT side is app/mqtt/bridge.py,
views are app/views.py, and every background task runs under one Supervisor.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from app import systemd
from app.audio import Player, VlcPlayer
from app.audio.player import deck_outputs
from app.audio.snapcast import SnapcastOutput
from app.catalog import Catalog
from app.domain.clock import Clock, SystemClock
from app.domain.errors import NotFound
from app.domain.rooms import Room
from app.engine import SessionEngine
from app.leadership import Fence
from app.mqtt import BrokerAddress, EmbeddedBroker, MqttLink
from app.mqtt.bridge import MqttBridge, catalogue_for
from app.mqtt.broker import SERVICE_ACCOUNT, embedded_access
from app.mqtt.instances import InstanceClaim
from app.music.demo import generate_demo_library
from app.music.options import music_options
from app.pubsub import Hub
from app.retention import keep_purging
from app.room import RoomChange, RoomController
from app.settings import Settings
from app.simulators.start import run_simulator
from app.stores import open_store
from app.supervisor import Supervisor
from app.views import RoomView, ViewCache, room_view

log = logging.getLogger(__name__)

# Makes one deck of a room's music: the room's audio settings, with `output` set to that deck's own.
PlayerFactory = Callable[[Room, Settings], Player]


def vlc_player_for(room: Room, settings: Settings) -> Player:
    return VlcPlayer(room.audio.output, room.audio.device, name=room.id)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    catalog: Catalog
    clock: Clock
    engine: SessionEngine  # the sessions' records; a room's session is driven through its RoomController
    rooms: dict[str, RoomController]
    link: MqttLink
    broker: EmbeddedBroker | None
    views: ViewCache
    changes: Hub[RoomChange]
    supervisor: Supervisor

    def room(self, room_id: str) -> RoomController:
        try:
            return self.rooms[room_id]
        except KeyError:
            raise NotFound(f"no room {room_id!r}") from None

    def problems(self) -> list[str]:
        """Why the service is not fully working, one line each naming the cause (and the setting to
        check): health says "degraded" with these, so a mistake at install time is never silent."""
        lines: list[str] = []
        if not self.link.connected:
            lines.append(self.link.problem or f"not connected to the broker {self.link.address} yet")
        lines += [
            f"the broker refuses the service's messages on {topic} ({why}): make its ACL with `arcroom broker acl`"
            for topic, why in sorted(self.link.refused.items())
        ]
        if (record := self.engine.store.problem) is not None:
            lines.append(record)
        library = self.settings.music_library
        if library is not None and not library.is_dir():
            lines.append(f"the music library {library} (ARCROOM_MUSIC_LIBRARY) is not a folder on this machine")
        for room in self.rooms.values():
            lines += room.lights.problems()
            if (music := room.music.library_problem()) is not None:
                lines.append(f"room {room.id}: music: {music.describe()}")
        return lines + self.supervisor.problems()

    def view(self, room_id: str) -> RoomView:
        return room_view(self.room(room_id), self.link.connected)

    def view_json(self, room_id: str) -> bytes:
        self.room(room_id)
        return self.views.json(room_id, self.link.connected)

    @classmethod
    @asynccontextmanager
    async def running(
        cls,
        settings: Settings,
        catalog: Catalog,
        *,
        clock: Clock | None = None,
        player_factory: PlayerFactory = vlc_player_for,
        fence: Fence | None = None,
        term: int | None = None,
    ) -> AsyncIterator[Runtime]:
        """With a standby: `fence` says whether this instance still leads (nothing is sent once it
        does not), and `term` is the lead it writes the record under."""
        clock = clock or SystemClock()
        async with AsyncExitStack() as stack:
            store = open_store(settings.database, settings.database_secret())
            store.term = term
            stack.callback(store.close)
            broker, address = await _broker(settings, stack)
            engine = SessionEngine(
                store, catalog.presets, catalog.rooms, clock, panic_counts_toward_arc=settings.panic_counts_toward_arc
            )
            engine.load()
            link = MqttLink(address, settings.mqtt_client_id, mqtt5=broker is None)
            link.fence = fence
            if fence is not None:
                fence.when_dropped(link.reset_connection)
            InstanceClaim(link, catalog.rooms, settings.mqtt_claim_wait_ms / 1000).attach()
            supervisor = Supervisor()
            changes: Hub[RoomChange] = Hub()
            libraries = library_folders(settings)
            if settings.music_library is not None and not settings.music_library.is_dir():
                # Started all the same: the lights and panic need no music. Health says so until fixed.
                log.error(
                    "the music library %s (ARCROOM_MUSIC_LIBRARY) is not a folder on this machine: "
                    "playlists from the clinic's library cannot play",
                    settings.music_library,
                )
            if any(p.library == "demo" for p in catalog.playlists.values()):
                # Made once, at the first start: a few minutes of generated ambient audio.
                await asyncio.to_thread(generate_demo_library, settings.demo_music_dir)

            rooms: dict[str, RoomController] = {}
            for room in catalog.rooms.values():
                output = settings.audio_output or room.audio.output
                speakers = (
                    SnapcastOutput(room.id, room.audio.snapcast)
                    if output == "snapcast" and room.audio.snapcast is not None
                    else None
                )
                a, b = (
                    VlcPlayer(deck, name=room.id, tap=tap)
                    # A test's own players (fakes) get no tap: what they "play" is heard nowhere.
                    if tap is not None and player_factory is vlc_player_for
                    else player_factory(
                        room.model_copy(update={"audio": room.audio.model_copy(update={"output": deck})}), settings
                    )
                    for deck, tap in zip(
                        deck_outputs(output), speakers.feed.taps if speakers else (None, None), strict=True
                    )
                )
                controller = RoomController(
                    room,
                    engine=engine,
                    store=store,
                    scenes=catalog.scenes,
                    profiles=catalog.profiles,
                    playlists=catalog.playlists,
                    link=link,
                    players=(a, b),
                    libraries=libraries,
                    clock=clock,
                    jobs=supervisor,
                    changes=changes,
                    panic_audio_fade_s=settings.panic_audio_fade_ms / 1000,
                    music_options=music_options(settings),
                    speakers=speakers,
                )
                controller.load()
                await controller.start()
                stack.push_async_callback(controller.close)
                rooms[room.id] = controller
            views = ViewCache(rooms, clock)
            discovery = catalogue_for(
                catalog.presets.values(), catalog.scenes, settings.dashboard_url(), instance=settings.instance
            )
            bridge = MqttBridge(link, rooms, views, changes, supervisor, discovery)
            bridge.attach()

            stack.push_async_callback(supervisor.stop)
            for room in catalog.rooms.values():
                for light in room.lights:
                    if light.simulated:
                        profile = catalog.profiles[light.profile]
                        supervisor.start(
                            f"simulator {room.id}/{light.name}",
                            functools.partial(run_simulator, profile, light.topic, address),
                        )
            supervisor.start("mqtt", link.run)
            stack.push_async_callback(link.close)  # runs before supervisor.stop: say "offline" while connected
            supervisor.start("engine", engine.run)
            if settings.retention_days is not None:
                supervisor.start("retention", functools.partial(keep_purging, store, settings.retention_days, clock))
            for controller in rooms.values():
                supervisor.start(f"lights {controller.id}", controller.lights.run)
                supervisor.start(f"music {controller.id}", controller.music.run)
            supervisor.start("state-publisher", bridge.publish_states)
            supervisor.start("service-state", bridge.publish_service_state)
            if systemd.watchdog_interval_s() is not None:
                # Pings from the event loop itself: a blocked loop stops them, and systemd restarts us.
                supervisor.start("systemd-watchdog", systemd.watchdog)
            supervisor.spawn("take over", _take_over(rooms.values()))
            log.info("Arcroom running: %d room(s), %d preset(s), MQTT %s", len(rooms), len(catalog.presets), address)
            try:
                yield cls(
                    settings=settings,
                    catalog=catalog,
                    clock=clock,
                    engine=engine,
                    rooms=rooms,
                    link=link,
                    broker=broker,
                    views=views,
                    changes=changes,
                    supervisor=supervisor,
                )
            finally:
                systemd.stopping()


async def _take_over(rooms: Iterable[RoomController]) -> None:
    """Every room shows what it should, then systemd hears we are ready (the API answers meanwhile)."""
    rooms = list(rooms)
    outcomes = await asyncio.gather(*(room.take_over() for room in rooms), return_exceptions=True)
    failed = [room.id for room, outcome in zip(rooms, outcomes, strict=True) if isinstance(outcome, BaseException)]
    for room, outcome in zip(rooms, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            log.error("%s could not take over after start-up", room.id, exc_info=outcome)
    # Ready even if a room failed: the others, and every panic, must work (health says what failed).
    systemd.ready("every room restored" if not failed else f"not restored: {', '.join(failed)}")


async def _broker(settings: Settings, stack: AsyncExitStack) -> tuple[EmbeddedBroker | None, BrokerAddress]:
    """The external broker's address, or an embedded broker started for this run."""
    if settings.mqtt_url:
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        return None, BrokerAddress.from_url(settings.mqtt_url, settings.mqtt_username, password)
    if settings.embedded_broker_auth and settings.mqtt_password:
        username, password = settings.mqtt_username, settings.mqtt_password.get_secret_value()
    else:
        # No account set for the service: it gets one for this run, so that its own messages pass
        # however closed the broker is (tokens set: no anonymous clients).
        username, password = SERVICE_ACCOUNT, secrets.token_urlsafe(24)
    broker = EmbeddedBroker(
        settings.embedded_broker_host,
        settings.embedded_broker_port,
        strict_port="embedded_broker_port" in settings.model_fields_set,
        access=embedded_access(settings, None if settings.embedded_broker_auth else password),
    )
    await broker.start()
    stack.push_async_callback(broker.stop)
    host = "127.0.0.1" if settings.embedded_broker_host in {"0.0.0.0", "::", ""} else settings.embedded_broker_host
    return broker, BrokerAddress(host, broker.port, username=username, password=password)


def library_folders(settings: Settings) -> dict[str, Path]:
    """The music libraries playlists may name: the generated demo one, and the clinic's if set."""
    libraries = {"demo": settings.demo_music_dir}
    if settings.music_library is not None:
        libraries["clinic"] = settings.music_library
    return libraries
