"""One Arcroom per room on a broker: a second instance (a staging box, a copy started by mistake)
would command the same lights and overwrite the room's state.

On every connection each instance says which rooms it runs, before it says anything else, on
`arcroom/instances/claim`; an instance that already runs one of those rooms answers. Of two, the
one started later gives way: it leaves the broker for good, and its health names the other. A
crashed run cannot answer, so a restart after kill -9 is never refused. The first connection
waits `wait_s` for answers before the lights are told anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, ValidationError

from app.mqtt import topics
from app.mqtt.link import MqttLink

log = logging.getLogger(__name__)

CLAIM_TOPIC = f"{topics.ROOT}/instances/claim"


class Claim(BaseModel):
    id: str  # the MQTT client id, unique per run
    host: str
    pid: int
    started_at: float  # epoch seconds: the earlier run keeps the rooms
    rooms: list[str]
    answer: bool = False  # "these rooms are run here", said to a newcomer

    def describe(self) -> str:
        started = datetime.fromtimestamp(self.started_at, UTC).isoformat(timespec="seconds")
        return f"{self.id} on host {self.host}, pid {self.pid}, started {started}"


class InstanceClaim:
    def __init__(self, link: MqttLink, rooms: Iterable[str], wait_s: float, started_at: float | None = None) -> None:
        self.link = link
        self.wait_s = wait_s
        self.me = Claim(
            id=link.client_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=time.time() if started_at is None else started_at,
            rooms=sorted(rooms),
        )

    def attach(self) -> None:
        self.link.subscribe(CLAIM_TOPIC, self._on_claim)
        self.link.gate = self._gate
        self.link.gate_filters = (CLAIM_TOPIC,)

    async def _gate(self, first: bool) -> None:
        self._say(answer=False)
        if first and self.wait_s > 0:
            await asyncio.sleep(self.wait_s)  # an answer arriving meanwhile refuses the link

    def _say(self, *, answer: bool) -> None:
        self.link.send_early(CLAIM_TOPIC, self.me.model_copy(update={"answer": answer}).model_dump_json().encode())

    def _on_claim(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            other = Claim.model_validate(json.loads(payload))
        except (ValueError, ValidationError) as exc:
            log.warning("ignored a malformed instance claim on %s: %s", topic, str(exc)[:200])
            return
        shared = sorted(set(other.rooms) & set(self.me.rooms))
        if other.id == self.me.id or not shared:
            return
        rooms = ", ".join(shared)
        if (other.started_at, other.id) < (self.me.started_at, self.me.id):
            reason = (
                f"room(s) {rooms} are already run by another Arcroom instance ({other.describe()}) on the broker "
                f"{self.link.address}: this one has left the broker; stop one of the two"
            )
            log.error("%s", reason)
            self.link.refuse(reason)
        elif not other.answer:
            log.warning(
                "another Arcroom instance (%s) tried to run room(s) %s on this broker; it was told they are run here",
                other.describe(),
                rooms,
            )
            self._say(answer=True)
            self.link.republish_retained()
