"""Virtual lights inside the service, for rooms whose lights are marked `simulated: true`."""

from __future__ import annotations

from app.domain.profiles import Profile
from app.mqtt.link import BrokerAddress
from app.simulators.lights import make_simulator


async def run_simulator(profile: Profile, topic: str, address: BrokerAddress) -> None:
    """Run the virtual device that speaks `profile`'s dialect until cancelled."""
    if profile.simulator is None:
        raise ValueError(f"device profile {profile.id!r} names no simulator")
    # The service's own account: on a broker that asks for one, the virtual lights need it too.
    await make_simulator(profile.simulator, topic).run(
        address.host, address.port, username=address.username, password=address.password
    )
