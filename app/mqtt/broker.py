"""An MQTT broker inside the service (amqtt), for when the clinic runs none of its own."""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
import socket
from collections import UserDict
from collections.abc import ItemsView, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from amqtt.adapters import StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session
from paho.mqtt.client import topic_matches_sub

from app.settings import Settings, is_loopback

log = logging.getLogger(__name__)


async def _close_even_if_reset(self: StreamWriterAdapter) -> None:
    """StreamWriterAdapter.close that closes the socket even when the peer has already reset it.

    amqtt 0.12.1 marks the adapter closed, then write_eof() raises ENOTCONN on a reset connection
    and the socket is never closed: one leaked socket per client that leaves mid-delivery.
    """
    if self.is_closed:
        return
    self.is_closed = True
    writer = self._writer
    try:
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        pass
    finally:
        writer.close()
        with suppress(AttributeError, OSError):
            await writer.wait_closed()


StreamWriterAdapter.close = _close_even_if_reset


class SubscriptionsSnapshot(UserDict[str, list[tuple[Any, int]]]):
    """The broker's subscriptions, iterated as a snapshot.

    amqtt 0.12.1 walks its subscriptions dict across awaits (broadcasting one message, sending
    retained messages to a new session); a client subscribing meanwhile raised "dictionary
    changed size during iteration" inside the broadcast task, and that message (a light command,
    a panic press) was dropped for every subscriber. Seen here at start-up, with many clients
    subscribing at once. A snapshot delivers it to everyone subscribed when it was sent.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.data))

    def items(self) -> ItemsView[str, list[tuple[Any, int]]]:
        return {topic: list(subs) for topic, subs in self.data.items()}.items()


# The service's own account on its embedded broker when the clinic sets none (ARCROOM_MQTT_USERNAME).
SERVICE_ACCOUNT = "arcroom"


@dataclass(frozen=True)
class Access:
    """Who may connect to the embedded broker and what each may publish.

    accounts: username -> (password, topic filters it may publish to).
    anonymous: whether clients without a username may connect at all.
    anonymous_denied: topic filters anonymous clients may not publish to."""

    accounts: Mapping[str, tuple[str, Sequence[str]]] = field(default_factory=dict)
    anonymous: bool = True
    anonymous_denied: Sequence[str] = ()

    def may_connect(self, username: str | None, password: str | None) -> bool:
        if username is None:
            return self.anonymous
        account = self.accounts.get(username)
        # compare_digest on bytes: a constant-time comparison that also takes non-ASCII text.
        return account is not None and hmac.compare_digest(account[0].encode(), (password or "").encode())

    def may_publish(self, username: str | None, topic: str) -> bool:
        if username is None:
            return not any(topic_matches_sub(f, topic) for f in self.anonymous_denied)
        account = self.accounts.get(username)
        return account is not None and any(topic_matches_sub(f, topic) for f in account[1])


class _AccountsPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type information
    """amqtt authentication from `Access` (the broker passes each plugin its Config)."""

    @dataclass
    class Config:
        access: Access = field(default_factory=Access)

    async def authenticate(self, *, session: Session) -> bool:
        access: Access = self.context.config.access
        allowed = access.may_connect(session.username, session.password)
        if not allowed:
            log.warning("embedded broker: refused a client (username %r)", (session.username or "")[:64] or None)
            return False
        # The broker publishes a last will itself, past the publish rules: a client may not leave
        # one where it could not publish (a will of "PRESS" on a room's panic topic).
        if session.will_flag and not access.may_publish(session.username, session.will_topic or ""):
            log.warning(
                "embedded broker: refused %s: its last will goes to %s, where it may not publish",
                session.username or "an anonymous client",
                (session.will_topic or "")[:120],
            )
            return False
        return True


class _PublishRulesPlugin(BaseTopicPlugin):  # type: ignore[misc]  # amqtt ships no type information
    """amqtt topic filtering from `Access`: it decides publishing; subscribing is open to every client."""

    @dataclass
    class Config:
        access: Access = field(default_factory=Access)

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        if action != Action.PUBLISH:
            return True
        access: Access = self.context.config.access
        username = session.username if session else None
        allowed = topic is not None and access.may_publish(username, topic)
        if not allowed:
            log.warning("embedded broker: %s may not publish to %s", username or "an anonymous client", topic)
        return allowed


class EmbeddedBroker:
    """amqtt on host:port. If the default port is taken (say, by a mosquitto service), a free
    port is used instead and logged, unless `strict_port` asks for failure."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 1883, *, strict_port: bool = False, access: Access | None = None
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port = port
        self.strict_port = strict_port
        self.access = access or Access()
        self._broker: Broker | None = None

    async def start(self) -> None:
        self.port = self._choose_port()
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        self._broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                # amqtt drops a client silent for exactly its keepalive; Mosquitto allows 1.5 times.
                "timeout_disconnect_delay": 2,
                "plugins": {
                    f"{__name__}._AccountsPlugin": {"access": self.access},
                    f"{__name__}._PublishRulesPlugin": {"access": self.access},
                },
            },
            loop=asyncio.get_running_loop(),
        )
        self._broker._subscriptions = SubscriptionsSnapshot()
        await self._broker.start()
        log.info(
            "embedded MQTT broker listening on %s:%d (%s)",
            self.host,
            self.port,
            "accounts required"
            if not self.access.anonymous
            else f"{len(self.access.accounts)} account(s), anonymous allowed",
        )

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None

    def _choose_port(self) -> int:
        if self.requested_port == 0 or _port_free(self.host, self.requested_port):
            return self.requested_port or _free_port(self.host)
        if self.strict_port:
            raise OSError(
                errno.EADDRINUSE,
                f"port {self.requested_port} on {self.host} is taken; "
                "set ARCROOM_MQTT_URL to use the broker that holds it, or another "
                "ARCROOM_EMBEDDED_BROKER_PORT",
            )
        port = _free_port(self.host)
        log.warning(
            "port %d on %s is taken (a mosquitto service?): the embedded broker uses port %d instead. "
            "To use that broker, set ARCROOM_MQTT_URL=mqtt://%s:%d.",
            self.requested_port,
            self.host,
            port,
            self.host,
            self.requested_port,
        )
        return port


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def embedded_access(settings: Settings, service_password: str | None = None) -> Access:
    """The embedded broker's rules from the settings.

    - With the service's account set (ARCROOM_MQTT_USERNAME/PASSWORD), it and every account in
      ARCROOM_EMBEDDED_BROKER_USERS log in with their password; the service may publish anything.
      Without one, `service_password` (made at each start) is the service's own account's.
    - Anonymous clients may connect only to a broker on a loopback address (lights on this machine),
      and only while the service is open (no tokens, no accounts): once it has either, every client
      needs an account, so no one without one can panic, command a light or read a room's state."""
    accounts: dict[str, tuple[str, Sequence[str]]] = {}
    if settings.embedded_broker_auth and settings.mqtt_username and settings.mqtt_password:
        accounts[settings.mqtt_username] = (settings.mqtt_password.get_secret_value(), ("#",))
        for user in settings.embedded_broker_users:
            accounts[user.username] = (user.password.get_secret_value(), tuple(user.publish))
    locked = bool(settings.tokens) or bool(accounts)
    if service_password is not None and not accounts:
        accounts[SERVICE_ACCOUNT] = (service_password, ("#",))
    return Access(
        accounts=accounts,
        anonymous=is_loopback(settings.embedded_broker_host) and not locked,
        anonymous_denied=("arcroom/#",) if locked else (),
    )
