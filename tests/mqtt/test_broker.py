"""The embedded broker (amqtt), exercised by real MQTT clients, alone and inside the full app."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import json
import socket
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from pydantic import SecretStr

from app.api.app import create_app
from app.audio import FakePlayer
from app.domain.clock import ManualClock
from app.domain.rooms import Room
from app.mqtt import EmbeddedBroker
from app.mqtt.broker import Access, embedded_access
from app.settings import Settings, Token
from tests.conftest import free_port, serve
from tests.support import probes_before_marker

WAIT_S = 15


@asynccontextmanager
async def client(port: int, *topic_filters: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"test-{uuid.uuid4().hex[:10]}") as c:
        for topic_filter in topic_filters:
            await c.subscribe(topic_filter, qos=1)
        yield c


async def next_message(
    c: aiomqtt.Client, topic: str, accept: Callable[[aiomqtt.Message], bool] = lambda m: True
) -> aiomqtt.Message:
    async with asyncio.timeout(WAIT_S):
        async for message in c.messages:
            if message.topic.matches(topic) and accept(message):
                return message
    raise AssertionError("message iteration ended")  # pragma: no cover - aiomqtt raises instead


@asynccontextmanager
async def embedded(port: int, **kwargs: Any) -> AsyncIterator[EmbeddedBroker]:
    broker = EmbeddedBroker("127.0.0.1", port, **kwargs)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program (say, a mosquitto service) is listening on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


async def test_clients_exchange_messages_through_the_embedded_broker() -> None:
    port = free_port()
    async with embedded(port) as broker:
        assert broker.port == port
        async with client(port, "lights/#") as receiver, client(port) as sender:
            await sender.publish("lights/room1/set", b'{"state":"ON"}', qos=1)
            message = await next_message(receiver, "lights/#")
            assert message.topic.value == "lights/room1/set"
            assert message.payload == b'{"state":"ON"}'


async def test_a_retained_message_reaches_a_client_that_subscribes_later() -> None:
    port = free_port()
    async with embedded(port):
        async with client(port) as sender:
            await sender.publish("arcroom/one/state", b'{"id":"one"}', qos=1, retain=True)
        async with client(port, "arcroom/+/state") as late:
            message = await next_message(late, "arcroom/+/state")
            assert message.payload == b'{"id":"one"}'
            assert message.retain


async def test_a_message_reaches_its_subscriber_when_another_client_subscribes_during_its_broadcast() -> None:
    # amqtt awaits (checking who may receive) while it walks its subscriptions; a client subscribing
    # at that moment (as at start-up, every room and light subscribing) used to make it drop the
    # message being sent. Here a subscription arrives inside that await, every time.
    port = free_port()
    async with (
        embedded(port) as broker,
        client(port, "room/+/panic") as first,
        client(port, "room/#") as second,
        client(port) as sender,
    ):
        inner = broker._broker
        may_receive = inner._topic_filtering
        newcomers = iter(range(1000))

        async def filtering_while_someone_subscribes(*args: Any, **kwargs: Any) -> bool:
            inner._subscriptions[f"late/{next(newcomers)}"] = []
            return await may_receive(*args, **kwargs)  # type: ignore[no-any-return]

        inner._topic_filtering = filtering_while_someone_subscribes
        await sender.publish("room/one/panic", b"PRESS", qos=1)
        for receiver in (first, second):  # the one after the newcomer too
            assert (await next_message(receiver, "room/#")).payload == b"PRESS"


async def test_a_taken_port_falls_back_to_a_free_one(taken_port: int) -> None:
    async with embedded(taken_port) as broker:
        assert broker.requested_port == taken_port
        assert broker.port != taken_port
        async with client(broker.port, "t") as receiver, client(broker.port) as sender:
            await sender.publish("t", b"reachable on the fallback port", qos=1)
            assert (await next_message(receiver, "t")).payload == b"reachable on the fallback port"


async def test_a_taken_port_with_strict_port_fails_and_says_what_to_set(taken_port: int) -> None:
    broker = EmbeddedBroker("127.0.0.1", taken_port, strict_port=True)
    with pytest.raises(OSError) as failure:
        await broker.start()
    assert failure.value.errno == errno.EADDRINUSE
    assert "ARCROOM_MQTT_URL" in str(failure.value)
    assert str(taken_port) in str(failure.value)
    await broker.stop()  # harmless after a failed start


async def test_port_zero_picks_a_free_port() -> None:
    async with embedded(0) as broker:
        assert broker.port != 0
        async with client(broker.port, "t") as receiver, client(broker.port) as sender:
            await sender.publish("t", b"x", qos=1)
            assert (await next_message(receiver, "t")).payload == b"x"


def server_side_connections(port: int) -> list[socket.socket]:
    """Open sockets of this process that were accepted on `port` (the broker's end of each client)."""
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, socket.socket) and obj.fileno() != -1:
            try:
                local_port = obj.getsockname()[1]
            except (OSError, IndexError, TypeError):
                continue
            if local_port == port and not obj.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                found.append(obj)
    return found


