"""A room's session and its commands: start, dose, the arc, checks, readings, facilitators, the end."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response, status

from app.api.auth import Control, Principal
from app.api.bodies import Acknowledge, AlertAck, Dose, End, Extend, Facilitator, Note, Reading, StartSession
from app.api.deps import room
from app.api.openapi import ROOM_ERRORS
from app.domain.session import SessionState
from app.room import RoomController

router = APIRouter(prefix="/api/rooms", tags=["sessions"], responses=ROOM_ERRORS)


def _by(principal: Principal) -> str:
    """The actor recorded with every command: the token's name."""
    return principal.by


@router.post("/{room}/session", status_code=status.HTTP_201_CREATED, summary="Start a session")
async def start_session(
    body: StartSession, response: Response, principal: Principal = Control, r: RoomController = Depends(room)
) -> SessionState:
    """Starts the preset's arc in `arrival` (open-ended until the dose), with its playlist. In a room that is in
    panic or held, the session begins frozen. 409 if a session already runs.
    """
    state = r.start_session(body.preset, body.client_label, body.playlist, by=principal.by, intention=body.intention)
    response.headers["Location"] = f"/api/sessions/{state.session_id}/events"
    return state


@router.post("/{room}/session/dose", summary="Record the dose or a booster")
async def dose(
    body: Annotated[Dose | None, Body()] = None, principal: Principal = Control, r: RoomController = Depends(room)
) -> SessionState:
    """The first dose ends `arrival`; `booster: true` records a supplemental dose (refused outside the preset's
    window unless `override_reason` is given). Allowed during a panic.
    """
    body = body or Dose()
    return r.dose(
        booster=body.booster,
        amount=body.amount,
        unit=body.unit,
        lot=body.lot,
        override_reason=body.override_reason,
        by=principal.by,
    )


@router.post("/{room}/session/advance", summary="End the current phase now")
async def advance(principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    """The next phase begins now and every later phase moves with it. Allowed during a panic (the lights stay
    bright until it is cleared).
    """
    return r.advance(by=principal.by)


@router.post("/{room}/session/advance/undo", summary="Undo the last phase advance (for 2 minutes)")
async def undo_advance(principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    """Back to the phase the last advance left, as if it had not been left: the arc, the cues, the lights and the
    music follow. Within 2 minutes of the advance (`advance_undo_until` in the state), and only while nothing
    else has moved or frozen the arc since; 409 otherwise, saying so. The record keeps both events.
    """
    return r.undo_advance(by=principal.by)


@router.post("/{room}/session/extend", summary="Lengthen the current phase")
async def extend(body: Extend, principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    """By `minutes`; every later phase moves by exactly that."""
    return r.extend(body.minutes, by=principal.by)


@router.post("/{room}/session/hold", summary="Put the session on hold")
async def hold(principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    """Freezes the arc (time in phase stops; time since dose and the clinical checks run on). 409 in panic: clear
    it with `hold` instead.
    """
    return r.hold(by=principal.by)


@router.post("/{room}/session/resume", summary="Take the session off hold")
async def resume(principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    """The arc goes on. 409 in panic or while held after one: clear the panic with `restore`."""
    return r.resume(by=principal.by)


@router.post("/{room}/session/note", summary="Add a note to the record")
async def note(body: Note, principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    """Free text, with the actor."""
    return r.note(body.text, by=principal.by)


@router.post("/{room}/session/cues/{cue_id}/ack", summary="Acknowledge a due cue, with the readings it asks for")
async def acknowledge(
    cue_id: str,
    body: Annotated[Acknowledge | None, Body()] = None,
    principal: Principal = Control,
    r: RoomController = Depends(room),
) -> SessionState:
    """Records the readings its kind asks for (422 names a missing or impossible one), or why they were not taken.
    409 before the check is due (the message says when).
    """
    body = body or Acknowledge()
    return r.acknowledge(cue_id, body.readings, body.not_taken_reason, by=principal.by)


@router.post("/{room}/session/readings", summary="Record a reading at any time (unscheduled)")
async def reading(body: Reading, principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    """A reading outside the schedule; a value past the preset's thresholds raises an alert."""
    return r.record_reading(body.readings, body.kind, by=principal.by)


@router.post("/{room}/session/alerts/{alert_id}/ack", summary="A facilitator has seen the alert")
async def acknowledge_alert(
    alert_id: str,
    body: Annotated[AlertAck | None, Body()] = None,
    principal: Principal = Control,
    r: RoomController = Depends(room),
) -> SessionState:
    """Records who saw the alert; it leaves the open list."""
    return r.acknowledge_alert(alert_id, (body or AlertAck()).facilitator, by=principal.by)


@router.post("/{room}/session/facilitators", summary="A facilitator signs in to the session")
async def sign_in(body: Facilitator, principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    """The preset says how many must be present; fewer raises an alert."""
    return r.sign_in(body.name, by=principal.by)


@router.delete("/{room}/session/facilitators/{name}", summary="A facilitator signs out of the session")
async def sign_out(name: str, principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    """Recorded with the time; fewer than required raises an alert."""
    return r.sign_out(name, by=principal.by)


@router.post("/{room}/session/ready-to-leave", summary="The client is judged ready to leave (REMS asks when)")
async def ready_to_leave(principal: Principal = Control, r: RoomController = Depends(room)) -> SessionState:
    """When the client was judged ready to leave (the REMS form asks for it)."""
    return r.ready_to_leave(by=principal.by)


@router.post("/{room}/session/end", summary="End the session")
async def end(
    body: Annotated[End | None, Body()] = None, principal: Principal = Control, r: RoomController = Depends(room)
) -> SessionState:
    """Before the minimum observation time only with `override_reason` (recorded). The room then shows the idle
    scene.
    """
    return r.end((body or End()).override_reason, by=principal.by)
