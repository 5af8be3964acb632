"""Every MQTT topic the service publishes or listens to, in one place (the table in docs/mqtt.md)."""

from __future__ import annotations

ROOT = "arcroom"
STATUS = f"{ROOT}/status"  # online / offline (the last will), retained
SERVICE_STATE = f"{ROOT}/service/state"  # version, background-task health: the "Arcroom" device
DISCOVERY_PREFIX = "homeassistant"
HA_STATUS = f"{DISCOVERY_PREFIX}/status"  # Home Assistant says "online" here when it starts
DISCOVERY_CONFIGS = f"{DISCOVERY_PREFIX}/+/+/+/config"

# Commands (never retained); <room> is the second level.
PANIC = f"{ROOT}/+/panic"
PANIC_CLEAR = f"{ROOT}/+/panic/clear/set"
SESSION = f"{ROOT}/+/session/set"
SCENE = f"{ROOT}/+/scene/set"
VOLUME = f"{ROOT}/+/volume/set"
MUSIC = f"{ROOT}/+/music/set"
TALK = f"{ROOT}/+/talk/set"
# Not a command: Home Assistant's retained record of a panic it handled while Arcroom was down,
# acted on once when Arcroom is back, then cleared (see deploy/home-assistant/).
PANIC_FALLBACK = f"{ROOT}/+/panic/fallback"


def room_of(topic: str) -> str:
    return topic.split("/")[1]


def for_room(topic_filter: str, room_id: str) -> str:
    return topic_filter.replace("+", room_id, 1)


def state(room_id: str) -> str:
    return f"{ROOT}/{room_id}/state"


def summary(room_id: str) -> str:
    return f"{ROOT}/{room_id}/summary"


def availability(room_id: str) -> str:
    return f"{ROOT}/{room_id}/availability"


def time(room_id: str, name: str) -> str:
    return f"{ROOT}/{room_id}/time/{name}"


def events(room_id: str) -> str:
    return f"{ROOT}/{room_id}/event"
