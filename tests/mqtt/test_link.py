"""MqttLink against a real Mosquitto, watched by a separate real aiomqtt client."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from app.leadership import Fence
from app.mqtt import BrokerAddress, MqttLink
from app.mqtt.link import STATUS_TOPIC
from tests.conftest import Mosquitto
from tests.support import WAIT_S, next_message, observer, unique


async def retained(port: int, topic: str) -> bytes:
    """What a client that connects now is told about `topic` straight away: the retained payload."""
    async with observer(port, topic) as client:
        message = await next_message(client, topic)
        assert message.retain, f"{topic}: got a live message, not the retained one"
        assert isinstance(message.payload, bytes)
        return message.payload


async def clear_retained(port: int, topic: str) -> None:
    async with observer(port) as client:
        await client.publish(topic, b"", qos=1, retain=True)


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running(link: MqttLink) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(link.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def link_for(mosquitto: Mosquitto) -> MqttLink:
    return MqttLink(BrokerAddress.from_url(mosquitto.url), client_id=unique("arcroom-link"))


def drop_connection(link: MqttLink) -> None:
    """Cut the link's TCP connection under it, as a crash or a pulled cable would: no DISCONNECT."""
    assert link._client is not None
    sock = link._client._client.socket()
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)


# --- (a) online, retained -------------------------------------------------------------------


async def test_online_is_retained_for_subscribers_that_connect_later(mosquitto: Mosquitto) -> None:
    await clear_retained(mosquitto.port, STATUS_TOPIC)
    link = link_for(mosquitto)
    async with running(link):
        async with asyncio.timeout(WAIT_S):
            await link.wait_connected()
        assert link.connected
        # This observer connects only after the link published: it can learn it only from the retained copy.
        assert await retained(mosquitto.port, STATUS_TOPIC) == b"online"
        await link.close()


# --- (b) last will and goodbye -------------------------------------------------------------


async def test_an_ungraceful_drop_makes_the_broker_publish_the_will_offline(mosquitto: Mosquitto) -> None:
    link = link_for(mosquitto)
    link.backoff_start_s = 60  # stay away after the drop, so that "offline" is what remains retained
    async with running(link), observer(mosquitto.port, STATUS_TOPIC) as watcher:
        async with asyncio.timeout(WAIT_S):
            await link.wait_connected()
        await next_message(watcher, STATUS_TOPIC, lambda m: m.payload == b"online")

        drop_connection(link)

        # Nobody at Arcroom said goodbye: this "offline" can only be the will, sent by the broker.
        await next_message(watcher, STATUS_TOPIC, lambda m: m.payload == b"offline")
        # Retained, so a dashboard that connects while the service is gone learns it too.
        assert await retained(mosquitto.port, STATUS_TOPIC) == b"offline"
        assert not link.connected


async def test_a_crashed_runs_will_arriving_after_the_new_run_said_online_is_answered(mosquitto: Mosquitto) -> None:
    """Each run has its own client id: after a kill -9 the broker notices the old connection only at
    its keepalive, and its will "offline" can come after the new run's "online"."""
    old, new = link_for(mosquitto), link_for(mosquitto)
    old.backoff_start_s = 60  # the crashed run does not come back
    async with running(old), running(new), observer(mosquitto.port, STATUS_TOPIC) as watcher:
        async with asyncio.timeout(WAIT_S):
            await old.wait_connected()
            await new.wait_connected()
        drop_connection(old)
        await next_message(watcher, STATUS_TOPIC, lambda m: m.payload == b"offline")  # the old run's will
        await next_message(watcher, STATUS_TOPIC, lambda m: m.payload == b"online")
        assert await retained(mosquitto.port, STATUS_TOPIC) == b"online"
        await new.close()


async def test_close_publishes_offline_itself_and_it_stays_retained(mosquitto: Mosquitto) -> None:
    link = link_for(mosquitto)
    async with running(link) as task, observer(mosquitto.port, STATUS_TOPIC) as watcher:
        async with asyncio.timeout(WAIT_S):
            await link.wait_connected()
        await next_message(watcher, STATUS_TOPIC, lambda m: m.payload == b"online")

        await link.close()
        # Seen while the link is still connected: close() said it, not the broker's will.
        await next_message(watcher, STATUS_TOPIC, lambda m: m.payload == b"offline")
        assert link.connected and not task.done()

    assert await retained(mosquitto.port, STATUS_TOPIC) == b"offline"


