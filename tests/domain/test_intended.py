"""What the room should show now: one answer for every path that changes the lights."""

from __future__ import annotations

from pathlib import Path

from app.catalog import load_scenes
from app.domain.events import Event, EventType
from app.domain.intended import intended_state
from app.domain.light import LightState
from app.domain.room_log import IDLE, ManualOverride, PanicStatus, RoomRecord
from app.domain.rooms import Light, Room
from app.domain.session import SessionState, replay
from tests.domain.test_session import info

SCENES = load_scenes(Path(__file__).resolve().parents[2] / "scenes.yaml")
ROOM = Room(
    id="one",
    name="One",
    lights=(
        Light(name="top", profile="zigbee2mqtt", topic="t", role="ceiling"),
        Light(name="lamp", profile="zigbee2mqtt", topic="l", role="lamp"),
    ),
)


def session_in(phase_index: int) -> SessionState:
    """A psilocybin session advanced to the given phase, each step a minute apart."""
    events = [Event(seq=0, at=0.0, type=EventType.STARTED), Event(seq=1, at=60.0, type=EventType.DOSE_GIVEN)]
    for i in range(phase_index - 1):
        events.append(Event(seq=len(events), at=120.0 + 60 * i, type=EventType.PHASE_ADVANCED))
    return replay(info("psilocybin"), events, 60.0 * (phase_index + 2))


def lights_of(scene: str) -> dict[str, LightState]:
    return {light.name: SCENES[scene].for_role(light.role) for light in ROOM.lights}


def test_no_session_shows_the_idle_scene() -> None:
    intended = intended_state(ROOM, SCENES, IDLE, None)
    assert (intended.scene, intended.source, intended.lights) == ("idle", "idle", lights_of("idle"))


def test_a_session_shows_its_phase_scene() -> None:
    session = session_in(2)
    intended = intended_state(ROOM, SCENES, IDLE, session)
    assert (intended.scene, intended.source) == (session.scene, "phase")
    assert intended.lights == lights_of(session.scene)


def test_panic_and_held_show_the_panic_scene_whatever_the_phase_or_override() -> None:
    override = ManualOverride(since=0, detail="x", lights={"lamp": LightState(on=False)})
    for mode in ("panic", "held"):
        record = RoomRecord(PanicStatus(active=True, mode=mode, since=1, by="t"), override)  # type: ignore[arg-type]
        intended = intended_state(ROOM, SCENES, record, session_in(3))
        assert (intended.scene, intended.source, intended.lights) == ("panic", mode, lights_of("panic"))


def test_an_override_made_in_this_phase_wins_over_the_phase_scene_light_by_light() -> None:
    session = session_in(3)
    override = ManualOverride(since=session.phase_started_at, detail="lamp off", lights={"lamp": LightState(on=False)})
    intended = intended_state(ROOM, SCENES, RoomRecord(PanicStatus(active=False), override), session)
    assert intended.source == "manual" and intended.override == override
    assert intended.lights == {**lights_of(session.scene), "lamp": LightState(on=False)}


def test_an_override_from_before_the_current_phase_no_longer_holds() -> None:
    session = session_in(3)
    override = ManualOverride(since=session.phase_started_at - 1, detail="old", lights={"lamp": LightState(on=False)})
    intended = intended_state(ROOM, SCENES, RoomRecord(PanicStatus(active=False), override), session)
    assert intended.source == "phase" and intended.override is None and intended.lights == lights_of(session.scene)
