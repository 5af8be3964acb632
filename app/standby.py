"""A panic sent to the standby: it never waits for an election.

The leader's answer is taken if it comes within FORWARD_WITHIN_S. Otherwise (the leader dead,
frozen, cut off, or there is none yet) the standby acts itself, over an MQTT connection of its own:

1. the room's panic command on `arcroom/<room>/panic`: a leader still on the broker acts on it;
2. the panic scene to each of the room's lights, encoded for its device as the leader would;
3. a retained panic report on `arcroom/<room>/panic/fallback` (the one Home Assistant's fallback
   uses), for a leader on the broker that missed the command;

and then records the panic in the room's log, so the instance that leads next comes up in panic
(its first look at the lights shows the panic scene: no dip) and freezes the session with it.

Both instances may then have commanded the panic scene: the same message twice, which is safe.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from typing import Any

import aiomqtt
import httpx

from app.catalog import Catalog
from app.domain.errors import NotFound, Unavailable
from app.domain.intended import PANIC_SCENE
from app.domain.room_log import RoomEventType
from app.leadership import Leader
from app.lighting.codec import encode_command
from app.mqtt import topics
from app.mqtt.link import BrokerAddress
from app.panic import AudioDelivery, LightDelivery, PanicResult
from app.settings import Settings

log = logging.getLogger(__name__)

FORWARD_WITHIN_S = 0.5
# Set on what a standby passes on: a request that comes back with it (the leader's address led back
# to a standby, as a floating address can while it moves) is answered, not passed on again.
FORWARDED_BY = "x-arcroom-forwarded-by"
CONNECT_TIMEOUT_S = 2


async def forward_panic(
    leader: Leader, room_id: str, authorization: str | None, instance: str
) -> tuple[int, Any] | None:
    """The leader's own answer to the panic, if it gives one within FORWARD_WITHIN_S."""
    headers = {FORWARDED_BY: instance}
    if authorization:
        headers["Authorization"] = authorization
    try:
        async with httpx.AsyncClient(timeout=FORWARD_WITHIN_S) as client:
            r = await client.post(f"{leader.address.rstrip('/')}/api/rooms/{room_id}/panic", headers=headers)
    except httpx.HTTPError as exc:
        log.error(
            "panic in %s: the leader %s did not answer (%r): lighting the room from here", room_id, leader.instance, exc
        )
        return None
    if r.status_code >= 500:
        log.error(
            "panic in %s: the leader %s answered %d: lighting the room from here",
            room_id,
            leader.instance,
            r.status_code,
        )
        return None
    return r.status_code, r.json()


async def panic_from_here(settings: Settings, catalog: Catalog, room_id: str, by: str) -> PanicResult:
    """Light the room up from the standby, and leave the panic for whoever leads next."""
    started = time.perf_counter()
    room = catalog.rooms.get(room_id)
    if room is None:
        raise NotFound(f"no room {room_id!r}")
    if settings.mqtt_url is None:
        raise Unavailable(
            "the standby cannot reach the lights: two instances need an external broker (ARCROOM_MQTT_URL)"
        )
    scene = catalog.scenes[PANIC_SCENE]
    sent: list[LightDelivery] = []
    try:
        async with own_connection(settings, settings.mqtt_url, "panic", CONNECT_TIMEOUT_S) as client:
            press = json.dumps({"by": by}).encode()
            await client.publish(topics.for_room(topics.PANIC, room.id), press, qos=1)
            for light in room.lights:
                out = encode_command(catalog.profiles[light.profile], light.topic, scene.for_role(light.role), 0.0)
                await client.publish(out.topic, out.payload, qos=out.qos, retain=out.retain)
                sent.append(LightDelivery(name=light.name, status="sent"))
            report = json.dumps({"by": by, "at": time.time()}).encode()
            await client.publish(topics.for_room(topics.PANIC_FALLBACK, room.id), report, qos=1, retain=True)
    except aiomqtt.MqttError as exc:
        raise Unavailable(f"the leader did not answer and the broker cannot be reached: {exc}") from exc
    took_ms = round((time.perf_counter() - started) * 1000, 3)
    log.warning("PANIC in %s by %s: lit by the standby %s in %.1f ms", room.id, by, settings.instance, took_ms)
    return PanicResult(
        room=room.id,
        panic=True,
        already=False,
        took_ms=took_ms,
        lights=sent,
        audio=AudioDelivery(status="unconfirmed", error="the music is the leader's: paused when it takes the panic"),
        session_id=None,
        errors=["the leader did not answer: the standby lit the room; the next leader records the panic"],
    )


def own_connection(settings: Settings, url: str, purpose: str, timeout_s: float) -> aiomqtt.Client:
    """An MQTT connection of the standby's own, beside the rooms' link (which only the leader has),
    with the service's account and its client id plus `-purpose`."""
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    a = BrokerAddress.from_url(url, settings.mqtt_username, password)
    return aiomqtt.Client(
        a.host,
        a.port,
        username=a.username,
        password=a.password,
        identifier=f"{settings.mqtt_client_id}-{purpose}"[:64],
        tls_context=ssl.create_default_context() if a.tls else None,
        timeout=timeout_s,
    )


def record_panic(settings: Settings, room_id: str, by: str) -> None:
    """The panic in the room's own log (blocking: run it off the loop, after the lights)."""
    from app.stores import open_store

    store = open_store(settings.database, settings.database_secret())
    try:
        store.append_room_event(room_id, time.time(), RoomEventType.PANIC, {"by": f"{by} (via the standby)"})
    finally:
        store.close()
