"""Home Assistant MQTT discovery: the service as one device ("Arcroom"), each room as a device
linked to it, with what the room shows and what Home Assistant may do there (no I/O here).

Every config is retained. What this instance no longer has (a room taken out of the rooms file,
a light removed) is found under the discovery prefix at start-up and deleted with an empty
retained payload, as Zigbee2MQTT does: see `stale_configs`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from app import __version__
from app.domain.rooms import Room
from app.mqtt import topics
from app.mqtt.summary import TIMES
from app.music.decks import MusicState

SERVICE_NODE = "arcroom_service"
ORIGIN = {"name": "Arcroom", "sw_version": __version__}
HA_BY = "home-assistant"  # who Home Assistant's commands say they come from
# The event entity's types: each room change forwarded to Home Assistant, and the bridge's own.
EVENT_TYPES = ("cue", "alert", "phase", "panic", "panic_cleared", "advance_armed", "refused")
# Every state the music reports, "stopping" included: Home Assistant 2024.2+ rejects an enum
# sensor value missing from its options.
AUDIO_STATES: tuple[str, ...] = get_args(MusicState)


@dataclass(frozen=True)
class Catalogue:
    """What every room's discovery shares: where the dashboard is, and what an enum may show."""

    public_url: str  # the dashboard's address as a browser elsewhere reaches it
    phases: tuple[str, ...]  # every phase any preset has ("idle" is added)
    scenes: tuple[str, ...]  # every scene; "none" is added for the sensor
    talk: bool = False  # whether rooms can take Talk (the music's talk-over)
    status_topic: str = topics.STATUS
    instance: str | None = None  # with a standby (ARCROOM_INSTANCE): this instance's name, shown as the leader


@dataclass(frozen=True)
class Entity:
    component: str
    object_id: str  # unique within its device
    config: dict[str, Any]


def node_id(room_id: str) -> str:
    return f"arcroom_{room_id.replace('-', '_')}"


def config_topic(node: str, entity: Entity) -> str:
    return f"{topics.DISCOVERY_PREFIX}/{entity.component}/{node}/{entity.object_id}/config"


def _press(**fields: object) -> str:
    return json.dumps({**fields, "by": HA_BY})


def service_entities(cat: Catalogue) -> list[Entity]:
    st = topics.SERVICE_STATE
    return [
        Entity(
            "binary_sensor",
            "online",
            {
                "name": "Online",
                "state_topic": cat.status_topic,
                "payload_on": "online",
                "payload_off": "offline",
                "device_class": "connectivity",
                "entity_category": "diagnostic",
                # Its own state is the service's availability: it must not go unavailable with it,
                # so that an automation (the panic fallback) can see "off".
                "availability": [],
            },
        ),
        Entity(
            "sensor",
            "version",
            {
                "name": "Version",
                "state_topic": st,
                "value_template": "{{ value_json.version }}",
                "entity_category": "diagnostic",
                "icon": "mdi:information-outline",
            },
        ),
        Entity(
            "binary_sensor",
            "tasks",
            {
                "name": "Background tasks",
                "state_topic": st,
                "value_template": "{{ 'OFF' if value_json.healthy else 'ON' }}",
                "device_class": "problem",
                "entity_category": "diagnostic",
                "json_attributes_topic": st,
                "json_attributes_template": "{{ {'failing': value_json.failing} | tojson }}",
            },
        ),
        Entity(
            "sensor",
            "broker",
            {
                "name": "Broker",
                "state_topic": st,
                "value_template": "{{ value_json.broker }}",
                "entity_category": "diagnostic",
                "icon": "mdi:lan-connect",
                "json_attributes_topic": st,
                "json_attributes_template": "{{ {'connects': value_json.connects} | tojson }}",
            },
        ),
        *(
            [
                Entity(
                    "sensor",
                    "leader",
                    {
                        # Both instances publish this device; whichever leads fills it in.
                        "name": "Leading instance",
                        "state_topic": st,
                        "value_template": "{{ value_json.instance }}",
                        "entity_category": "diagnostic",
                        "icon": "mdi:server-network",
                    },
                )
            ]
            if cat.instance is not None
            else []
        ),
    ]


