"""The link's topic filter matching: the MQTT rules, as aiomqtt's own matcher applies them, and
without leaving garbage for the cyclic collector (every message is matched against every filter)."""

from __future__ import annotations

import gc

import aiomqtt
import pytest

from app.mqtt.link import topic_matches

CASES = [
    ("zigbee2mqtt/ceiling", "zigbee2mqtt/ceiling", True),
    ("zigbee2mqtt/ceiling", "zigbee2mqtt/ceiling/set", False),
    ("zigbee2mqtt/+", "zigbee2mqtt/ceiling", True),
    ("zigbee2mqtt/+", "zigbee2mqtt/ceiling/set", False),
    ("zigbee2mqtt/+", "zigbee2mqtt", False),
    ("arcroom/+/panic", "arcroom/room1/panic", True),
    ("arcroom/+/panic", "arcroom/room1/panic/clear/set", False),
    ("arcroom/+/panic/clear/set", "arcroom/room1/panic/clear/set", True),
    ("homeassistant/+/+/+/config", "homeassistant/light/arcroom/room1/config", True),
    ("homeassistant/+/+/+/config", "homeassistant/light/arcroom/config", False),
    ("stat/lamp/#", "stat/lamp", True),  # '#' also matches its parent level
    ("stat/lamp/#", "stat/lamp/RESULT", True),
    ("stat/lamp/#", "stat/lamp/a/b/c", True),
    ("stat/lamp/#", "stat/lampX/RESULT", False),
    ("#", "anything/at/all", True),
    ("#", "$SYS/broker/uptime", False),  # wildcards at the first level skip $ topics
    ("+/broker/uptime", "$SYS/broker/uptime", False),
    ("$SYS/#", "$SYS/broker/uptime", True),
    ("+/+", "a/b", True),
    ("+/+", "a//", False),
    ("a/+/c", "a//c", True),  # an empty level is a level
    ("shellies/lamp/light/0/status", "shellies/lamp/light/1/status", False),
]


@pytest.mark.parametrize(("topic_filter", "topic", "expected"), CASES)
def test_a_filter_matches_as_the_mqtt_rules_say(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


@pytest.mark.parametrize(("topic_filter", "topic", "_"), [c for c in CASES if not c[1].startswith("$")])
def test_it_agrees_with_aiomqtt(topic_filter: str, topic: str, _: bool) -> None:
    # ($ topics aside: aiomqtt leaves that rule to the broker, which never delivers them to wildcards.)
    assert topic_matches(topic_filter, topic) is aiomqtt.Topic(topic).matches(topic_filter)


def test_matching_leaves_nothing_for_the_cyclic_collector() -> None:
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        for _ in range(1000):
            topic_matches("stat/+/RESULT", "stat/lamp/RESULT")
        survivors = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert survivors < 10  # aiomqtt's matcher leaves 3 objects per call: 3000 here
