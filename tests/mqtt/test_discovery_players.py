"""A Snapcast room's players in Home Assistant: one connectivity sensor each, read from the summary."""

from __future__ import annotations

import jinja2

from app.domain.rooms import AudioOutput, Room, Snapcast
from app.mqtt import topics
from app.mqtt.discovery import Catalogue, room_entities

SNAPCAST = AudioOutput(
    output="snapcast",
    snapcast=Snapcast(stream="room1", source="tcp://127.0.0.1:4953", clients=("room1-headphones", "chair.speaker")),
)


def render(template: str, summary: dict[str, object]) -> str:
    # Home Assistant renders value_template with the payload's JSON as value_json (Jinja).
    return jinja2.Environment().from_string(template).render(value_json=summary)


def test_each_player_is_a_connectivity_sensor_that_follows_the_summary() -> None:
    room = Room(id="one", name="One", audio=SNAPCAST)
    entities = room_entities(room, Catalogue(public_url="http://arcroom.test", phases=("onset",), scenes=("calm",)))
    players = {e.object_id: e.config for e in entities if e.object_id.startswith("player_")}
    assert set(players) == {"player_room1_headphones_connected", "player_chair_speaker_connected"}
    config = players["player_chair_speaker_connected"]
    assert config["device_class"] == "connectivity" and config["state_topic"] == topics.summary("one")
    summary = {"players": {"room1-headphones": {"connected": True}, "chair.speaker": {"connected": False}}}
    assert render(config["value_template"], summary) == config["payload_off"]
    assert render(players["player_room1_headphones_connected"]["value_template"], summary) == config["payload_on"]


def test_a_room_on_the_box_s_own_output_has_no_player_sensors() -> None:
    entities = room_entities(Room(id="one", name="One"), Catalogue("http://arcroom.test", ("onset",), ("calm",)))
    assert not [e for e in entities if e.object_id.startswith("player_")]