def _mqtt_string(s: bytes) -> bytes:
    return len(s).to_bytes(2, "big") + s


def _packet(first_byte: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([first_byte, len(body)]) + body


async def test_a_client_that_leaves_while_a_message_is_on_its_way_is_disconnected_cleanly() -> None:
    """A device publishes on a topic it also listens to, and leaves at once (MQTT 3.1.1, by hand).

    The broker's copy for the device crosses the device's goodbye. The broker must still close
    its end of the connection: a long-running service cannot keep one socket per departed device.
    """
    port = free_port()
    broker = EmbeddedBroker("127.0.0.1", port)
    await broker.start()
    still_open: list[str] = []
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_packet(0x10, _mqtt_string(b"MQTT") + b"\x04\x02\x00\x3c" + _mqtt_string(b"light-1")))
        assert await reader.readexactly(4) == b"\x20\x02\x00\x00"  # CONNACK, accepted
        writer.write(_packet(0x82, b"\x00\x01" + _mqtt_string(b"lights/1") + b"\x00"))
        assert (await reader.readexactly(5))[:1] == b"\x90"  # SUBACK
        assert len(server_side_connections(port)) == 1

        publish = _packet(0x30, _mqtt_string(b"lights/1") + b"ON")
        disconnect = b"\xe0\x00"
        writer.write(publish + disconnect)
        writer.close()
        await writer.wait_closed()

        try:
            async with asyncio.timeout(5):
                while server_side_connections(port):
                    await asyncio.sleep(0.02)
        except TimeoutError:
            still_open = [repr(s) for s in server_side_connections(port)]
    finally:
        await broker.stop()
        del broker
        # Whatever amqtt left open is released here and reported below, not in a later test.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not still_open and not leaks, (
        f"the embedded broker kept the departed client's connection open: {still_open or leaks}"
    )


# --- the full app with no broker configured --------------------------------------------------


def embedded_settings(settings: Settings, port: int) -> Settings:
    s = settings.model_copy(update={"mqtt_url": None, "embedded_broker_port": port})
    # model_copy(update=...) marks the fields as set, so the runtime treats the port as chosen
    # by the operator (strict): the test's port must therefore really be free.
    assert "embedded_broker_port" in s.model_fields_set
    return s


async def test_the_app_runs_its_own_broker_and_publishes_room_state_there(
    settings: Settings, clock: ManualClock
) -> None:
    topic = "arcroom/one/state"
    port = free_port()
    # The observers stay connected until the service (and its broker) has stopped: clients
    # leaving while state updates are still on their way trip over the amqtt fault that
    # test_a_client_that_leaves_while_a_message_is_on_its_way_is_disconnected_cleanly isolates.
    async with AsyncExitStack() as observers:
        async with serve(embedded_settings(settings, port), clock) as service:
            assert service.runtime.broker is not None and service.runtime.broker.port == port
            early = await observers.enter_async_context(client(port, topic))
            await next_message(early, topic)  # live or retained: whether it beat the first publish

            lights = await observers.enter_async_context(client(port, topic))
            first = await next_message(lights, topic)
            assert first.retain  # a light switched on now learns the room's state from the broker
            state = json.loads(first.payload)  # type: ignore[arg-type]
            assert state["id"] == "one"
            assert state["session"] is None

            r = await service.client.post("/api/rooms/one/session", json={"preset": "psilocybin"})
            assert r.status_code == 201, r.text
            session_id = r.json()["session_id"]

            update = await next_message(lights, topic, lambda m: json.loads(m.payload)["session"] is not None)  # type: ignore[arg-type]
            session = json.loads(update.payload)["session"]  # type: ignore[arg-type]
            assert session["phase"] == "arrival"
            assert session["session_id"] == session_id

            r = await service.client.get("/api/rooms/one/state")
            assert r.json()["mqtt_connected"] is True

        # The broker went with the service: nothing is left listening on its port.
        with pytest.raises(aiomqtt.MqttError):
            async with client(port):
                pass  # pragma: no cover - the connection must be refused


