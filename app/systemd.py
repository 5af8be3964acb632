"""The systemd notify protocol (sd_notify(3)): READY, STOPPING, STATUS and the watchdog.

Every call is a no-op outside systemd (no NOTIFY_SOCKET). Written here rather than taken from a
library: the protocol is one datagram per message, and the libraries at hand either need a C
build and libsystemd headers (systemd-python), swallow every error and carry no types
(sdnotify, unchanged since 2017), or have no way to send STOPPING (systemd-watchdog).

The watchdog pings from the event loop itself, so a loop that is blocked or starved stops them
and systemd restarts the service (WatchdogSec= in the unit); start-up then restores every room.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)


def _address() -> str | None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return None
    if address.startswith("@"):  # an abstract socket: the name starts with a NUL byte
        return "\0" + address[1:]
    if not address.startswith("/"):
        log.warning("NOTIFY_SOCKET=%s: only file system and abstract sockets are supported", address)
        return None
    return address


def notify(*assignments: str) -> bool:
    """Send `KEY=value` lines to systemd in one datagram; False when not under systemd or not delivered."""
    address = _address()
    if address is None:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.setblocking(False)  # called from the event loop: never wait on systemd
        try:
            sock.sendto("\n".join(assignments).encode(), address)
        except OSError as exc:
            log.warning("cannot notify systemd (%s): %s", ", ".join(assignments), exc)
            return False
    return True


def ready(status_text: str | None = None) -> bool:
    """Start-up is complete: every room is restored and the API answers."""
    return notify("READY=1", *([f"STATUS={status_text}"] if status_text else []))


def stopping() -> bool:
    """Shutdown has begun (systemd then waits for the process to exit, up to TimeoutStopSec=)."""
    return notify("STOPPING=1")


def status(text: str) -> bool:
    """A one-line status for `systemctl status`."""
    return notify(f"STATUS={text.splitlines()[0] if text else ''}")


def watchdog_interval_s() -> float | None:
    """Half the watchdog timeout systemd asks for (WATCHDOG_USEC), or None when there is no watchdog for us."""
    if _address() is None:
        return None
    usec, pid = os.environ.get("WATCHDOG_USEC", ""), os.environ.get("WATCHDOG_PID")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid is not None and pid != str(os.getpid()):  # set for another process (we are its child)
        return None
    return int(usec) / 1e6 / 2


async def watchdog(healthy: Callable[[], bool] | None = None) -> None:
    """Ping WATCHDOG=1 every half timeout from this event loop, for as long as it runs.

    Returns at once when systemd asked for no watchdog. With `healthy`, a ping is skipped while it
    returns False, so systemd restarts a service that is running but broken.
    """
    interval_s = watchdog_interval_s()
    if interval_s is None:
        return
    log.info("systemd watchdog: a ping every %.1f s", interval_s)
    while True:
        if healthy is None or healthy():
            notify("WATCHDOG=1")
        await asyncio.sleep(interval_s)