def _sensor(object_id: str, name: str, field: str, **extra: Any) -> tuple[str, str, str, dict[str, Any]]:
    return ("sensor", object_id, "summary", {"name": name, "value_template": f"{{{{ value_json.{field} }}}}", **extra})


def _flag(object_id: str, name: str, field: str, **extra: Any) -> tuple[str, str, str, dict[str, Any]]:
    return (
        "binary_sensor",
        object_id,
        "summary",
        {"name": name, "value_template": f"{{{{ 'ON' if value_json.{field} else 'OFF' }}}}", **extra},
    )


def _button(object_id: str, name: str, command: str, payload: str, icon: str) -> tuple[str, str, str, dict[str, Any]]:
    return ("button", object_id, "", {"name": name, "command_topic": command, "payload_press": payload, "icon": icon})


def room_entities(room: Room, cat: Catalogue) -> list[Entity]:
    r = room.id
    ceiling = room.audio.volume_ceiling_pct
    scene_options = [s for s in cat.scenes if s != "panic"]
    # (component, object_id, state source: "summary", "state", "" for none, config)
    specs: list[tuple[str, str, str, dict[str, Any]]] = [
        # --- what the room shows
        _flag("panic_active", "Panic active", "panic_active", device_class="safety"),
        _flag("held_after_panic", "Held after panic", "held_after_panic", icon="mdi:pause-octagon"),
        _flag("session_running", "Session running", "session_running", device_class="running"),
        _flag("session_held", "Session on hold", "session_held", icon="mdi:pause-circle-outline"),
        _sensor(
            "phase",
            "Phase",
            "phase",
            device_class="enum",
            options=sorted({"idle", *cat.phases}),
            icon="mdi:timeline-clock",
        ),
        _sensor("scene", "Lighting scene", "scene", device_class="enum", options=sorted({"none", *cat.scenes})),
        _sensor("next_cue", "Next check", "next_cue", icon="mdi:clipboard-clock-outline"),
        _sensor("checks_due", "Checks due", "checks_due", icon="mdi:clipboard-alert-outline"),
        _sensor("now_playing", "Now playing", "now_playing", icon="mdi:music"),
        _sensor("audio", "Music", "audio", device_class="enum", options=list(AUDIO_STATES)),
        (
            "event",
            "events",
            "",
            {
                "name": "Room event",
                "state_topic": topics.events(r),
                "event_types": list(EVENT_TYPES),
                "icon": "mdi:bell-ring-outline",
            },
        ),
        # --- what Home Assistant may do
        _button("panic", "Panic", topics.for_room(topics.PANIC, r), _press(), "mdi:alarm-light"),
        _button(
            "clear_panic_restore",
            "Clear panic (restore)",
            topics.for_room(topics.PANIC_CLEAR, r),
            _press(mode="restore"),
            "mdi:restore",
        ),
        _button(
            "clear_panic_hold",
            "Clear panic (hold)",
            topics.for_room(topics.PANIC_CLEAR, r),
            _press(mode="hold"),
            "mdi:pause-octagon-outline",
        ),
        _button("hold", "Hold session", topics.for_room(topics.SESSION, r), _press(action="hold"), "mdi:pause"),
        _button("resume", "Resume session", topics.for_room(topics.SESSION, r), _press(action="resume"), "mdi:play"),
        # Like the dashboard's "Next phase", it asks first: the first press arms it (an
        # `advance_armed` event), a second within 30 s advances. {"confirm": true} skips the ask.
        _button(
            "advance",
            "Next phase (press twice)",
            topics.for_room(topics.SESSION, r),
            _press(action="advance"),
            "mdi:skip-next",
        ),
        _button("music_pause", "Pause music", topics.for_room(topics.MUSIC, r), _press(action="pause"), "mdi:pause"),
        _button("music_resume", "Resume music", topics.for_room(topics.MUSIC, r), _press(action="resume"), "mdi:play"),
        _button(
            "music_skip", "Skip track", topics.for_room(topics.MUSIC, r), _press(action="skip"), "mdi:skip-forward"
        ),
        (
            "select",
            "scene_select",
            "summary",
            {
                "name": "Scene",
                "command_topic": topics.for_room(topics.SCENE, r),
                "command_template": '{"scene": "{{ value }}", "by": "' + HA_BY + '"}',
                "options": scene_options,
                # Shows the scene the lights were sent to, when it is one that can be chosen.
                "value_template": "{{ value_json.scene if value_json.scene in "
                + json.dumps(scene_options)
                + " else 'None' }}",
                "icon": "mdi:lightbulb-group",
            },
        ),
        (
            "number",
            "volume",
            "summary",
            {
                "name": "Volume",
                "command_topic": topics.for_room(topics.VOLUME, r),
                "command_template": '{"volume_pct": {{ value | int }}, "by": "' + HA_BY + '"}',
                "value_template": "{{ value_json.volume_pct }}",
                "min": 0,
                "max": ceiling,
                "step": 1,
                "mode": "slider",
                "unit_of_measurement": "%",
                "icon": "mdi:volume-high",
            },
        ),
    ]
    if cat.talk:
        specs.append(
            (
                "switch",
                "talk",
                "summary",
                {
                    "name": "Talk",
                    "command_topic": topics.for_room(topics.TALK, r),
                    "payload_on": _press(on=True),
                    "payload_off": _press(on=False),
                    "value_template": "{{ 'ON' if value_json.talk else 'OFF' }}",
                    "state_on": "ON",
                    "state_off": "OFF",
                    "icon": "mdi:account-voice",
                },
            )
        )
    entities = [_room_entity(r, cat, *spec) for spec in specs]
    entities += [_timestamp(r, cat, name) for name in TIMES]
    for light in room.lights:
        key = light.name.replace("-", "_")
        path = f"value_json.lights[{json.dumps(light.name)}]"
        for what, name, cls in (("online", "online", "connectivity"), ("confirmed", "as commanded", None)):
            config: dict[str, Any] = {
                "name": f"Light {light.name} {name}",
                "state_topic": topics.summary(r),
                # None (not heard from yet) renders "None": Home Assistant shows unknown.
                "value_template": f"{{{{ {path}.{what} }}}}",
                "payload_on": "True",
                "payload_off": "False",
                "entity_category": "diagnostic",
            }
            if cls:
                config["device_class"] = cls
            entities.append(_with_room(r, cat, Entity("binary_sensor", f"light_{key}_{what}", config)))
    players = room.audio.snapcast.clients if room.audio.output == "snapcast" and room.audio.snapcast else ()
    for player in players:
        key = "".join(ch if ch.isalnum() else "_" for ch in player)
        config = {
            "name": f"Player {player} connected",
            "state_topic": topics.summary(r),
            "value_template": f"{{{{ value_json.players[{json.dumps(player)}].connected }}}}",
            "payload_on": "True",
            "payload_off": "False",
            "device_class": "connectivity",
            "entity_category": "diagnostic",
        }
        entities.append(_with_room(r, cat, Entity("binary_sensor", f"player_{key}_connected", config)))
    return entities