async def test_the_app_refuses_an_explicitly_chosen_port_that_is_taken(
    settings: Settings, clock: ManualClock, taken_port: int
) -> None:
    """ARCROOM_EMBEDDED_BROKER_PORT set by the operator: a silent fallback would strand the lights.

    Driven through the app's lifespan directly: under uvicorn the same error ends in
    "Application startup failed" and exit code 3."""
    opened: list[str] = []

    def player_factory(room: Room, s: Settings) -> FakePlayer:
        opened.append(room.id)
        return FakePlayer(room.audio.output)

    app = create_app(embedded_settings(settings, taken_port), clock=clock, player_factory=player_factory)
    with pytest.raises(OSError, match="ARCROOM_MQTT_URL") as failure:
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover - start-up must fail
    assert failure.value.errno == errno.EADDRINUSE
    assert opened == []  # it failed before any room's audio was opened


# --- accounts and publish rules ----------------------------------------------------------------

SERVICE = ("arcroom", "service-password-123")
HA = ("homeassistant", "ha-password-12345")


def locked_access() -> Access:
    return Access(
        accounts={SERVICE[0]: (SERVICE[1], ("#",)), HA[0]: (HA[1], ("arcroom/+/panic", "arcroom/+/+/set"))},
        anonymous=True,
        anonymous_denied=("arcroom/#",),
    )


@asynccontextmanager
async def login(port: int, account: tuple[str, str] | None, *topic_filters: str) -> AsyncIterator[aiomqtt.Client]:
    user, password = account or (None, None)
    async with aiomqtt.Client(
        "127.0.0.1", port, username=user, password=password, identifier=f"test-{uuid.uuid4().hex[:10]}"
    ) as c:
        for topic_filter in topic_filters:
            await c.subscribe(topic_filter, qos=1)
        yield c


async def reaches(port: int, account: tuple[str, str] | None, topic: str) -> bool:
    """Whether `account`'s publish on `topic` reaches the service's subscriber (a marker follows it)."""
    async with login(port, SERVICE, "#") as service:
        async with login(port, account) as client:
            await client.publish(topic, b"probe", qos=1)
            # A topic this client may publish to, so that the marker itself arrives.
            await client.publish("arcroom/marker/panic" if account == HA else "marker/done", b"marker", qos=1)
        return await probes_before_marker(service) == [topic]


@pytest.mark.parametrize(
    ("account", "topic", "allowed"),
    [
        (SERVICE, "arcroom/one/state", True),
        (HA, "arcroom/one/panic", True),
        (HA, "arcroom/one/session/set", True),
        (HA, "arcroom/one/state", False),  # a fake state
        (None, "arcroom/one/panic", False),  # anonymous: no panic without an account
        (None, "zigbee2mqtt/lamp", True),  # a light on this machine still reports
    ],
)
async def test_accounts_and_anonymous_clients_publish_only_what_they_may(
    account: tuple[str, str] | None, topic: str, allowed: bool
) -> None:
    async with embedded(0, access=locked_access()) as broker:
        assert await reaches(broker.port, account, topic) is allowed


async def test_a_wrong_password_and_anonymous_clients_on_a_closed_broker_are_refused() -> None:
    closed = Access(accounts=locked_access().accounts, anonymous=False, anonymous_denied=("arcroom/#",))
    async with embedded(0, access=closed) as broker:
        with pytest.raises(aiomqtt.MqttCodeError):
            async with login(broker.port, (SERVICE[0], "not-the-password")):
                pass  # pragma: no cover - refused
        with pytest.raises(aiomqtt.MqttCodeError):
            async with login(broker.port, None):
                pass  # pragma: no cover - refused
        async with login(broker.port, SERVICE):
            pass


def test_the_rules_follow_the_settings() -> None:
    open_ = embedded_access(Settings(_env_file=None))  # type: ignore[call-arg]
    assert open_.anonymous and open_.anonymous_denied == () and open_.accounts == {}
    with_tokens = embedded_access(
        Settings(_env_file=None, tokens=[{"name": "tablet", "role": "therapist", "token": "tablet-Therapist-9xQ"}])  # type: ignore[call-arg,list-item]
    )
    assert with_tokens.anonymous_denied == ("arcroom/#",)  # tokens: no anonymous panic or command
    users = embedded_access(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            embedded_broker_host="0.0.0.0",
            mqtt_username="arcroom",
            mqtt_password="service-password-123",  # type: ignore[arg-type]
            embedded_broker_users=[
                {"username": "wall", "password": "wall-password-12345", "publish": ["arcroom/one/panic"]}
            ],  # type: ignore[list-item]
        )
    )
    assert not users.anonymous  # on the network: accounts only
    assert users.may_publish("wall", "arcroom/one/panic") and not users.may_publish("wall", "arcroom/two/panic")
    assert users.may_connect("arcroom", "service-password-123") and not users.may_connect("arcroom", "guess")


