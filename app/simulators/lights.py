"""Virtual lights that speak each firmware's real MQTT topics and payloads, for tests and demos.

Each family is written from that firmware's own documentation and source (see each class), and shares
nothing with the service's device code: a test that drives the service against these lights checks
the service's mapping against a second, independent reading of the firmware.

    light = make_simulator("tasmota", "bedroom_lamp")
    task = asyncio.create_task(light.run("127.0.0.1", 1883))
    ...
    light.state()   # what the lamp emits now (mid-fade too); light.target: where it is heading
"""

from __future__ import annotations

from app.simulators.base import SimState, SimulatedLight
from app.simulators.json_lights import EsphomeLight, HaJsonLight, Zigbee2MqttLight
from app.simulators.shelly import ShellyGen1Light, ShellyGen2Light
from app.simulators.tasmota import TasmotaLight
from app.simulators.wled import WledLight

_CLASSES: dict[str, type[SimulatedLight]] = {
    cls.family: cls
    for cls in (Zigbee2MqttLight, TasmotaLight, ShellyGen1Light, ShellyGen2Light, WledLight, EsphomeLight, HaJsonLight)
}

FAMILIES: tuple[str, ...] = tuple(_CLASSES)


def make_simulator(family: str, topic: str) -> SimulatedLight:
    """A light of `family` known on the broker by `topic` (the family's device id or base topic).

    zigbee2mqtt: friendly name; tasmota: %topic%; shelly_gen1: device id under shellies/; shelly_gen2:
    topic prefix; wled: device id under wled/; esphome: "<node>/light/<name>"; ha_json: base topic.
    """
    try:
        cls = _CLASSES[family]
    except KeyError:
        raise ValueError(f"unknown light family {family!r}; known: {', '.join(FAMILIES)}") from None
    return cls(topic)


__all__ = [
    "FAMILIES",
    "EsphomeLight",
    "HaJsonLight",
    "ShellyGen1Light",
    "ShellyGen2Light",
    "SimState",
    "SimulatedLight",
    "TasmotaLight",
    "WledLight",
    "Zigbee2MqttLight",
    "make_simulator",
]
