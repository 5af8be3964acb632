"""Every discovery payload checked against Home Assistant's own schemas (its 2023.12 release),
including the keys that release would drop without a word."""

from __future__ import annotations

import json
import subprocess

from app.catalog import Catalog
from app.mqtt.bridge import catalogue_for
from app.mqtt.discovery import Catalogue, discovery_messages
from app.settings import Settings
from tests.ha.harness import HA_PYTHON, ROOT, ensure_installed

# Keys newer releases read that 2023.12 does not know: default_entity_id (2025.10, replacing
# object_id), a sensor's enum `options` (2024.2).
NEWER_THAN_2023_12 = {"default_entity_id", "options"}


def checked(configs: dict[str, str]) -> dict[str, dict[str, object]]:
    ensure_installed()
    done = subprocess.run(
        [str(HA_PYTHON), str(ROOT / "tests" / "ha" / "check_schemas.py")],
        input=json.dumps(configs),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, dict[str, object]] = json.loads(done.stdout)
    return result


def demo_catalogue(talk: bool) -> tuple[Catalog, Catalogue]:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    catalog = Catalog.load(s.presets_dir, s.rooms_file, s.device_profiles_dir, s.scenes_file, s.playlists_dir)
    cat = catalogue_for(catalog.presets.values(), catalog.scenes, "http://arcroom.lan:8000")
    # Named, as with a standby: the "Leading instance" sensor is checked too.
    return catalog, Catalogue(cat.public_url, cat.phases, cat.scenes, talk=talk, instance="a")


def test_every_discovery_payload_passes_home_assistants_schema() -> None:
    catalog, cat = demo_catalogue(talk=True)
    configs = discovery_messages(catalog.rooms.values(), cat)
    assert any("/switch/" in topic for topic in configs)  # Talk included, so it is checked too
    assert any(topic.endswith("/leader/config") for topic in configs)  # and the leading instance
    results = checked(configs)
    assert set(results) == set(configs)
    errors = {topic: r["error"] for topic, r in results.items() if r["error"]}
    assert errors == {}
    dropped = {topic: r["dropped"] for topic, r in results.items() if set(r["dropped"]) - NEWER_THAN_2023_12}  # type: ignore[arg-type]
    assert dropped == {}, "keys Home Assistant would silently ignore (a typo, or a key of the wrong component)"


def test_the_schema_check_catches_a_misspelt_key_and_a_bad_value() -> None:
    """The check itself can fail: a typo is reported as dropped, a wrong value as an error."""
    catalog, cat = demo_catalogue(talk=False)
    configs = discovery_messages(catalog.rooms.values(), cat)
    button = next(topic for topic in configs if topic.endswith("/panic/config"))
    volume = next(topic for topic in configs if topic.endswith("/volume/config"))
    bad_button = json.loads(configs[button]) | {"payload_pres": "PRESS"}
    bad_volume = json.loads(configs[volume]) | {"mode": "knob"}
    results = checked({button: json.dumps(bad_button), volume: json.dumps(bad_volume)})
    assert "payload_pres" in results[button]["dropped"]  # type: ignore[operator]
    assert results[volume]["error"] and "mode" in str(results[volume]["error"])
