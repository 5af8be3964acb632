"""Prometheus metrics (GET /metrics): what a clinic's monitoring should alert on.

Two kinds:
- events, counted where they happen by one call each: a panic handled (and how long its audio
  took to confirm), a light command sent, a cue announced (how late);
- state, read from the running service at each scrape (`RuntimeCollector`): broker connected,
  sessions running, rooms in panic, each room's light deliveries, background-task failures. Nothing
  in the hot path keeps these up to date, so they cannot drift from what /api/health says.

The event instruments are module-level and registered in no global registry: each app's
registry (`registry_for`) takes them with its own runtime collector, so several apps in one
process (the tests) never clash.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, get_args

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from app.domain.session import SessionState

if TYPE_CHECKING:
    from app.engine import Notice
    from app.lighting.controller import Delivery
    from app.runtime import Runtime

__all__ = ["CONTENT_TYPE_LATEST", "on_notice", "panic_handled", "registry_for", "render"]

# The panic path answers in a few ms; its audio waits 80 ms at most (app/panic.py AUDIO_CONFIRM_S).
_PANIC_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5)
_CUE_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
SESSION_STATUSES = tuple(s for s in get_args(SessionState.model_fields["status"].annotation) if s != "ended")
DELIVERIES: tuple[Delivery, ...] = ("confirmed", "sent", "unconfirmed")

PANIC_HANDLING = Histogram(
    "arcroom_panic_handling_seconds",
    "From a panic arriving to its answer: lights commanded, audio asked to pause, session frozen",
    ["room"],
    buckets=_PANIC_BUCKETS_S,
    registry=None,
)
PANIC_AUDIO_CONFIRM = Histogram(
    "arcroom_panic_audio_confirm_seconds",
    "From a panic arriving to the player confirming it paused (panics it did not confirm in time are not here)",
    ["room"],
    buckets=_PANIC_BUCKETS_S,
    registry=None,
)
PANIC_AUDIO_UNCONFIRMED = Counter(
    "arcroom_panic_audio_unconfirmed",
    "Panics whose audio did not confirm pausing in time (the pause stays queued on the player)",
    ["room"],
    registry=None,
)
LIGHT_COMMANDS_SENT = Counter(
    "arcroom_light_commands_sent", "Commands published to lights (fade steps included)", ["room"], registry=None
)
CUE_LATENESS = Histogram(
    "arcroom_cue_lateness_seconds",
    "How long after its due time a cue (a vitals check, a dose reminder) was announced",
    ["room"],
    buckets=_CUE_BUCKETS_S,
    registry=None,
)
_EVENT_INSTRUMENTS = (PANIC_HANDLING, PANIC_AUDIO_CONFIRM, PANIC_AUDIO_UNCONFIRMED, LIGHT_COMMANDS_SENT, CUE_LATENESS)


def panic_handled(room: str, took_s: float, audio_confirmed_ms: float | None) -> None:
    """Called once per panic by RoomController.panic."""
    PANIC_HANDLING.labels(room).observe(took_s)
    if audio_confirmed_ms is None:
        PANIC_AUDIO_UNCONFIRMED.labels(room).inc()
    else:
        PANIC_AUDIO_CONFIRM.labels(room).observe(audio_confirmed_ms / 1000)


def on_notice(notice: Notice) -> None:
    """An engine listener: how late each cue was announced."""
    if notice.kind == "cue" and isinstance(due_at := notice.detail.get("due_at"), int | float):
        CUE_LATENESS.labels(notice.room).observe(max(0.0, notice.at - due_at))


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
    for instrument in _EVENT_INSTRUMENTS:
        registry.register(instrument)
    registry.register(RuntimeCollector(runtime))
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
