"""One long-lived MQTT connection: reconnects with backoff, resubscribes, never blocks callers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

# (topic, payload, retained): a retained message is the broker replaying old news on subscribe.
Handler = Callable[[str, bytes, bool], None]
STATUS_TOPIC = "arcroom/status"
# The broker declares the service gone (and publishes its will) after 1.5 keepalives without a
# packet, checked at its own pace (Mosquitto 2.0 every few seconds): a hung service must read as
# offline within 10 s, where a 15 s keepalive took about 27 s. paho pings only when a keepalive
# has passed, checked once a second, which would leave no margin at 2 s: a heartbeat every
# second keeps the connection busy instead, so only a service that has stopped goes quiet.
KEEPALIVE_S = 2
HEARTBEAT_S = 1.0
HEARTBEAT_TOPIC = "arcroom/service/heartbeat"
LOGIN_SETTINGS = "ARCROOM_MQTT_USERNAME and ARCROOM_MQTT_PASSWORD (or the user:password in ARCROOM_MQTT_URL)"
RETRY_LOG_EVERY_S = 300.0  # the same failure is said again this often, not at every retry
# CONNACK refusals that mean the credentials, in MQTT 3.1.1 (4, 5) and 5 (134, 135) numbering.
_LOGIN_REFUSED = {4, 5, 134, 135}


def login_refused(exc: aiomqtt.MqttError) -> bool:
    """Did the broker refuse the service's username or password (not merely go away)?"""
    if not isinstance(exc, aiomqtt.MqttCodeError):
        return False
    rc = exc.rc
    value = rc.value if isinstance(rc, ReasonCode) else rc
    return value in _LOGIN_REFUSED


