"""A real Home Assistant (2023.12, its own venv in .venv/ha) and a real Arcroom process, for tests.

Home Assistant is configured without onboarding: the MQTT config entry is written into its
.storage, and a test-only integration (tests/ha/probe) answers on loopback HTTP with states,
devices and event firings, and calls services, so no login is needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
HA_VENV = ROOT / ".venv" / "ha"
HASS = HA_VENV / "bin" / "hass"
HA_PYTHON = HA_VENV / "bin" / "python"
PROBE = Path(__file__).resolve().parent / "probe"
BLUEPRINT = ROOT / "deploy" / "home-assistant" / "arcroom_panic_fallback.yaml"
START_TIMEOUT_S = 120
_PROBLEM = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ")
# Said by every Home Assistant that loads a custom integration: the test probe is one.
_EXPECTED = ("We found a custom integration arcroom_probe",)


def ensure_installed() -> None:
    """Home Assistant's venv, installed once by ./dev (it is cached in .venv/ha)."""
    if not HASS.exists():
        subprocess.run([str(ROOT / "dev"), "setup", "ha"], check=True)


class HomeAssistant:
    def __init__(self, workdir: Path, mqtt_port: int, extra_config: str = "") -> None:
        self.config_dir = workdir / "ha-config"
        self.mqtt_port = mqtt_port
        self.port = free_port()
        self.extra_config = extra_config
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}/api/arcroom_probe"
        self.started_in_s: float | None = None

    @property
    def log_file(self) -> Path:
        return self.config_dir / "home-assistant.log"

    def _write_config(self) -> None:
        c = self.config_dir
        (c / ".storage").mkdir(parents=True, exist_ok=True)
        (c / "configuration.yaml").write_text(
            "homeassistant:\n  name: Arcroom test\n  time_zone: UTC\n  unit_system: metric\n"
            "  latitude: 52.5\n  longitude: 13.4\n  elevation: 0\n  country: DE\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {self.port}\n"
            "logger:\n  default: warning\n  logs:\n    homeassistant.components.mqtt: debug\n"
            "arcroom_probe:\n" + self.extra_config
        )
        entry = {
            "entry_id": "a1" * 16,
            "version": 1,
            "minor_version": 1,
            "domain": "mqtt",
            "title": "test broker",
            "data": {
                "broker": "127.0.0.1",
                "port": self.mqtt_port,
                "discovery": True,
                "discovery_prefix": "homeassistant",
            },
            "options": {},
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "unique_id": None,
            "disabled_by": None,
        }
        (c / ".storage" / "core.config_entries").write_text(
            json.dumps({"version": 1, "minor_version": 1, "key": "core.config_entries", "data": {"entries": [entry]}})
        )
        shutil.copytree(PROBE, c / "custom_components" / "arcroom_probe", dirs_exist_ok=True)
        blueprints = c / "blueprints" / "automation" / "arcroom"
        blueprints.mkdir(parents=True, exist_ok=True)
        shutil.copy(BLUEPRINT, blueprints / BLUEPRINT.name)

    def start(self) -> None:
        ensure_installed()
        self._write_config()
        started = time.monotonic()
        with (self.config_dir / "stdout.log").open("ab") as out:
            # --skip-pip: everything it needs is in its venv; nothing is fetched at run time.
            self.process = subprocess.Popen(
                [str(HASS), "-c", str(self.config_dir), "--skip-pip"], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = started + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Home Assistant exited ({self.process.returncode}); see {self.config_dir}")
            try:
                if httpx.get(f"{self.url}/states", timeout=2).status_code == 200 and self._mqtt_connected():
                    self.started_in_s = time.monotonic() - started
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"Home Assistant not up after {START_TIMEOUT_S} s; see {self.log_file}")

    def _mqtt_connected(self) -> bool:
        return self.log_file.exists() and "Connected to MQTT server" in self.log_file.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    # --- reading and acting --------------------------------------------------------------

    async def states(self) -> dict[str, dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            result: dict[str, dict[str, Any]] = (await client.get(f"{self.url}/states")).json()
            return result

    async def state(self, entity_id: str) -> str | None:
        entry = (await self.states()).get(entity_id)
        return None if entry is None else str(entry["state"])

    async def devices(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            result: list[dict[str, Any]] = (await client.get(f"{self.url}/devices")).json()
            return result

    async def fired(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            result: list[dict[str, Any]] = (await client.get(f"{self.url}/fired")).json()
            return result

    async def changes(self) -> dict[str, int]:
        async with httpx.AsyncClient(timeout=10) as client:
            result: dict[str, int] = (await client.get(f"{self.url}/changes")).json()
            return result

    async def call(self, domain: str, service: str, **data: Any) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(f"{self.url}/call/{domain}/{service}", json=data)
            assert r.status_code == 200, r.text

    def log_size(self) -> int:
        return self.log_file.stat().st_size if self.log_file.exists() else 0

    def problems(self, since: int = 0) -> list[str]:
        """WARNING/ERROR lines Home Assistant logged after byte `since`, less the expected ones."""
        with self.log_file.open("rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
        return [line for line in text.splitlines() if _PROBLEM.match(line) and not any(e in line for e in _EXPECTED)]


class ArcroomProcess:
    """`python -m app serve` as its own process, so a test can kill -9 it or stop it (SIGSTOP)."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = {**os.environ, **env, "ARCROOM_PORT": str(self.port), "ARCROOM_HOST": "127.0.0.1"}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "arcroom.log"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--log-level", "warning"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, timeout=60)

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
