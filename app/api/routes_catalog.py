"""Health, presets and the records of finished or running sessions."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from app import __version__
from app.api.auth import Read
from app.api.deps import engine, runtime
from app.domain.events import Event
from app.domain.presets import Preset
from app.domain.report import Report, build_report, report_csv
from app.engine import SessionEngine
from app.runtime import Runtime

router = APIRouter(prefix="/api")


@router.get("/health", summary="Is the service up, and are its parts?")
async def health(rt: Runtime = Depends(runtime)) -> dict[str, Any]:
    supervisor = rt.supervisor
    return {
        "status": "ok" if supervisor.healthy() and rt.link.connected else "degraded",
        "version": __version__,
        "mqtt": {
            "broker": str(rt.link.address),
            "connected": rt.link.connected,
            "embedded": rt.broker is not None,
            "last_error": rt.link.last_error,
        },
        "rooms": len(rt.rooms),
        "tasks": supervisor.running(),
        "failed_tasks": {name: f.model_dump() for name, f in supervisor.failures.items()},
    }


@router.get("/presets", dependencies=[Read])
async def presets(e: SessionEngine = Depends(engine)) -> list[dict[str, Any]]:
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


@router.get("/presets/{preset_id}", dependencies=[Read])
async def preset(preset_id: str, e: SessionEngine = Depends(engine)) -> Preset:
    return e.preset(preset_id)


@router.get("/sessions/{session_id}/events", dependencies=[Read])
async def session_events(session_id: str, e: SessionEngine = Depends(engine)) -> list[Event]:
    _, events, _ = e.session_record(session_id)
    return events


@router.get(
    "/sessions/{session_id}/report",
    dependencies=[Read],
    response_model=Report,
    responses={200: {"content": {"text/csv": {}}}},
)
async def session_report(
    session_id: str, format: Literal["json", "csv"] = Query("json"), e: SessionEngine = Depends(engine)
) -> Report | Response:
    info, events, state = e.session_record(session_id)
    report = build_report(info, events, e.clock.now(), state)
    if format == "csv":
        return Response(
            report_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="session-{session_id}.csv"'},
        )
    return report
