"""The service's event counters for Prometheus, counted where things happen by one call each:
a panic handled (and how long its audio took to confirm), a light command sent, a cue announced
(how late). A leaf: anything may count into it; `app/api/metrics.py` serves them.

The instruments are module-level and registered in no global registry: each app's registry takes
them with its own runtime collector, so several apps in one process (the tests) never clash.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# The panic path answers in a few ms; its audio waits 80 ms at most (app/panic.py AUDIO_CONFIRM_S).
_PANIC_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5)
_CUE_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

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
EVENT_INSTRUMENTS = (PANIC_HANDLING, PANIC_AUDIO_CONFIRM, PANIC_AUDIO_UNCONFIRMED, LIGHT_COMMANDS_SENT, CUE_LATENESS)


def panic_handled(room: str, took_s: float, audio_confirmed_ms: float | None) -> None:
    """Called once per panic by RoomController.panic."""
    PANIC_HANDLING.labels(room).observe(took_s)
    if audio_confirmed_ms is None:
        PANIC_AUDIO_UNCONFIRMED.labels(room).inc()
    else:
        PANIC_AUDIO_CONFIRM.labels(room).observe(audio_confirmed_ms / 1000)


def cue_announced(room: str, lateness_s: float) -> None:
    """Called for each cue announced, with how long after its due time."""
    CUE_LATENESS.labels(room).observe(max(0.0, lateness_s))