async def test_the_app_with_an_authenticated_embedded_broker_and_its_simulated_lights(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    """The service and its simulated lights log in with the service's account; a client without
    one is refused outright (it could otherwise read the room or command its lights)."""
    rooms = tmp_path / "rooms-sim.yaml"
    rooms.write_text(
        "rooms:\n  - id: one\n    name: Room one\n    audio: {output: dummy}\n    lights:\n"
        "      - {name: lamp, profile: zigbee2mqtt, topic: auth-lamp, role: lamp, simulated: true}\n"
    )
    port = free_port()
    s = embedded_settings(settings, port).model_copy(
        update={"rooms_file": rooms, "mqtt_username": "arcroom", "mqtt_password": SecretStr("service-password-123")}
    )
    async with AsyncExitStack() as observers, serve(s, clock) as svc:
        room = svc.runtime.rooms["one"]
        async with asyncio.timeout(WAIT_S):
            while not any(light.online for light in room.lights.view()):
                await asyncio.sleep(0.05)
        with pytest.raises(aiomqtt.MqttCodeError):
            await observers.enter_async_context(client(port, "arcroom/one/state"))
        assert not room.in_panic()


async def test_a_last_will_may_go_only_where_its_client_may_publish() -> None:
    """The broker publishes a will itself: one on a panic topic would panic the room when its
    client drops, past the publish rules, so such a client is refused at connect."""
    async with embedded(0, access=locked_access()) as broker:
        for account, will_topic in [(None, "arcroom/one/panic"), (HA, "arcroom/one/state")]:
            user, password = account or (None, None)
            with pytest.raises(aiomqtt.MqttCodeError):
                async with aiomqtt.Client(
                    "127.0.0.1",
                    broker.port,
                    username=user,
                    password=password,
                    will=aiomqtt.Will(will_topic, b"PRESS", qos=1, retain=True),
                ):
                    pass  # pragma: no cover - refused
        # A light's will on its own availability topic, and Home Assistant's on a command topic it may use.
        for account, will_topic in [(None, "tele/lamp/LWT"), (HA, "arcroom/one/panic")]:
            user, password = account or (None, None)
            will = aiomqtt.Will(will_topic, b"Offline", qos=1, retain=True)
            async with aiomqtt.Client("127.0.0.1", broker.port, username=user, password=password, will=will):
                pass


async def test_with_tokens_and_no_broker_account_the_service_still_speaks_and_strangers_are_refused(
    settings: Settings, clock: ManualClock
) -> None:
    port = free_port()
    token = Token(name="tablet", role="therapist", token=SecretStr("tablet-Therapist-9xQ"))
    s = embedded_settings(settings, port).model_copy(update={"tokens": [token]})
    async with serve(s, clock) as svc:
        async with asyncio.timeout(WAIT_S):
            await svc.runtime.link.wait_connected()
        r = await svc.client.post(
            "/api/rooms/one/session",
            json={"preset": "psilocybin", "client_label": "J.D."},
            headers={"Authorization": "Bearer tablet-Therapist-9xQ"},
        )
        assert r.status_code == 201, r.text
        assert (await svc.client.get("/api/health")).json()["problems"] == []
        with pytest.raises(aiomqtt.MqttCodeError):
            async with client(port, "arcroom/#"):
                pass  # pragma: no cover - refused
        # What the service published, as its own account reads it back: no client label on the broker.
        address = svc.runtime.link.address
        async with aiomqtt.Client("127.0.0.1", port, username=address.username, password=address.password) as reader:
            await reader.subscribe("arcroom/one/state", qos=1)
            state = json.loads(
                (await next_message(reader, "arcroom/one/state", lambda m: b'"session":{' in m.payload)).payload
            )  # type: ignore[arg-type]
        assert state["session"]["preset_id"] == "psilocybin" and state["session"]["client_label"] is None
        view = (await svc.client.get("/api/rooms/one", headers={"Authorization": "Bearer tablet-Therapist-9xQ"})).json()
        assert view["session"]["client_label"] == "J.D."  # behind the API's tokens


async def test_a_simulated_light_refused_by_the_broker_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    """Wrong credentials: the light retries ever more slowly (1 s, 2 s, ...), not five times a second."""
    from app.simulators import make_simulator

    async with embedded(0, access=locked_access()) as broker:
        light = make_simulator("zigbee2mqtt", "refused-lamp")
        task = asyncio.create_task(light.run("127.0.0.1", broker.port, username="arcroom", password="wrong-password"))
        await asyncio.sleep(2.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    attempts = caplog.text.count("refused the login")
    assert 1 <= attempts <= 3  # at 0, ~1 and ~3 s; without the back-off it would be about 12
    assert light.connects == 0