# --- (c) reconnect, and the retained state survives the broker's absence --------------------


async def test_retained_publishes_made_while_the_broker_is_down_arrive_after_it_returns(mosquitto: Mosquitto) -> None:
    topic = f"arcroom/{unique('room')}/state"
    link = link_for(mosquitto)
    async with running(link):
        async with asyncio.timeout(WAIT_S):
            await link.wait_connected()
        link.publish(topic, b'{"v": 0}', qos=1, retain=True)
        async with observer(mosquitto.port, topic) as watcher:
            await next_message(watcher, topic, lambda m: m.payload == b'{"v": 0}')

        mosquitto.stop()
        try:
            link.publish(topic, b'{"v": 1}', qos=1, retain=True)  # may race the link noticing the loss
            await eventually(lambda: not link.connected)
            link.publish(topic, b'{"v": 2}', qos=1, retain=True)  # certainly while it is away
            # The service goes on: publishing never blocks or raises while the broker is away.
            assert not link.connected
        finally:
            mosquitto.start()  # same port; persistence is off, so the broker has forgotten everything

        async with observer(mosquitto.port, topic, STATUS_TOPIC) as watcher:
            # Whether this observer beat the reconnect or not, it gets the latest state, live or retained.
            await next_message(watcher, topic, lambda m: m.payload == b'{"v": 2}')
        assert await retained(mosquitto.port, topic) == b'{"v": 2}'
        assert await retained(mosquitto.port, STATUS_TOPIC) == b"online"
        assert link.connected and link.connects == 2
        await link.close()


async def test_the_link_keeps_retrying_until_a_broker_appears(mosquitto: Mosquitto) -> None:
    """Started while the broker is down (a power cut that brought the service up first)."""
    topic = f"arcroom/{unique('room')}/state"
    link = link_for(mosquitto)
    mosquitto.stop()
    try:
        async with running(link) as task:
            link.publish(topic, b"before the broker", qos=1, retain=True)
            await eventually(lambda: link.last_error is not None)
            assert not link.connected and not task.done()
            mosquitto.start()
            async with asyncio.timeout(WAIT_S):
                await link.wait_connected()
            assert await retained(mosquitto.port, topic) == b"before the broker"
            assert link.last_error is None
            await link.close()
    finally:
        if mosquitto.process is None:
            mosquitto.start()


# --- (d) subscriptions -----------------------------------------------------------------------