_TIME_NAMES = {
    "phase_started": "Phase started",
    "phase_ends": "Phase ends",
    "dose_given": "Dose given",
    "next_cue_due": "Next check due",
}


def _timestamp(room_id: str, cat: Catalogue, name: str) -> Entity:
    """Each time on its own retained topic, published only when known: while it is not (no dose
    yet, a phase without an end), the summary makes the entity unavailable rather than sending
    a value a timestamp sensor cannot take."""
    entity = _with_room(
        room_id,
        cat,
        Entity(
            "sensor",
            name,
            {"name": _TIME_NAMES[name], "state_topic": topics.time(room_id, name), "device_class": "timestamp"},
        ),
    )
    entity.config["availability"].append(
        {
            "topic": topics.summary(room_id),
            "value_template": f"{{{{ 'online' if value_json.times.{name} else 'offline' }}}}",
        }
    )
    return entity


def _room_entity(
    room_id: str, cat: Catalogue, component: str, object_id: str, source: str, config: dict[str, Any]
) -> Entity:
    if source == "summary":
        config = {"state_topic": topics.summary(room_id), **config}
    return _with_room(room_id, cat, Entity(component, object_id, config))


def _with_room(room_id: str, cat: Catalogue, entity: Entity) -> Entity:
    config = dict(entity.config)
    if config.get("command_topic"):
        config["qos"] = 1
    config["availability"] = [
        {"topic": cat.status_topic},
        {"topic": topics.availability(room_id)},
    ]
    config["availability_mode"] = "all"
    return Entity(entity.component, entity.object_id, config)


