"""GET /metrics's content: what a clinic's monitoring should alert on.

Two kinds:
- events, counted where they happen (`app/counters.py`): panics handled, light commands sent,
  cues announced;
- state, read from the running service at each scrape (`RuntimeCollector`): broker connected,
  sessions running, rooms in panic, each room's light deliveries, background-task failures. Nothing
  in the hot path keeps these up to date, so they cannot drift from what /api/health says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from app import counters
from app.domain.session import SessionState
from app.engine import Notice
from app.lighting.controller import Delivery
from app.runtime import Runtime

__all__ = ["CONTENT_TYPE_LATEST", "on_notice", "registry_for", "render"]

SESSION_STATUSES = tuple(s for s in get_args(SessionState.model_fields["status"].annotation) if s != "ended")
DELIVERIES: tuple[Delivery, ...] = ("confirmed", "sent", "unconfirmed")


def on_notice(notice: Notice) -> None:
    """An engine listener: how late each cue was announced."""
    if notice.kind == "cue" and isinstance(due_at := notice.detail.get("due_at"), int | float):
        counters.cue_announced(notice.room, notice.at - due_at)


class RuntimeCollector(Collector):
    """The service's state, read at each scrape."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        rt = self.runtime
        yield GaugeMetricFamily(
            "arcroom_mqtt_connected", "1 while connected to the MQTT broker", value=int(rt.link.connected)
        )

        sessions = [room.session() for room in rt.rooms.values()]
        running = [s for s in sessions if s is not None and s.status != "ended"]
        yield GaugeMetricFamily("arcroom_sessions_running", "Rooms with a session under way", value=len(running))
        by_status = GaugeMetricFamily("arcroom_sessions", "Sessions under way, by status", labels=["status"])
        for status in SESSION_STATUSES:
            by_status.add_metric([status], sum(1 for s in running if s.status == status))
        yield by_status

        panic = GaugeMetricFamily("arcroom_room_in_panic", "1 while a room is in panic (or held)", labels=["room"])
        lights = GaugeMetricFamily(
            "arcroom_lights",
            "Lights by the delivery of their last command: confirmed (the light reports it), sent, "
            "unconfirmed (the broker is away: it goes out on reconnect)",
            labels=["room", "delivery"],
        )
        for room_id, room in rt.rooms.items():
            panic.add_metric([room_id], int(room.in_panic()))
            delivery = list(room.lights.delivery().values())
            for kind in DELIVERIES:
                lights.add_metric([room_id, kind], delivery.count(kind))
        yield panic
        yield lights

        failures = CounterMetricFamily(
            "arcroom_background_task_failures",
            "Failures of a background task (a service is restarted after each; a job is not retried)",
            labels=["task"],
        )
        for name, failure in rt.supervisor.failures.items():
            failures.add_metric([name], failure.count)
        yield failures
        running_tasks = rt.supervisor.running()
        yield GaugeMetricFamily(
            "arcroom_background_tasks_running", "Background services running", value=len(running_tasks)
        )


def registry_for(runtime: Runtime) -> CollectorRegistry:
    """One app's metrics: the event instruments, its runtime's state, and the process (memory, CPU, fds)."""
    registry = CollectorRegistry(auto_describe=True)
    for instrument in counters.EVENT_INSTRUMENTS:
        registry.register(instrument)
    registry.register(RuntimeCollector(runtime))
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