async def test_handlers_get_messages_and_a_failing_handler_does_not_stop_later_ones(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    base = f"arcroom/{unique('room')}/cmd"
    good: list[tuple[str, bytes]] = []
    failing_calls: list[bytes] = []

    def failing(topic: str, payload: bytes, retained: bool) -> None:
        failing_calls.append(payload)
        raise ValueError(f"a device sent nonsense: {payload!r}")

    link = link_for(mosquitto)
    link.subscribe(f"{base}/#", failing)
    link.subscribe(f"{base}/#", lambda topic, payload, retained: good.append((topic, payload)))
    async with running(link), observer(mosquitto.port) as device:
        async with asyncio.timeout(WAIT_S):
            await link.wait_connected()
        for n in range(3):
            await device.publish(f"{base}/light", f"m{n}".encode(), qos=1)
        await eventually(lambda: len(good) == 3)

        assert good == [(f"{base}/light", b"m0"), (f"{base}/light", b"m1"), (f"{base}/light", b"m2")]
        assert failing_calls == [b"m0", b"m1", b"m2"]
        assert link.connected and link.connects == 1  # the failures never cost the connection
        assert "a device sent nonsense" in caplog.text  # logged, not swallowed silently
        await link.close()


async def test_a_subscription_made_while_connected_takes_effect(mosquitto: Mosquitto) -> None:
    topic = f"arcroom/{unique('room')}/cmd"
    got: list[bytes] = []
    link = link_for(mosquitto)
    async with running(link), observer(mosquitto.port) as device:
        async with asyncio.timeout(WAIT_S):
            await link.wait_connected()
        # Retained, so it reaches the link whenever its subscription becomes active.
        await device.publish(topic, b"hello", qos=1, retain=True)
        link.subscribe(topic, lambda t, payload, retained: got.append(payload))
        await eventually(lambda: got == [b"hello"])
        await device.publish(topic, b"", qos=1, retain=True)
        await link.close()


async def test_after_a_drop_the_link_reconnects_says_online_and_resubscribes(mosquitto: Mosquitto) -> None:
    topic = f"arcroom/{unique('room')}/cmd"
    got: list[bytes] = []
    link = link_for(mosquitto)
    link.subscribe(topic, lambda t, payload, retained: got.append(payload))
    async with running(link), observer(mosquitto.port) as device:
        async with asyncio.timeout(WAIT_S):
            await link.wait_connected()
        drop_connection(link)
        await eventually(lambda: link.connected and link.connects == 2)
        # Back on its own; it says so over the will's "offline", and has subscribed again
        # before it reports itself connected.
        assert await retained(mosquitto.port, STATUS_TOPIC) == b"online"
        await device.publish(topic, b"after the drop", qos=1)
        await eventually(lambda: got == [b"after the drop"])
        await link.close()


# --- (e) addresses ---------------------------------------------------------------------------


def test_broker_address_from_url_with_credentials_and_port() -> None:
    a = BrokerAddress.from_url("mqtt://user:pass@host:1234")
    assert (a.host, a.port, a.tls, a.username, a.password) == ("host", 1234, False, "user", "pass")


def test_broker_address_defaults() -> None:
    plain = BrokerAddress.from_url("mqtt://broker.lan")
    assert (plain.host, plain.port, plain.tls, plain.username, plain.password) == (
        "broker.lan",
        1883,
        False,
        None,
        None,
    )
    tls = BrokerAddress.from_url("mqtts://broker.lan")
    assert (tls.port, tls.tls) == (8883, True)
    assert BrokerAddress.from_url("mqtts://broker.lan:9999").port == 9999


def test_broker_address_credentials_are_percent_decoded_and_settings_win() -> None:
    a = BrokerAddress.from_url("mqtt://us%40er:p%3Ass@host")
    assert (a.username, a.password) == ("us@er", "p:ss")
    b = BrokerAddress.from_url("mqtt://user:pass@host", username="svc", password="secret")
    assert (b.username, b.password) == ("svc", "secret")


def test_broker_address_never_shows_the_password() -> None:
    """The address is logged at start-up; the password must not end up in the log."""
    a = BrokerAddress.from_url("mqtts://user:hunter2@host:1234")
    assert str(a) == "mqtts://host:1234"
    assert "hunter2" not in str(a)


async def test_an_idle_link_with_its_short_keepalive_stays_connected(mosquitto: Mosquitto) -> None:
    """Keepalive 2 s (a hung service is offline within seconds): the heartbeat keeps an idle link,
    with nothing else to send, from being dropped by the broker as silent."""
    link = link_for(mosquitto)
    async with running(link), observer(mosquitto.port, STATUS_TOPIC) as watcher:
        async with asyncio.timeout(WAIT_S):
            await link.wait_connected()
        await asyncio.sleep(8)  # four keepalives
        assert link.connected and link.connects == 1
        # No will was published meanwhile. A retained "offline" left on the shared broker by an earlier
        # test is delivered when the watcher subscribes (retain flag set): that is not this link's will.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await next_message(watcher, STATUS_TOPIC, lambda m: m.payload == b"offline" and not m.retain)
        await link.close()


async def test_what_paho_took_before_the_fence_dropped_is_never_written(mosquitto: Mosquitto) -> None:
    """A leader frozen between handing a message to paho and writing it: as it thaws, the socket's
    writer callback runs before anything of its own sees its fence lapsed."""
    fence = Fence(leading=True)
    link = link_for(mosquitto)
    link.fence = fence
    topic = unique("fenced")
    async with observer(mosquitto.port, topic) as watcher, running(link):
        await link.wait_connected()
        assert link._client is not None
        link._client._client.publish(topic, b"a fade step", 1, False)  # taken; written on a later loop turn
        fence.drop()  # meanwhile the lease lapsed
        heard = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                async for message in watcher.messages:
                    heard.append(message.payload)
        assert heard == [], "the fenced link wrote what paho had taken"
