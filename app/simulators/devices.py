"""`arcroom simulate-lights`: every light of a rooms file as a simulated device of its family, in
this process, each logging in to the broker with its own account (`<room>-<light>`, or its
profile's bridge), as the real ones will: an installer tries the whole path, ACL included,
before the hardware arrives."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

from app.domain.profiles import Profile
from app.domain.rooms import Room
from app.mqtt.acl import device_account
from app.mqtt.link import BrokerAddress
from app.simulators.lights import make_simulator

log = logging.getLogger(__name__)


def read_passwords(path: Path) -> dict[str, str]:
    """`account:password` per line (blank lines and # comments skipped), as fed to `mosquitto_passwd -U`."""
    passwords = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        account, sep, password = line.partition(":")
        if not sep or not account or not password:
            raise ValueError(f"{path}, line {number}: expected account:password")
        passwords[account] = password
    return passwords


async def run_devices(
    rooms: Mapping[str, Room], profiles: Mapping[str, Profile], broker: BrokerAddress, passwords: Mapping[str, str]
) -> None:
    """Run until cancelled."""
    tasks = []
    for room in rooms.values():
        for light in room.lights:
            profile = profiles[light.profile]
            if profile.simulator is None:
                log.warning("%s/%s: profile %r has no simulator; skipped", room.id, light.name, profile.id)
                continue
            account = device_account(room, light, profile)
            password = passwords.get(account)
            sim = make_simulator(profile.simulator, light.topic)
            user = account if password is not None else None
            log.info("%s/%s: %s on %s as %s", room.id, light.name, profile.simulator, light.topic, user or "anonymous")
            tasks.append(asyncio.create_task(sim.run(broker.host, broker.port, username=user, password=password)))
    if not tasks:
        raise ValueError("no light with a simulator in the rooms file")
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
