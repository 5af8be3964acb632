"""An MQTT broker inside the service (amqtt), for when the clinic runs none of its own."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from contextlib import suppress

from amqtt.adapters import StreamWriterAdapter
from amqtt.broker import Broker

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


class EmbeddedBroker:
    """amqtt on host:port. If the default port is taken (say, by a mosquitto service), a free
    port is used instead and logged, unless `strict_port` asks for failure."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, strict_port: bool = False) -> None:
        self.host = host
        self.requested_port = port
        self.port = port
        self.strict_port = strict_port
        self._broker: Broker | None = None

    async def start(self) -> None:
        self.port = self._choose_port()
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        self._broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            },
            loop=asyncio.get_running_loop(),
        )
        await self._broker.start()
        log.info("embedded MQTT broker listening on %s:%d", self.host, self.port)

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
