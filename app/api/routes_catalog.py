"""Health, presets and the records of finished or running sessions."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel

from app import __version__
from app.api.auth import Control, Principal, Read
from app.api.bodies import RemsFiled
from app.api.deps import engine, runtime, standby_says
from app.api.openapi import NOT_FOUND
from app.domain.errors import Conflict
from app.domain.events import Event
from app.domain.presets import Preset
from app.domain.readings import FIELDS
from app.domain.rems import RemsForm, rems_form
from app.domain.report import Report, build_report, iso, report_csv
from app.engine import SessionEngine
from app.leadership import Leadership
from app.report_pdf import report_pdf
from app.runtime import Runtime
from app.settings import Settings

router = APIRouter(prefix="/api", tags=["records"], responses=NOT_FOUND)


@router.get("/health", summary="Is the service up, and are its parts?")
async def health(request: Request) -> dict[str, Any]:
    """Service, broker link and background tasks. `status` is `degraded` while anything in `problems` is wrong:
    the broker away or refusing the login, the music library missing, a task failed in the last 10 minutes. Each
    problem is one line naming its cause and the setting to check. No token needed (for probes).
    """
    leadership: Leadership | None = request.app.state.leadership
    rt: Runtime | None = request.app.state.runtime
    if rt is None:  # the standby (or a leader still starting its rooms)
        return {
            "status": "standby",
            **_roles(leadership, request.app.state.settings),
            "problems": [leadership.problem] if leadership is not None and leadership.problem else [],
            "version": __version__,
            "detail": standby_says(leadership),
        }
    supervisor = rt.supervisor
    problems = rt.problems()
    if leadership is not None and leadership.problem:
        problems.append(leadership.problem)
    return {
        "status": "degraded" if problems else "ok",
        **_roles(leadership, rt.settings),
        "problems": problems,
        "version": __version__,
        "mqtt": {
            "broker": str(rt.link.address),
            "connected": rt.link.connected,
            "embedded": rt.broker is not None,
            "last_error": rt.link.last_error,
        },
        "rooms": len(rt.rooms),
        "timezone": rt.settings.timezone,  # the clinic's: the dashboard shows its times in it, as the reports do
        "tasks": supervisor.running(),
        "failed_tasks": {name: f.model_dump() for name, f in supervisor.failures.items()},
    }


@router.get("/presets", dependencies=[Read], summary="The substance presets")
async def presets(e: SessionEngine = Depends(engine)) -> list[dict[str, Any]]:
    """Every preset: substance, route, nominal arc, minimum observation, booster, phases."""
    return [
        {
            "id": p.id,
            "name": p.name,
            "substance": p.substance,
            "route": p.route,
            "nominal_arc_min": p.nominal_arc_min,
            "min_observation_min": p.min_observation_min,
            "booster": p.booster is not None,
            "phases": [ph.name for ph in p.phases],
        }
        for p in e.presets.values()
    ]


@router.get("/presets/{preset_id}", dependencies=[Read], summary="One preset, whole")
async def preset(preset_id: str, e: SessionEngine = Depends(engine)) -> Preset:
    """Phases with durations (minutes), cues, readings asked for, thresholds, booster window and sources."""
    return e.preset(preset_id)


@router.get("/sessions/{session_id}/events", dependencies=[Read], summary="A session's event log")
async def session_events(session_id: str, e: SessionEngine = Depends(engine)) -> list[Event]:
    """Every event in order (append-only), with `at` in epoch seconds and the actor in `data.by`."""
    _, events, _ = e.session_record(session_id)
    return events


@router.get("/readings", dependencies=[Read], summary="The fields a reading can have: label, unit, possible range")
async def reading_fields() -> dict[str, dict[str, Any]]:
    """Every field a reading can have, with its label, unit and the physiologically possible range."""
    return {name: spec.describe() for name, spec in FIELDS.items()}


@router.get("/quick-notes", dependencies=[Read], summary="The clinic's one-tap notes, for the tablet's Notes tab")
async def quick_notes(request: Request) -> list[str]:
    """The notes the tablet offers as one tap each (ARCROOM_QUICK_NOTES); a tap records one as a session note."""
    settings: Settings = request.app.state.settings
    return list(settings.quick_notes)


@router.get(
    "/sessions/{session_id}/report",
    dependencies=[Read],
    response_model=Report,
    responses={200: {"content": {"text/csv": {}, "application/pdf": {}}}},
    summary="The record: JSON, CSV (every event, readings in columns), PDF (A4) or the REMS form's fields",
)
async def session_report(
    session_id: str,
    format: Literal["json", "csv", "pdf", "rems"] = Query("json"),
    e: SessionEngine = Depends(engine),
    rt: Runtime = Depends(runtime),
) -> Report | Response:
    """The session's record: JSON (default), `csv`, `pdf` (A4, timeline chart and event table) or `rems` (the
    Spravato REMS Patient Monitoring Form's fields).
    """
    info, events, state = e.session_record(session_id)
    now = e.clock.now()
    report = build_report(info, events, now, state, tz=rt.settings.tz)
    label = f"session-{session_id}"
    if format == "csv":
        return Response(
            report_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{label}.csv"'},
        )
    if format == "pdf":
        # Matplotlib and ReportLab take a few hundred ms: off the event loop, so a panic never waits behind it.
        pdf = await asyncio.to_thread(report_pdf, report, state)
        return Response(
            pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{label}.pdf"'}
        )
    if format == "rems":
        if not info.preset.rems_form:
            raise Conflict(f"preset {info.preset.id!r} has no REMS form (only Spravato sessions do)")
        # Its own document, not a Report: served as it is rather than through the route's response model.
        return Response(rems_form(report, info.preset, events, now).model_dump_json(), media_type="application/json")
    return report


class SessionSummary(BaseModel):
    session_id: str
    room: str
    preset_id: str
    preset_name: str
    client_label: str | None
    started_at: str
    ended_at: str | None
    rems: RemsForm | None  # for Spravato sessions: the form's state, days left, filed or not


@router.get("/sessions", summary="Recent sessions, newest first; ?rems=pending for forms to file")
async def sessions(
    principal: Principal = Read,
    days: float = Query(14, gt=0, le=366),
    room: str | None = Query(None, max_length=40),
    rems: Literal["pending"] | None = Query(None),
    e: SessionEngine = Depends(engine),
    rt: Runtime = Depends(runtime),
) -> list[SessionSummary]:
    """Recent sessions, newest first. `?rems=pending` lists every esketamine session given a dose whose REMS form
    is not marked filed, with the days left of 7 (negative: overdue), however long ago: `days` does not apply, as a
    form still owed does not stop being owed. A session without a dose has no form to file and is not listed.
    """
    now, tz = e.clock.now(), rt.settings.tz
    out: list[SessionSummary] = []
    for stored in reversed(e.rems_unfiled() if rems else e.sessions(now - days * 86400)):
        info = stored.info
        if (room is not None and info.room != room) or not principal.may_use(info.room):
            continue
        _, events, state = e.session_record(info.id)
        report = build_report(info, events, now, state, tz=tz)
        form = rems_form(report, info.preset, events, now) if info.preset.rems_form else None
        out.append(
            SessionSummary(
                session_id=info.id,
                room=info.room,
                preset_id=info.preset.id,
                preset_name=info.preset.name,
                client_label=info.client_label,
                started_at=iso(state.started_at, tz) or "",
                ended_at=iso(state.ended_at, tz),
                rems=form,
            )
        )
    return out


@router.post("/sessions/{session_id}/rems/filed", summary="Mark the session's REMS form filed (once)")
async def rems_filed(
    session_id: str,
    body: Annotated[RemsFiled | None, Body()] = None,
    principal: Principal = Control,
    e: SessionEngine = Depends(engine),
    rt: Runtime = Depends(runtime),
) -> RemsForm:
    """Records that the session's REMS form was filed (once), with an optional reference."""
    e.mark_rems_filed(session_id, (body or RemsFiled()).reference, by=principal.by)
    info, events, state = e.session_record(session_id)
    now = e.clock.now()
    return rems_form(build_report(info, events, now, state, tz=rt.settings.tz), info.preset, events, now)


def _roles(leadership: Leadership | None, settings: Settings) -> dict[str, Any]:
    """This instance's role and who leads (itself, when there is no standby)."""
    if leadership is None:
        return {"role": "leader", "instance": settings.instance, "leader": settings.instance}
    leader = leadership.leader
    return {
        "role": leadership.role,
        "instance": leadership.instance,
        "leader": leader.instance if leader is not None else None,
        "leader_address": leader.address if leader is not None else None,
        "term": leader.term if leader is not None else None,
        # Where each instance answers: the dashboard moves to another when this one stops answering.
        "instances": [{"instance": name, "address": address} for name, address in leadership.instances.items()],
    }
