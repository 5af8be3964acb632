"""Schemathesis over the OpenAPI document, against the real service on a free port: valid and
invalid data for every documented operation, and not one server error.

Bounded: at most EXAMPLES cases per operation and MAX_TIME_S in all (the examples, coverage and
fuzzing phases; the stateful phase is left out). The event stream never ends by design, so it is
left out here and covered by test_stream.py and test_role_matrix.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.domain.clock import ManualClock
from app.settings import Settings, Token
from tests.conftest import Service, serve

EXAMPLES = 25
MAX_TIME_S = 40
# Real names for some of the cases (the rest are generated), so that commands reach the room
# rather than its 404; schemathesis reads this as its configuration file.
CONFIG = """\
[dictionaries.rooms]
values = ["one", "two"]
[dictionaries.lights]
values = ["ceiling"]
[dictionaries.presets]
values = ["psilocybin", "mdma", "esketamine"]
[dictionaries.cues]
values = ["vitals@60", "bp_pre_dose@0", "integration_prompt@0"]

[parameters]
"path.room" = { dictionary = "rooms", probability = 0.8 }
"path.light" = { dictionary = "lights", probability = 0.8 }
"path.preset_id" = { dictionary = "presets", probability = 0.5 }
"path.cue_id" = { dictionary = "cues", probability = 0.5 }
"body.preset" = { dictionary = "presets", probability = 0.5 }
"""
THERAPIST = "schemathesis-therapist-0123456789"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture
async def secured(settings: Settings, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Service]:
    rooms = tmp_path / "rooms-fuzz.yaml"
    rooms.write_text(
        "rooms:\n"
        "  - id: one\n    name: Room one\n    audio: {output: dummy}\n"
        f"    lights:\n      - {{name: ceiling, profile: zigbee2mqtt, topic: fuzz_{uuid.uuid4().hex[:8]}, role: ceiling}}\n"
        "  - id: two\n    name: Room two\n    audio: {output: dummy}\n"
    )
    tokens = [Token(name="schemathesis", role="therapist", token=SecretStr(THERAPIST))]
    async with serve(settings.model_copy(update={"tokens": tokens, "rooms_file": rooms}), clock) as svc:
        yield svc


async def test_schemathesis_finds_no_server_error(secured: Service, tmp_path: Path) -> None:
    base = str(secured.client.base_url).rstrip("/")
    report = tmp_path / "report.json"
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    # The service runs in this event loop, so schemathesis runs beside it as its own process.
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES),
        "--max-time",
        str(MAX_TIME_S),
        "--seed",
        "11",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--header",
        f"Authorization: Bearer {THERAPIST}",
        "--exclude-path",
        "/api/rooms/{room}/stream",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), MAX_TIME_S + 120)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    print(text[text.rfind("API Operations:") :])  # shown with pytest -s: what the README quotes
    summary = json.loads(report.read_text())
    assert summary["failures"] == [] and summary["errors"] == [], summary["failures"]
    assert summary["operations"]["tested"] == summary["operations"]["selected"] >= 25
    assert summary["test_cases"]["generated"] >= 1000  # a bounded run still covers a lot
    assert summary["test_cases"]["errored"] == 0
