"""Home Assistant MQTT discovery: each room appears as a device with a panic button and sensors."""

from __future__ import annotations

import json
from typing import Any

from app import __version__
from app.domain.rooms import Room

PREFIX = "homeassistant"
HA_STATUS_TOPIC = f"{PREFIX}/status"  # HA publishes "online" here when it starts


def discovery_messages(room: Room, status_topic: str = "arcroom/status") -> list[tuple[str, str]]:
    """(topic, retained JSON payload) for each entity of a room."""
    node = f"arcroom_{room.id.replace('-', '_')}"
    state_topic = f"arcroom/{room.id}/state"
    device = {
        "identifiers": [node],
        "name": f"Arcroom {room.name}",
        "manufacturer": "Arcroom",
        "model": "Session room",
        "sw_version": __version__,
    }
    common: dict[str, Any] = {
        "device": device,
        "availability_topic": status_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "origin": {"name": "Arcroom", "sw_version": __version__},
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        (
            "button",
            "panic",
            {
                "name": "Panic",
                "command_topic": f"arcroom/{room.id}/panic",
                "payload_press": "PRESS",
                "icon": "mdi:alarm-light",
            },
        ),
        (
            "binary_sensor",
            "panic_active",
            {
                "name": "Panic active",
                "state_topic": state_topic,
                "value_template": "{{ 'ON' if value_json.panic.active else 'OFF' }}",
                "device_class": "safety",
            },
        ),
        (
            "sensor",
            "phase",
            {
                "name": "Phase",
                "state_topic": state_topic,
                "icon": "mdi:timeline-clock",
                "value_template": "{{ value_json.session.phase if value_json.session else 'idle' }}",
            },
        ),
        (
            "sensor",
            "scene",
            {
                "name": "Lighting scene",
                "state_topic": state_topic,
                "value_template": "{{ value_json.lighting.scene or 'none' }}",
            },
        ),
    ]
    out = []
    for component, object_id, config in entities:
        payload = {**common, **config, "unique_id": f"{node}_{object_id}", "object_id": f"{node}_{object_id}"}
        out.append((f"{PREFIX}/{component}/{node}/{object_id}/config", json.dumps(payload)))
    return out
