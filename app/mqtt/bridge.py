"""The rooms over MQTT: the panic topic, Home Assistant discovery, and each room's state topic."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from app.mqtt.discovery import HA_STATUS_TOPIC, discovery_messages
from app.mqtt.link import MqttLink
from app.pubsub import Hub
from app.room import RoomChange, RoomController
from app.supervisor import Supervisor
from app.views import ViewCache

log = logging.getLogger(__name__)

PANIC_TOPIC = "arcroom/+/panic"
MAX_BY_CHARS = 64


def state_topic(room_id: str) -> str:
    return f"arcroom/{room_id}/state"


def panic_sender(topic: str, payload: bytes) -> str:
    """Who pressed, from a panic message: PRESS (a Home Assistant button) or a JSON object with `by`."""
    text = payload.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            by = str(json.loads(text).get("by", "json"))
            # It goes into the record and the state: printable, and short.
            return "mqtt:" + ("".join(c for c in by if c.isprintable())[:MAX_BY_CHARS] or "json")
        except (ValueError, AttributeError, RecursionError):
            log.warning("panic message on %s is not valid JSON; treated as PRESS", topic)
    elif text.upper() not in ("PRESS", ""):
        log.warning("panic message on %s with payload %r: treated as PRESS", topic, text[:40])
    return "mqtt"


class MqttBridge:
    def __init__(
        self,
        link: MqttLink,
        rooms: Mapping[str, RoomController],
        views: ViewCache,
        changes: Hub[RoomChange],
        jobs: Supervisor,
    ) -> None:
        self.link = link
        self.rooms = rooms
        self.views = views
        self.changes = changes
        self._jobs = jobs

    def attach(self) -> None:
        self.link.subscribe(PANIC_TOPIC, self._on_panic)
        self.link.subscribe(HA_STATUS_TOPIC, self._on_home_assistant_status)
        self._publish_discovery()

    async def publish_states(self) -> None:
        """Keep each room's retained state topic current; runs until cancelled."""
        with self.changes.subscribe() as changes:
            for room_id in self.rooms:
                self._publish_state(room_id)
            while True:
                change = await changes.get()
                self._publish_state(change.room)

    def _on_panic(self, topic: str, payload: bytes, retained: bool) -> None:
        if retained:
            # A press kept by the broker would panic the room again on every (re)subscribe.
            if payload:
                log.warning(
                    "a retained message on %s was ignored and cleared: panic presses must not be retained", topic
                )
                self.link.publish(topic, b"", qos=1, retain=True)
            return
        room_id = topic.split("/")[1]
        room = self.rooms.get(room_id)
        if room is None:
            log.warning("panic message for unknown room %r ignored", room_id)
            return
        self._jobs.spawn(f"mqtt panic {room_id}", room.panic(panic_sender(topic, payload)))

    def _publish_discovery(self) -> None:
        # Retained, so the link republishes them after every reconnect as well.
        for room in self.rooms.values():
            for topic, payload in discovery_messages(room.room, self.link.status_topic):
                self.link.publish(topic, payload, qos=1, retain=True)

    def _on_home_assistant_status(self, topic: str, payload: bytes, retained: bool) -> None:
        if payload.strip().lower() == b"online":  # Home Assistant (re)started: tell it again
            self._publish_discovery()
            for room_id in self.rooms:
                self._publish_state(room_id)

    def _publish_state(self, room_id: str) -> None:
        self.link.publish(state_topic(room_id), self.views.json(room_id, self.link.connected), qos=1, retain=True)
