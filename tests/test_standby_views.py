"""The standby's copy of the leader's views, from a real broker: what it keeps, and what it ignores."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from app.domain.errors import Unavailable
from app.mqtt import topics
from app.settings import Settings
from app.standby_views import BrokerViews
from tests.support import WAIT_S, Mosquitto, observer, unique

SAYS = "this instance is standing by: a leads"


async def shown(views: BrokerViews, room: str) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_S):
        while True:
            with contextlib.suppress(Unavailable):
                return await views.view(room, "a", SAYS)
            await asyncio.sleep(0.02)


async def test_the_leaders_views_are_kept_malformed_ones_ignored_and_a_cleared_room_forgotten(
    settings: Settings, mosquitto: Mosquitto
) -> None:
    room, other = unique("room"), unique("room")
    standby = settings.model_copy(update={"mqtt_client_id": unique("standby")})
    views = BrokerViews(standby, [room, other], lambda: True)
    task = asyncio.create_task(views.run())
    try:
        with pytest.raises(Unavailable, match="a leads"):  # nothing published yet
            await views.view(room, "a", SAYS)
        async with observer(mosquitto.port) as leader:
            first = {"id": room, "session": None, "refused": {}, "now": 1.0}
            await leader.publish(topics.state(room), json.dumps(first).encode(), qos=1, retain=True)
            view = await shown(views, room)
            assert view["id"] == room and view["now"] == 1.0
            assert set(view["refused"]) == {"hold", "resume", "lights", "music"}
            assert view["refused"]["music"].startswith("a does not answer this instance")

            # Not views: logged and ignored, the last view kept (the next room's view comes after them).
            await leader.publish(topics.state(room), b"{not json", qos=1)
            await leader.publish(topics.state(room), b"[1, 2]", qos=1)
            await leader.publish(topics.state(other), json.dumps({"id": other}).encode(), qos=1)
            await shown(views, other)
            assert (await views.view(room, "a", SAYS))["now"] == 1.0

            await leader.publish(topics.state(room), b"", qos=1, retain=True)  # the room is gone
            async with asyncio.timeout(WAIT_S):
                while True:
                    try:
                        await views.view(room, "a", SAYS)
                    except Unavailable:
                        break
                    await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
