"""Drills: the broker SIGKILLed and started again during a fade, a cue and a panic.

The service in-process on a manual clock, a real Mosquitto, the device simulators of every family,
and an independent subscriber: what the lights and Home Assistant actually receive.
"""

from __future__ import annotations

import asyncio
import json

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import serve
from tests.lighting.test_lights_mqtt import (
    all_confirmed,
    fading_to_peak,
    light_settings,
    lights_view,
    simulators,
    until,
)
from tests.support import Mosquitto, observer

__all__ = ["light_settings"]  # the fixture, for pytest


async def test_broker_killed_mid_fade_every_light_gets_where_it_should_be_now(
    light_settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with simulators(mosquitto) as sims, serve(light_settings, clock) as svc:
        fade_ends_at = await fading_to_peak(svc, clock)
        mosquitto.kill()
        try:
            await until(lambda: not svc.runtime.link.connected, within_s=30)
            await clock.advance(100)  # the fade goes on while the broker is away
        finally:
            mosquitto.start()
        await until(lambda: svc.runtime.link.connected and all(s.connected for s in sims.values()), within_s=10)
        await until(lambda: all_confirmed(svc), within_s=5)
        for name, light in (await lights_view(svc)).items():
            assert light["commanded_at"] == clock.now(), name  # re-asserted after the outage, once
            assert light["fade"]["ends_at"] == fade_ends_at, name  # the rest of the fade, on time
            # From where it should be now: a stepped light gets the current point, a light that fades
            # natively gets the target with the time that is left (it fades from where it is).
            assert 8 <= light["commanded"]["brightness_pct"] < 60, name
            assert abs(sims[name].target.brightness_pct - light["commanded"]["brightness_pct"]) <= 1, name


async def test_a_cue_that_falls_due_while_the_broker_is_dead_is_on_the_state_topic_when_it_returns(
    settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with serve(settings, clock) as svc:
        await until(lambda: svc.runtime.link.connected)
        await svc.client.post("/api/rooms/one/session", json={"preset": "ketamine_iv"})
        await svc.client.post("/api/rooms/one/session/dose")
        cue = (await svc.client.get("/api/rooms/one/state")).json()["session"]["next_cue"]
        mosquitto.kill()
        try:
            await until(lambda: not svc.runtime.link.connected, within_s=30)
            await clock.advance_to(cue["due_at"] + 1)
            assert cue["id"] in [
                c["id"] for c in (await svc.client.get("/api/rooms/one/state")).json()["session"]["due_cues"]
            ]
        finally:
            mosquitto.start()
        async with observer(mosquitto.port, "arcroom/one/state") as ha:
            async with asyncio.timeout(10):
                async for message in ha.messages:
                    state = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                    if state["session"] and cue["id"] in [c["id"] for c in state["session"]["due_cues"]]:
                        break


async def test_panic_while_the_broker_is_dead_pauses_at_once_and_lights_up_when_it_returns(
    light_settings: Settings, clock: ManualClock, mosquitto: Mosquitto
) -> None:
    async with simulators(mosquitto) as sims, serve(light_settings, clock) as svc:
        await until(lambda: svc.runtime.link.connected)
        await svc.client.put("/api/rooms/one/lights", json={"scene": "peak", "transition": 0})
        await until(lambda: all_confirmed(svc))
        await svc.client.post("/api/rooms/one/session", json={"preset": "psilocybin"})
        mosquitto.kill()
        try:
            await until(lambda: not svc.runtime.link.connected, within_s=30)
            r = await svc.client.post("/api/rooms/one/panic")
            assert r.status_code == 200
            assert {light["status"] for light in r.json()["lights"]} == {"unconfirmed"}
            assert r.json()["audio"]["status"] == "paused"
        finally:
            mosquitto.start()
        await until(lambda: all(s.target.brightness_pct == 100 for s in sims.values()), within_s=10)
        async with observer(mosquitto.port, "arcroom/one/state") as ha:
            async with asyncio.timeout(10):
                async for message in ha.messages:
                    if json.loads(bytes(message.payload))["panic"]["active"]:  # type: ignore[arg-type]
                        break
