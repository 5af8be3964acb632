"""GET /metrics, scraped from a running service (real uvicorn, broker, simulated light): what a
clinic's monitoring reads, moving as the room does; behind the observer role when tokens are set."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from app import counters
from app.api import metrics
from app.domain.clock import ManualClock
from app.engine import Notice
from app.settings import Settings, Token
from tests.conftest import Service, serve, serve_in_process

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, default: float | None = None, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    if key not in samples:
        if default is not None:
            return default
        raise AssertionError(f"no sample {name}{labels}; have {sorted(k[0] for k in samples)}")
    return samples[key]


async def scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return parse(r.text)


async def until(client: httpx.AsyncClient, check: Callable[[Samples], bool], what: str) -> Samples:
    try:
        async with asyncio.timeout(10):
            while not check(samples := await scrape(client)):
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within 10 s: {what}") from None
    return samples


@pytest.fixture
def lit_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Room one with one simulated Zigbee light (it answers like a real one), room two dark."""
    topic = f"metrics_{uuid.uuid4().hex[:8]}"
    path = tmp_path / "rooms-lit.yaml"
    path.write_text(
        f"""\
rooms:
  - id: one
    name: Room one
    lights:
      - {{name: ceiling, profile: zigbee2mqtt, topic: {topic}, role: ceiling, simulated: true}}
    audio: {{output: dummy}}
  - id: two
    name: Room two
    audio: {{output: dummy}}
"""
    )
    return settings.model_copy(update={"rooms_file": path})


@pytest.fixture
async def running(lit_settings: Settings, clock: ManualClock) -> AsyncIterator[Service]:
    async with serve(lit_settings, clock) as svc:
        yield svc


async def test_the_metrics_follow_a_session_a_panic_and_a_failure(running: Service) -> None:
    c = running.client
    before = await until(c, lambda s: value(s, "arcroom_mqtt_connected") == 1, "connected to the broker")
    assert value(before, "arcroom_sessions_running") == 0
    assert value(before, "arcroom_room_in_panic", room="one") == 0
    assert value(before, "arcroom_background_tasks_running") >= 4
    assert value(before, "process_resident_memory_bytes") > 0

    r = await c.post("/api/rooms/one/session", json={"preset": "psilocybin"})
    assert r.status_code == 201, r.text
    assert (await c.post("/api/rooms/one/session/dose", json={})).status_code == 200
    await running.clock.advance(61 * 60)  # the first vitals check falls due at 60 min
    due = (await c.get("/api/rooms/one/state")).json()["session"]["due_cues"]
    assert any(cue["id"] == "vitals@60" for cue in due)  # and the baseline check at the start

    during = await scrape(c)
    assert value(during, "arcroom_sessions_running") == 1
    assert value(during, "arcroom_sessions", status="running") == 1
    assert value(during, "arcroom_sessions", status="held") == 0
    cues = "arcroom_cue_lateness_seconds_count"
    assert value(during, cues, room="one") == value(before, cues, 0.0, room="one") + len(due)
    # On a manual clock the scheduler wakes exactly on time.
    assert value(during, "arcroom_cue_lateness_seconds_sum", room="one") == value(
        before, "arcroom_cue_lateness_seconds_sum", 0.0, room="one"
    )

    r = await c.post("/api/rooms/one/panic")
    assert r.status_code == 200, r.text
    panic = r.json()
    after = await until(
        c, lambda s: value(s, "arcroom_lights", room="one", delivery="confirmed") == 1, "the light confirms the panic"
    )
    handled = "arcroom_panic_handling_seconds"
    assert value(after, f"{handled}_count", room="one") == value(before, f"{handled}_count", 0.0, room="one") + 1
    took_s = value(after, f"{handled}_sum", room="one") - value(before, f"{handled}_sum", 0.0, room="one")
    assert took_s == pytest.approx(panic["took_ms"] / 1000, abs=1e-3)
    confirm = "arcroom_panic_audio_confirm_seconds_count"
    assert panic["audio"]["status"] == "paused"
    assert value(after, confirm, room="one") == value(before, confirm, 0.0, room="one") + 1
    sent = "arcroom_light_commands_sent_total"
    assert value(after, sent, room="one") > value(before, sent, 0.0, room="one")
    assert value(after, "arcroom_room_in_panic", room="one") == 1
    assert value(after, "arcroom_room_in_panic", room="two") == 0
    assert value(after, "arcroom_sessions", status="panic") == 1
    assert value(after, "arcroom_lights", room="two", delivery="confirmed") == 0

    async def fails() -> None:
        raise RuntimeError("drill")

    job = running.runtime.supervisor.spawn("drill job", fails())
    await asyncio.wait({job})
    failed = await scrape(c)
    assert value(failed, "arcroom_background_task_failures_total", task="drill job") == 1


async def test_the_broker_going_away_shows(settings: Settings, clock: ManualClock) -> None:
    # A broker on a port where none listens: the service runs, and says it is not connected.
    from tests.support import free_port

    away = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{free_port()}"})
    async with serve(away, clock) as svc:
        samples = await scrape(svc.client)
        assert value(samples, "arcroom_mqtt_connected") == 0


def lateness_sum(room: str) -> float:
    samples = {(s.name, s.labels.get("room")): s.value for s in counters.CUE_LATENESS.collect()[0].samples}
    return samples.get(("arcroom_cue_lateness_seconds_sum", room), 0.0)


def test_cue_lateness_is_the_time_since_it_fell_due() -> None:
    before = lateness_sum("late-room")
    state = None  # listeners get the state too; lateness does not need it
    metrics.on_notice(Notice("late-room", "cue", 1000.0 + 2.5, state, {"id": "vitals@60", "due_at": 1000.0}))  # type: ignore[arg-type]
    metrics.on_notice(Notice("late-room", "phase", 1000.0, state, {}))  # type: ignore[arg-type]
    assert lateness_sum("late-room") - before == pytest.approx(2.5)


THERAPIST, OBSERVER, DEVICE = "tablet-Therapist-9xQ", "observer-Nurse-4kW7a", "device-WallButton-3p"


async def test_metrics_need_a_reading_role_when_tokens_are_set(settings: Settings, clock: ManualClock) -> None:
    tokens = [
        Token(name="tablet", role="therapist", token=SecretStr(THERAPIST)),
        Token(name="prometheus", role="observer", token=SecretStr(OBSERVER)),
        Token(name="button", role="device", token=SecretStr(DEVICE)),
    ]
    async with serve_in_process(settings.model_copy(update={"tokens": tokens}), clock) as svc:
        c = svc.client
        assert (await c.get("/metrics")).status_code == 401
        assert (await c.get("/metrics", headers={"Authorization": f"Bearer {DEVICE}"})).status_code == 403
        for token in (OBSERVER, THERAPIST):
            r = await c.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            assert "arcroom_mqtt_connected" in r.text
            # No secret and no client data in what a monitoring system stores.
            assert THERAPIST not in r.text and OBSERVER not in r.text
