"""Each shipped profile produces the documented payload, and reads the firmware's reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.catalog import load_profiles
from app.domain.light import LightState
from app.lighting.codec import DecodeError, decode_availability, decode_state, encode_command

PROFILES = load_profiles(Path(__file__).resolve().parents[2] / "device_profiles")
WARM_40 = LightState(on=True, brightness_pct=40, kelvin=2700)


def test_every_family_has_a_profile() -> None:
    assert {
        "zigbee2mqtt",
        "tasmota",
        "shelly_gen1",
        "shelly_gen2",
        "wled",
        "esphome",
        "ha_json",
        "generic_template",
    } <= set(PROFILES)


@pytest.mark.parametrize(
    ("profile", "topic", "expected_topic", "expected"),
    [
        (
            "zigbee2mqtt",
            "lamp",
            "zigbee2mqtt/lamp/set",
            {"state": "ON", "brightness": 102, "color_temp": 370, "transition": 5},
        ),
        (
            "shelly_gen1",
            "shellyduo-1",
            "shellies/shellyduo-1/light/0/set",
            {"turn": "on", "brightness": 40, "temp": 2700, "transition": 5000},
        ),
        (
            "shelly_gen2",
            "shellyplus-1",
            "shellyplus-1/rpc",
            {
                "id": 7,
                "src": "arcroom",
                "method": "Light.Set",
                "params": {"id": 0, "on": True, "brightness": 40, "transition_duration": 5},
            },
        ),
        ("wled", "strip", "wled/strip/api", {"on": True, "bri": 102, "tt": 50, "seg": [{"cct": 2700}]}),
        (
            "esphome",
            "node1/light/lamp",
            "node1/light/lamp/command",
            {"state": "ON", "brightness": 102, "color_temp": 370, "transition": 5},
        ),
        (
            "ha_json",
            "clinic/lamp",
            "clinic/lamp/set",
            {"state": "ON", "brightness": 102, "color_temp": 370, "transition": 5},
        ),
    ],
)
def test_json_dialects(profile: str, topic: str, expected_topic: str, expected: dict[str, object]) -> None:
    out = encode_command(PROFILES[profile], topic, WARM_40, 5, rpc_id=7)
    assert out.topic == expected_topic
    assert json.loads(out.payload) == expected
    assert out.retain is False


def test_tasmota_backlog_with_a_fade_and_never_retained() -> None:
    out = encode_command(PROFILES["tasmota"], "tasmota_A1", WARM_40, 5, change_pct=40)
    assert out.topic == "cmnd/tasmota_A1/Backlog"
    # Speed: 5 s for a 40 % change = 5 / 0.5 / 0.4 = 25 half-seconds per full change.
    assert out.payload.decode() == "Fade 1; Speed 25; Power ON; Dimmer 40; CT 370"
    assert out.retain is False
    off = encode_command(PROFILES["tasmota"], "tasmota_A1", LightState(on=False), 0)
    assert off.payload.decode() == "Fade 0; Power OFF"


def test_colour_temperature_is_clamped_to_the_device() -> None:
    out = encode_command(PROFILES["shelly_gen1"], "duo", LightState(on=True, brightness_pct=10, kelvin=2200), 0)
    assert json.loads(out.payload)["temp"] == 2700


def test_shelly_gen2_instant_change_leaves_transition_out() -> None:
    out = encode_command(PROFILES["shelly_gen2"], "dimmer", LightState(on=True, brightness_pct=100), 0)
    assert "transition_duration" not in json.loads(out.payload)["params"]


@pytest.mark.parametrize(
    ("profile", "payload", "fields"),
    [
        (
            "zigbee2mqtt",
            '{"state":"ON","brightness":127,"color_temp":370,"linkquality":90}',
            {"on": True, "brightness_pct": 50.0, "kelvin": 2703},
        ),
        ("tasmota", '{"POWER":"OFF","Dimmer":40}', {"on": False, "brightness_pct": 40.0}),
        (
            "tasmota",
            '{"Time":"2026-11-25T01:00:00","POWER":"ON","Dimmer":12,"CT":454}',
            {"on": True, "brightness_pct": 12.0, "kelvin": 2203},
        ),
        (
            "shelly_gen1",
            '{"ison":true,"brightness":40,"temp":3000,"mode":"white"}',
            {"on": True, "brightness_pct": 40.0, "kelvin": 3000},
        ),
        (
            "shelly_gen2",
            '{"src":"d","dst":"d/events","method":"NotifyStatus","params":{"ts":1.5,'
            '"light:0":{"id":0,"output":true,"brightness":40}}}',
            {"on": True, "brightness_pct": 40.0},
        ),
        ("wled", "0", {"on": False, "brightness_pct": 0.0}),
        ("wled", "255", {"on": True, "brightness_pct": 100.0}),
        (
            "esphome",
            '{"state":"ON","brightness":255,"color_mode":"color_temp","color_temp":250}',
            {"on": True, "brightness_pct": 100.0, "kelvin": 4000},
        ),
    ],
)
def test_reports_are_read(profile: str, payload: str, fields: dict[str, object]) -> None:
    assert decode_state(PROFILES[profile], payload.encode()) == fields


@pytest.mark.parametrize(
    ("profile", "payload"),
    [
        ("zigbee2mqtt", "{not json"),
        ("zigbee2mqtt", "[1, 2]"),
        ("zigbee2mqtt", '{"state": 5, "brightness": "high"}'),
        ("zigbee2mqtt", '{"linkquality": 80}'),
        ("shelly_gen2", '{"method":"NotifyEvent","params":{"events":[]}}'),
        ("shelly_gen2", '{"method":"NotifyStatus","params":{"ts":1,"switch:0":{"output":true}}}'),
        ("wled", "bright"),
        ("tasmota", b"\xff\xfe".decode("latin-1")),
    ],
)
def test_malformed_or_unrelated_reports_are_decode_errors(profile: str, payload: str) -> None:
    with pytest.raises(DecodeError):
        decode_state(PROFILES[profile], payload.encode("latin-1"))


@pytest.mark.parametrize(
    ("profile", "online", "offline"),
    [
        ("zigbee2mqtt", '{"state":"online"}', '{"state":"offline"}'),
        ("tasmota", "Online", "Offline"),
        ("shelly_gen1", "true", "false"),
        ("shelly_gen2", "true", "false"),
        ("wled", "online", "offline"),
        ("esphome", "online", "offline"),
        ("ha_json", "online", "offline"),
    ],
)
def test_availability(profile: str, online: str, offline: str) -> None:
    assert decode_availability(PROFILES[profile], online.encode()) is True
    assert decode_availability(PROFILES[profile], offline.encode()) is False
    with pytest.raises(DecodeError):
        decode_availability(PROFILES[profile], b"maybe")


GARBAGE_VALUES = ["NaN", "Infinity", "-Infinity", "1e999", "-5", "100000", "9" * 5000, '"lots"', "true", "[1]"]


@pytest.mark.parametrize("profile", sorted(p for p in PROFILES if PROFILES[p].state is not None))
@pytest.mark.parametrize("value", GARBAGE_VALUES, ids=lambda v: v[:12])
def test_a_number_that_is_not_a_finite_value_on_the_device_scale_is_a_bad_report(profile: str, value: str) -> None:
    spec = PROFILES[profile].state
    assert spec is not None
    for field in (spec.brightness, spec.color_temp):
        if field is None:
            continue
        body = f'{{"{field.key}": {value}}}'
        if spec.path:  # e.g. Shelly Gen2's params.light:0
            for step in reversed(spec.path.split(".")):
                body = f'{{"{step}": {body}}}'
        for key, expected in spec.match.items():  # e.g. Shelly Gen2's method: NotifyStatus
            body = f'{{"{key}": {json.dumps(expected)}, ' + body[1:]
        if spec.encoding == "plain":
            body = value
        with pytest.raises(DecodeError):
            fields = decode_state(PROFILES[profile], body.encode())
            # Should it decode at all, it must not say anything the value did not (never "100 %" for NaN).
            assert fields.get("brightness_pct") is None and fields.get("kelvin") is None
            raise DecodeError("nothing read")


@pytest.mark.parametrize("payload", [b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000, b"{" * 20000])
def test_deep_or_huge_json_is_a_bad_report_not_a_crash(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_state(PROFILES["zigbee2mqtt"], payload)
