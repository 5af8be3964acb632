"""The deployment files: the systemd unit as systemd reads it, the broker's configuration in a real
Mosquitto, and the Dockerfile, compose.yaml and unit agreeing on where things live."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import aiomqtt
import pytest
from ruamel.yaml import YAML

from tests.support import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "arcroom.service"
OPERATIONS = ROOT / "docs" / "operations.md"
# Hardening regressions show up here: `systemd-analyze security --offline=true deploy/arcroom.service`.
MAX_EXPOSURE = 2.0


def systemd_analyze() -> str:
    binary = shutil.which("systemd-analyze")
    assert binary, "systemd-analyze is missing: run ./dev test (it installs the Debian package systemd)"
    return binary


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_is_a_watched_notify_service_that_systemd_accepts(tmp_path: Path) -> None:
    unit = unit_settings()
    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"] and unit["Restart"] == ["always"]
    assert unit["WatchdogSec"] == ["10s"] and unit["User"] == ["arcroom"]
    assert unit["StateDirectory"] == ["arcroom"] and unit["ConfigurationDirectory"] == ["arcroom"]
    # verify wants the program to exist; everything else is checked as written.
    copy = tmp_path / "arcroom.service"
    copy.write_text(UNIT.read_text().replace("/opt/arcroom/bin/arcroom serve", "/bin/true"))
    verified = subprocess.run([systemd_analyze(), "verify", str(copy)], check=False, capture_output=True, text=True)
    assert verified.returncode == 0 and verified.stdout + verified.stderr == ""  # e.g. no "Unknown key"
    security = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", str(copy)], check=False, capture_output=True, text=True
    )
    match = re.search(r"Overall exposure level for arcroom.service: ([\d.]+)", security.stdout)
    assert match, security.stdout + security.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE


async def round_trip(port: int) -> bytes:
    async with aiomqtt.Client("127.0.0.1", port, identifier="deploy-test") as client:
        await client.subscribe("arcroom/status")
        await client.publish("arcroom/status", "online", qos=1)
        message = await asyncio.wait_for(anext(aiter(client.messages)), timeout=10)
        return bytes(message.payload)


def test_the_compose_broker_configuration_runs_in_mosquitto(tmp_path: Path) -> None:
    port = free_port()
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text()
    assert "listener 1883\n" in conf and "persistence_location /mosquitto/data/\n" in conf
    local = tmp_path / "mosquitto.conf"
    # Started as root, mosquitto drops to its own user, which cannot enter pytest's private folders.
    data = Path(tempfile.mkdtemp(prefix="mosquitto-data-"))
    data.chmod(0o777)
    # Only where it listens and stores differ here; every other line is the shipped one.
    local.write_text(
        conf.replace("listener 1883\n", f"listener {port} 127.0.0.1\n").replace("/mosquitto/data/", f"{data}/")
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = subprocess.Popen([binary, "-c", str(local)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        assert asyncio.run(round_trip(port)) == b"online"
    finally:
        broker.terminate()
        output, _ = broker.communicate(timeout=10)
    saved = (data / "mosquitto.db").is_file()
    shutil.rmtree(data)
    assert b"Error" not in output and saved, output.decode()


def test_dockerfile_compose_and_unit_agree_on_folders_ports_and_broker() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    compose = YAML(typ="safe").load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    arcroom, mosquitto = services["arcroom"], services["mosquitto"]
    env = dict(re.findall(r"(ARCROOM_\w+)=(\S+)", dockerfile))
    assert env["ARCROOM_DATA_DIR"] == "/var/lib/arcroom" and "VOLUME /var/lib/arcroom" in dockerfile
    assert env["ARCROOM_CONFIG_DIR"] == "/etc/arcroom"
    assert "arcroom-data:/var/lib/arcroom" in arcroom["volumes"]
    assert "./arcroom-config:/etc/arcroom:ro" in arcroom["volumes"]
    assert f"127.0.0.1:{env['ARCROOM_PORT']}:{env['ARCROOM_PORT']}" in arcroom["ports"]  # the rest via the proxy
    assert f"EXPOSE {env['ARCROOM_PORT']}" in dockerfile
    assert arcroom["environment"]["ARCROOM_MQTT_URL"] == "mqtt://mosquitto:1883" and "mosquitto" in services
    proxy = services["proxy"]  # HTTPS for the tablets, with the shipped Caddyfile (tests/test_caddy.py runs it)
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["environment"]["ARCROOM_UPSTREAM"] == f"arcroom:{env['ARCROOM_PORT']}"
    assert arcroom["environment"]["ARCROOM_MUSIC_LIBRARY"] == "/srv/music"
    assert any(v.endswith(":/srv/music:ro") for v in arcroom["volumes"])
    for volume in mosquitto["volumes"]:
        source = volume.split(":")[0]
        assert not source.startswith("./") or (ROOT / source).is_file(), volume
    assert unit_settings()["Environment"][0] == (
        f"ARCROOM_CONFIG_DIR={env['ARCROOM_CONFIG_DIR']} ARCROOM_DATA_DIR={env['ARCROOM_DATA_DIR']}"
    )
    # The image installs the wheel, never the checkout.
    assert "pip install -e" not in dockerfile and "--find-links=/wheels arcroom" in dockerfile
    assert re.search(r"^USER arcroom$", dockerfile, re.MULTILINE) and 'CMD ["arcroom", "health"]' in dockerfile
    for copied in re.findall(r"^COPY (?!--)(.+) \S+$", dockerfile, re.MULTILINE):
        for name in copied.split():
            assert (ROOT / name).exists(), f"Dockerfile copies {name}, which is not in the repository"


def run_packages() -> set[str]:
    found = re.search(r"^RUN_PACKAGES=\((.*)\)$", (ROOT / "dev").read_text(), re.MULTILINE)
    assert found, "./dev names the Debian packages the service needs in RUN_PACKAGES=(...)"
    return set(found.group(1).split())


def test_the_image_and_the_systemd_install_get_every_package_the_service_needs() -> None:
    # Without ffmpeg no track is measured and the music plays unmatched: a startle, not an error.
    dockerfile = (ROOT / "Dockerfile").read_text()
    installed = set(re.findall(r"apt-get install [^\n]*?--no-install-recommends ([^\\\n]+)", dockerfile)[0].split())
    assert run_packages() <= installed
    systemd_line = re.search(
        r"^sudo apt-get install --no-install-recommends (.+)$", OPERATIONS.read_text(), re.MULTILINE
    )
    assert systemd_line and run_packages() <= set(systemd_line.group(1).split())


@pytest.mark.parametrize("ignored", [".venv", "var", ".git", "arcroom.env"])
def test_the_image_is_built_without_local_state_or_secrets(ignored: str) -> None:
    assert ignored in (ROOT / ".dockerignore").read_text().splitlines()