def _device(room: Room, cat: Catalogue) -> dict[str, Any]:
    return {
        "identifiers": [node_id(room.id)],
        "name": f"Arcroom {room.name}",
        "manufacturer": "Arcroom",
        "model": "Session room",
        "sw_version": __version__,
        "suggested_area": room.name,
        "configuration_url": f"{cat.public_url.rstrip('/')}/?room={room.id}",
        "via_device": SERVICE_NODE,
    }


def _service_device(cat: Catalogue) -> dict[str, Any]:
    return {
        "identifiers": [SERVICE_NODE],
        "name": "Arcroom",
        "manufacturer": "Arcroom",
        "model": "Session environment service",
        "sw_version": __version__,
        "configuration_url": f"{cat.public_url.rstrip('/')}/overview.html",
    }


def _payload(node: str, entity: Entity, device: dict[str, Any], cat: Catalogue) -> dict[str, Any]:
    entity_id = f"{node}_{entity.object_id}"
    payload = {"device": device, "origin": ORIGIN, **entity.config}
    if "availability" not in payload:
        payload["availability"] = [{"topic": cat.status_topic}]
    if not payload["availability"]:
        del payload["availability"]  # always available (the service's own Online sensor)
    payload["unique_id"] = entity_id
    # object_id for the Home Assistant releases before 2025.10, default_entity_id after it.
    payload["object_id"] = entity_id
    payload["default_entity_id"] = f"{entity.component}.{entity_id}"
    return payload


def discovery_messages(rooms: Iterable[Room], cat: Catalogue) -> dict[str, str]:
    """Config topic -> retained JSON payload, for the service device and every room's entities."""
    out: dict[str, str] = {}
    service = _service_device(cat)
    for entity in service_entities(cat):
        out[config_topic(SERVICE_NODE, entity)] = json.dumps(_payload(SERVICE_NODE, entity, service, cat))
    for room in rooms:
        node = node_id(room.id)
        device = _device(room, cat)
        for entity in room_entities(room, cat):
            out[config_topic(node, entity)] = json.dumps(_payload(node, entity, device, cat))
    return out


def owned_room(payload: bytes, status_topic: str) -> str | None:
    """For a config found under the discovery prefix: the room it is for ("" for the service
    device) if this instance made it (its availability names our status topic), else None."""
    try:
        config = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(config, dict):
        return None
    availability = config.get("availability", config.get("avty"))
    listed = (
        [a.get("topic", a.get("t")) for a in availability if isinstance(a, dict)]
        if isinstance(availability, list)
        else []
    )
    legacy = config.get("availability_topic", config.get("avty_t"))  # what releases before 0.2 sent
    device = config.get("device", config.get("dev"))
    identifiers = device.get("identifiers", device.get("ids")) if isinstance(device, dict) else None
    if status_topic not in listed and legacy != status_topic:
        # The service's Online sensor has no availability: it is known by its device.
        return "" if identifiers == [SERVICE_NODE] else None
    for topic in listed:
        parts = str(topic).split("/")
        if len(parts) == 3 and parts[0] == topics.ROOT and parts[2] == "availability":
            return parts[1]
    for key in ("state_topic", "command_topic", "stat_t", "cmd_t"):
        parts = str(config.get(key, "")).split("/")
        if len(parts) >= 3 and parts[0] == topics.ROOT and parts[1] != "service":
            return parts[1]
    return ""


def stale_configs(found: Mapping[str, str | None], current: Iterable[str]) -> list[str]:
    """The config topics found (topic -> owning room, None if not ours) that this instance no longer publishes."""
    keep = set(current)
    return sorted(topic for topic, room in found.items() if room is not None and topic not in keep)
