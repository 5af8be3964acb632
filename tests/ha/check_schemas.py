"""Run by Home Assistant's own Python (.venv/ha): validate discovery payloads with its schemas.

Reads {config topic: JSON payload} on stdin; prints {config topic: {"error": str | null,
"dropped": [keys]}}: the schema's error, and the keys its REMOVE_EXTRA would drop without a word.
Used by tests/ha/test_discovery_schema.py."""

from __future__ import annotations

import importlib
import json
import sys

import homeassistant.bootstrap  # noqa: F401 - first, as hass does: the components import each other
import voluptuous as vol


def check(topic: str, payload: dict[str, object]) -> dict[str, object]:
    component = topic.split("/")[1]
    module = importlib.import_module(f"homeassistant.components.mqtt.{component}")
    config = {**payload, "platform": "mqtt"}  # as its discovery adds before validating
    try:
        validated = module.DISCOVERY_SCHEMA(config)
    except vol.Invalid as exc:
        return {"error": str(exc), "dropped": []}
    return {"error": None, "dropped": sorted(set(payload) - set(validated))}


def main() -> None:
    payloads = json.load(sys.stdin)
    json.dump({topic: check(topic, json.loads(text)) for topic, text in payloads.items()}, sys.stdout)


if __name__ == "__main__":
    main()
