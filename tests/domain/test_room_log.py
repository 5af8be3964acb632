"""A room's own log as a fold: panic, held, restore, and manual overrides."""

from __future__ import annotations

from app.domain.light import LightState
from app.domain.room_log import RoomEvent, RoomEventType, replay_room

T = RoomEventType


def log(*items: tuple[float, RoomEventType, dict[str, object]]) -> list[RoomEvent]:
    return [RoomEvent(seq=i, at=at, type=t, data=d) for i, (at, t, d) in enumerate(items)]


def test_a_panic_holds_until_cleared_and_a_second_press_keeps_when_and_who() -> None:
    record = replay_room(log((10, T.PANIC, {"by": "http:tablet"}), (12, T.PANIC, {"by": "mqtt"})))
    assert record.panic.model_dump() == {"active": True, "mode": "panic", "since": 10, "by": "http:tablet"}


def test_held_after_a_panic_is_still_active_with_its_start_and_restore_ends_it() -> None:
    events = log((10, T.PANIC, {"by": "mqtt:wall"}), (20, T.PANIC_CLEARED, {"mode": "hold"}))
    held = replay_room(events)
    assert held.panic.active and held.panic.mode == "held" and held.panic.since == 10 and held.panic.by == "mqtt:wall"
    events += log((30, T.PANIC_CLEARED, {"mode": "restore"}))[0:1]
    assert replay_room(events).panic.active is False


def test_a_panic_while_held_is_a_new_panic() -> None:
    record = replay_room(
        log((10, T.PANIC, {"by": "a"}), (20, T.PANIC_CLEARED, {"mode": "hold"}), (30, T.PANIC, {"by": "b"}))
    )
    assert record.panic.mode == "panic" and record.panic.since == 30 and record.panic.by == "b"


def test_overrides_accumulate_per_light_keep_their_start_and_clear_at_once() -> None:
    dim = {"on": True, "brightness_pct": 10.0}
    events = log(
        (5, T.LIGHTS_OVERRIDE, {"detail": "scene peak", "scene": "peak", "lights": {"a": dim, "b": dim}}),
        (7, T.LIGHTS_OVERRIDE, {"detail": "a: brightness=50", "lights": {"a": {"on": True, "brightness_pct": 50}}}),
    )
    override = replay_room(events).override
    assert override is not None
    assert override.since == 5 and override.scene == "peak" and override.detail == "a: brightness=50"
    assert override.lights == {"a": LightState(on=True, brightness_pct=50), "b": LightState(**dim)}  # type: ignore[arg-type]
    events += [RoomEvent(seq=2, at=9, type=T.LIGHTS_OVERRIDE_CLEARED, data={})]
    assert replay_room(events).override is None