class Fence(Protocol):
    """Whether this instance may send now (app/leadership.py's, when a standby is configured)."""

    def ok(self) -> bool: ...


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str, username: str | None = None, password: str | None = None) -> BrokerAddress:
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=username or (unquote(parts.username) if parts.username else None),
            password=password or (unquote(parts.password) if parts.password else None),
        )

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class _Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether `topic` matches `topic_filter` (`+` one level, `#` every level below, neither at the
    first level of a `$` topic), by the MQTT rules. Every message received is matched against every
    filter subscribed, so this does without aiomqtt's recursive matcher, whose closure leaves a
    reference cycle per call for the garbage collector to find."""
    if topic_filter == topic:
        return True
    if "+" not in topic_filter and "#" not in topic_filter:
        return False
    levels = topic.split("/")
    for i, wanted in enumerate(topic_filter.split("/")):
        if i == 0 and wanted in ("+", "#") and topic.startswith("$"):
            return False
        if wanted == "#":
            return True
        if i >= len(levels) or (wanted != "+" and wanted != levels[i]):
            return False
    return len(levels) == len(topic_filter.split("/"))


class MqttLink:
    """The service's connection to the broker.

    `publish` only queues: the session engine never waits on the network. Retained topics keep
    their latest payload and are published again after every reconnect, so the broker always
    ends up with the current state; other messages wait in a bounded queue while the broker is away.
    """

    backoff_start_s = 0.25
    # Short on purpose: the broker is on the clinic's LAN, and lights must get their state back
    # within seconds of its return.
    backoff_max_s = 1.0
    outbox_limit = 10_000
    login_backoff_max_s = 30.0

    def __init__(
        self,
        address: BrokerAddress,
        client_id: str = "arcroom",
        status_topic: str = STATUS_TOPIC,
        keepalive_s: int = KEEPALIVE_S,
        *,
        mqtt5: bool = False,
    ) -> None:
        self.address = address
        self.client_id = client_id
        # MQTT 5: the broker answers a publish its ACL refuses with "Not authorized" (to MQTT 3
        # clients it drops it without a word). Not for the embedded broker, which speaks 3.1.1.
        self.mqtt5 = mqtt5
        self._in_flight: dict[int, str] = {}  # message id -> topic, until its PUBACK
        self.refused: dict[str, str] = {}  # topic -> the broker's reason, until a publish there passes
        self.status_topic = status_topic
        self.keepalive_s = keepalive_s
        self._retained: dict[str, _Outgoing] = {}
        self._outbox: deque[_Outgoing] = deque(maxlen=self.outbox_limit)
        self._handlers: dict[str, list[Handler]] = {}
        self._command_filters: set[str] = set()
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._on_connect_hooks: list[Callable[[], None]] = []
        self._pending: set[asyncio.Task[None]] = set()  # subscribes in flight
        self.connects = 0
        self.last_error: str | None = None
        self.problem: str | None = None  # why it is not connected, in the clinic's terms (for health)
        self._closing = False
        # Awaited on each connection before the service says anything (True on the first): it may
        # refuse() the connection, as the instance claim does when another instance runs the rooms.
        self.gate: Callable[[bool], Awaitable[None]] | None = None
        # While the gate runs, only these topics' messages are handled; the rest wait for the
        # announce, so nothing acts on the broker's retained news before the link may speak.
        self.gate_filters: tuple[str, ...] = ()
        self._held: list[aiomqtt.Message] | None = None
        # With a standby (app/leadership.py): nothing leaves once this instance cannot show it leads.
        self.fence: Fence | None = None
        self._fenced_logged = False
        self.refusal: str | None = None
        self._refused = asyncio.Event()
        # Each instance has its own client id, so after a crash (kill -9, power cut) the old
        # connection's last will can reach the broker after this run has said "online": say it again.
        self._handlers[status_topic] = [self._on_status]

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False, queue_offline: bool = True
    ) -> None:
        """Send a message now, without waiting for the broker's acknowledgement.

        While the broker is away: a retained topic keeps its latest payload for the reconnect;
        other messages wait in a bounded queue, unless queue_offline=False (commands whose
        owner re-asserts the current state on reconnect, see on_connect)."""
        data = payload.encode() if isinstance(payload, str) else payload
        message = _Outgoing(topic, data, qos, retain)
        if retain:
            self._retained[topic] = message
        if self.connected and self._send_now(message):
            return
        if not retain and queue_offline:
            self._outbox.append(message)

    def reset_connection(self) -> None:
        """Drop the broker connection so that nothing already sent can still arrive. A link that is
        down keeps what was written in the kernel and delivers it when the link heals, by then
        perhaps after another instance has taken the lead (a cut-off leader's fade step overrode the
        new leader's panic in a drill). A reset (SO_LINGER 0) discards it; a close would not."""
        paho = getattr(self._client, "_client", None)
        sock = paho.socket() if paho is not None else None
        if paho is None or sock is None:
            return
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        log.warning("MQTT: connection reset: what this instance sent and the broker has not received is dropped")
        paho._sock_close()  # paho's own close: it unregisters the socket from the loop first

    def _send_now(self, m: _Outgoing) -> bool:
        if self.fence is not None and not self.fence.ok():
            if not self._fenced_logged:
                log.error("MQTT: this instance no longer leads: nothing more is sent (first dropped: %s)", m.topic)
                self._fenced_logged = True
                self.reset_connection()
            return True  # dropped, not queued: the leader now says what the rooms show
        # aiomqtt's publish() awaits each PUBACK; waiting for one before sending the next would put
        # a network round trip per light on the panic path. paho, which aiomqtt wraps and which
        # tracks QoS 1 delivery itself, takes the message at once.
        paho = getattr(self._client, "_client", None)
        if paho is None:
            return False
        info = paho.publish(m.topic, m.payload, m.qos, m.retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        if self.mqtt5 and m.qos > 0:
            if len(self._in_flight) >= self.outbox_limit:  # never acknowledged (a lost connection's)
                self._in_flight.pop(next(iter(self._in_flight)))
            self._in_flight[info.mid] = m.topic
        # Write it to the socket now rather than a loop turn or two later, behind whatever else is
        # ready to run (the socket is non-blocking: what does not fit waits for the writer callback).
        paho.loop_write()
        if not paho.want_write():
            # aiomqtt adds its writer callback through call_soon_threadsafe; queue the matching
            # removal behind it, or the callback would spin on an idle socket.
            asyncio.get_running_loop().call_soon_threadsafe(_drop_idle_writer, paho)
        return True

    def on_connect(self, hook: Callable[[], None]) -> None:
        """Call `hook` after every (re)connect, once subscriptions are in place."""
        self._on_connect_hooks.append(hook)

    def subscribe(self, topic_filter: str, handler: Handler, *, commands: bool = False) -> None:
        """Call `handler(topic, payload, retained)` for each message; survives reconnects.

        commands=True: the topics are commands, acted on when sent. A retained message there would
        act again on every (re)subscribe, so it is not passed on but logged and cleared; an empty
        payload (how MQTT deletes a retained message, our own clearing included) is never passed on."""
        first = topic_filter not in self._handlers
        self._handlers.setdefault(topic_filter, []).append(handler)
        if commands:
            self._command_filters.add(topic_filter)
        if first and self._client is not None and self.connected:
            task = asyncio.get_running_loop().create_task(self._subscribe_now(topic_filter))
            self._pending.add(task)  # keep a reference until done, as asyncio asks
            task.add_done_callback(self._subscribed)

    def unsubscribe(self, topic_filter: str) -> None:
        """Stop every handler of `topic_filter` (and the broker's deliveries for it)."""
        if self._handlers.pop(topic_filter, None) is None:
            return
        self._command_filters.discard(topic_filter)
        if self._client is not None and self.connected:
            task = asyncio.get_running_loop().create_task(self._unsubscribe_now(topic_filter))
            self._pending.add(task)
            task.add_done_callback(self._subscribed)

    async def _unsubscribe_now(self, topic_filter: str) -> None:
        try:
            if self._client is not None:
                await self._client.unsubscribe(topic_filter)
        except aiomqtt.MqttError as exc:
            log.warning("unsubscribe from %s failed (%s)", topic_filter, exc)

    def clear_retained(self, topic: str) -> None:
        """Delete the broker's retained message on `topic` (now, or on reconnect)."""
        self.publish(topic, b"", qos=1, retain=True)

    def _subscribed(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("subscribing failed; retried on reconnect", exc_info=exc)

    async def _subscribe_now(self, topic_filter: str) -> None:
        try:
            if self._client is not None:
                await self._client.subscribe(topic_filter, qos=1)
        except aiomqtt.MqttError as exc:
            log.warning("subscribe to %s failed (%s); retried on reconnect", topic_filter, exc)

    async def run(self) -> None:
        """Stay connected until cancelled."""
        delay = self.backoff_start_s
        said: tuple[str, float] | None = None  # (what the log last said, when): a retry is not news
        cap = self.backoff_max_s
        while True:
            try:
                async with self._make_client() as client:
                    self._client = client
                    await self._subscribe_all(client)
                    loop = asyncio.get_running_loop()
                    # Messages flow from here on: the gate's answers, a refusal at any time.
                    tasks = [loop.create_task(self._receive(client)), loop.create_task(self._refused.wait())]
                    try:
                        if self.gate is not None:
                            self._held = []
                            await self.gate(self.connects == 0)
                        if self.refusal is None:
                            self._announce()
                            held, self._held = self._held or [], None
                            for message in held:
                                self._dispatch(message)
                            delay = self.backoff_start_s
                            said = None
                            tasks.append(loop.create_task(self._heartbeat()))
                            await asyncio.wait(tasks[:2], return_when=asyncio.FIRST_COMPLETED)
                            if tasks[0].done():
                                tasks[0].result()  # the connection was lost: MqttError
                    finally:
                        self._held = None
                        for task in tasks:
                            task.cancel()
            except aiomqtt.MqttError as exc:
                refused = login_refused(exc)
                cap = self.login_backoff_max_s if refused else self.backoff_max_s
                self.last_error = str(exc)
                self.problem = (
                    f"the broker {self.address} refused the login of user {self.address.username or '(none)'!r} "
                    f"({exc}): check {LOGIN_SETTINGS}"
                    if refused
                    else f"the broker {self.address} is unavailable ({exc})"
                )
                now = asyncio.get_running_loop().time()
                if said is None or said[0] != self.problem or now - said[1] >= RETRY_LOG_EVERY_S:
                    said = (self.problem, now)
                    log.log(
                        logging.ERROR if refused else logging.WARNING,
                        "MQTT: %s; retrying every %.0f s at most",
                        self.problem,
                        cap,
                    )
                if refused:
                    # A wrong password does not fix itself within a second: ask again now and then,
                    # so an account made on the broker is still found without a restart.
                    delay = max(delay, self.login_backoff_max_s / 8)
            finally:
                self._connected.clear()
                self._client = None
            if self.refusal is not None:
                self.problem = self.refusal
                await asyncio.Event().wait()  # for good: a person must stop one of the two
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)

    def refuse(self, reason: str) -> None:
        """Leave the broker for good (another instance runs these rooms): `reason` is the problem."""
        if self.refusal is None:
            self.refusal = reason
            self._refused.set()

    def send_early(self, topic: str, payload: bytes) -> None:
        """Send on the current connection before "online" (the gate's claim); dropped if there is none."""
        self._send_now(_Outgoing(topic, payload, 1, False))

    def republish_retained(self) -> None:
        """Send every retained topic again (another client may have overwritten them)."""
        if self.connected:
            for message in self._retained.values():
                self._send_now(message)

    def _watch_acknowledgements(self, client: aiomqtt.Client) -> None:
        paho = getattr(client, "_client", None)  # aiomqtt has no hook of its own for PUBACK reason codes
        if paho is None:
            return
        inner = paho.on_publish

        def on_publish(c: mqtt.Client, userdata: object, mid: int, code: ReasonCode, props: object) -> None:
            topic = self._in_flight.pop(mid, None)
            if topic is not None:
                if code.is_failure:
                    if topic not in self.refused:
                        log.error(
                            "MQTT: the broker refuses the service's messages on %s (%s): make its ACL with "
                            "`arcroom broker acl`",
                            topic,
                            code,
                        )
                    self.refused[topic] = str(code)
                else:
                    self.refused.pop(topic, None)
            inner(c, userdata, mid, code, props)

        paho.on_publish = on_publish

    def _on_status(self, topic: str, payload: bytes, retained: bool) -> None:
        if payload == b"offline" and not retained and self.connected and not self._closing:
            log.info("MQTT: an earlier connection's last will said %s is offline; saying online again", topic)
            self._send_now(_Outgoing(self.status_topic, b"online", 1, True))

    async def close(self) -> None:
        """Say goodbye cleanly; the broker's last will covers the ungraceful case."""
        self._closing = True
        if self._client is not None and self.connected:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await asyncio.wait_for(self._client.publish(self.status_topic, b"offline", qos=1, retain=True), 2)

    def _make_client(self) -> aiomqtt.Client:
        a = self.address
        client = aiomqtt.Client(
            a.host,
            a.port,
            username=a.username,
            password=a.password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if self.mqtt5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(self.status_topic, b"offline", qos=1, retain=True),
            tls_context=ssl.create_default_context() if a.tls else None,
            keepalive=self.keepalive_s,
            timeout=5,
        )
        if self.fence is not None:
            self._fence_writes(client._client)
        return client

    def _fence_writes(self, paho: mqtt.Client) -> None:
        """Nothing reaches the socket once the fence is down, not even what paho took before it
        dropped: a leader frozen with a message in paho's buffer would write it as it thaws, before
        anything of its own sees the fence lapsed (the socket's writer callback runs first; the
        broker's log showed a thawed leader's state publish). aiomqtt's writer callback and
        `_send_now` both call the client's `loop_write`, so this one place covers every write."""
        write = paho.loop_write
        fence = self.fence

        def fenced() -> MQTTErrorCode:
            if fence is None or fence.ok():
                return write()
            self.reset_connection()
            return MQTTErrorCode.MQTT_ERR_NO_CONN

        paho.loop_write = fenced  # type: ignore[method-assign]

    async def _subscribe_all(self, client: aiomqtt.Client) -> None:
        _no_delay(client)
        self._in_flight.clear()
        if self.mqtt5:
            self._watch_acknowledgements(client)
        for topic_filter in list(self._handlers):
            await client.subscribe(topic_filter, qos=1)

    def _announce(self) -> None:
        self.connects += 1
        self.last_error = None
        self.problem = None
        log.info("MQTT connected to %s", self.address)
        self._connected.set()
        # First what the lights must show now (the hooks re-assert them: in a panic, every second
        # counts), then the retained state the broker may have lost, and only then "online", so
        # nobody who trusts "online" reads the state of the last run.
        for hook in self._on_connect_hooks:
            try:
                hook()
            except Exception:
                log.exception("on-connect hook failed")
        for message in [*self._retained.values(), *self._outbox]:
            if message.topic != self.status_topic:
                self._send_now(message)
        self._outbox.clear()
        self._send_now(_Outgoing(self.status_topic, b"online", 1, True))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self._send_now(_Outgoing(HEARTBEAT_TOPIC, b"", 0, False))

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if self._held is not None and not any(topic_matches(f, message.topic.value) for f in self.gate_filters):
                self._held.append(message)  # the room acts on it once the link is announced
                continue
            self._dispatch(message)

    def _dispatch(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        raw = message.payload
        payload = raw if isinstance(raw, bytes | bytearray) else str(raw or "").encode()
        for topic_filter, handlers in list(self._handlers.items()):
            if topic_matches(topic_filter, topic):
                if topic_filter in self._command_filters and not self._is_command(topic, bytes(payload), message):
                    continue
                for handler in handlers:
                    try:
                        handler(topic, bytes(payload), bool(message.retain))
                    except Exception:  # a device's bad message must never take the link down
                        log.exception("handler for %s failed on a message on %s", topic_filter, topic)

    def _is_command(self, topic: str, payload: bytes, message: aiomqtt.Message) -> bool:
        if not payload:
            return False
        if message.retain:
            log.warning(
                "retained message on command topic %s ignored and cleared (payload %r): commands must not be retained",
                topic,
                payload[:60],
            )
            self._send_now(_Outgoing(topic, b"", 1, True))
            return False
        return True


def _no_delay(client: aiomqtt.Client) -> None:
    """Send small packets at once: with Nagle's algorithm a command can wait for the previous
    packet's ACK (measured: 44 ms on loopback when the connection also receives)."""
    paho = getattr(client, "_client", None)  # aiomqtt has no public accessor for the socket
    sock = paho.socket() if paho is not None else None
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            log.debug("could not set TCP_NODELAY: %s", exc)


def _drop_idle_writer(paho: mqtt.Client) -> None:
    sock = paho.socket()
    if sock is not None and not paho.want_write():
        asyncio.get_running_loop().remove_writer(sock.fileno())
