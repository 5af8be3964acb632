"""The session report: what happened, when, relative to the dose; as JSON or CSV rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel

from app.domain.events import Event, EventType
from app.domain.session import SessionInfo, SessionState, replay


class ReportRow(BaseModel):
    at: str  # ISO 8601, UTC
    since_dose: str | None  # signed h:mm:ss
    kind: str  # event type, "phase" or "cue"
    name: str
    detail: str


class Report(BaseModel):
    session_id: str
    room: str
    preset_id: str
    preset_name: str
    preset_source: str
    client_label: str | None
    started_at: str
    ended_at: str | None
    dose_at: str | None
    boosters_at: list[str]
    min_observation_min: float
    min_observation_met: bool | None
    ended_early_reason: str | None
    phases: list[dict[str, str | float | None]]
    cues_due: int
    cues_acknowledged: int
    notes: list[dict[str, str]]
    timeline: list[ReportRow]


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def clock_offset(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    s = round(abs(seconds))
    return f"{sign}{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def build_report(info: SessionInfo, events: Sequence[Event], now: float, state: SessionState | None = None) -> Report:
    state = state or replay(info, events, now)
    preset = info.preset
    dose = state.dose_at

    def since(t: float) -> str | None:
        return None if dose is None else clock_offset(t - dose)

    rows: list[tuple[float, int, ReportRow]] = []
    for e in events:
        detail = ", ".join(f"{k}={v}" for k, v in e.data.items() if v is not None)
        rows.append(
            (
                e.at,
                1,
                ReportRow(
                    at=iso(e.at) or "",
                    since_dose=since(e.at),
                    kind=e.type.value,
                    name=str(e.data.get("cue_id") or e.data.get("phase") or ""),
                    detail=detail,
                ),
            )
        )
    phases: list[dict[str, str | float | None]] = []
    for span in state.phases:
        if span.status == "upcoming" or span.start is None:
            continue
        end = span.end if span.status == "done" else None
        phases.append(
            {
                "name": span.name,
                "start": iso(span.start),
                "end": iso(end),
                "since_dose": since(span.start),
                "duration_min": None if end is None else round((end - span.start) / 60, 1),
                "extended_min": round(span.extended_s / 60, 1),
            }
        )
        rows.append(
            (
                span.start,
                0,
                ReportRow(
                    at=iso(span.start) or "",
                    since_dose=since(span.start),
                    kind="phase",
                    name=span.name,
                    detail=f"scene={span.scene}, music={span.music}",
                ),
            )
        )
    acked = [e for e in events if e.type is EventType.CUE_ACKNOWLEDGED]
    overrides = [e for e in events if e.type is EventType.OVERRIDE]
    end_at = state.ended_at
    return Report(
        session_id=info.id,
        room=info.room,
        preset_id=preset.id,
        preset_name=preset.name,
        preset_source=preset.source,
        client_label=info.client_label,
        started_at=iso(state.started_at) or "",
        ended_at=iso(end_at),
        dose_at=iso(dose),
        boosters_at=[iso(t) or "" for t in state.boosters_at],
        min_observation_min=preset.min_observation_min,
        min_observation_met=None if end_at is None or dose is None else end_at >= (state.min_observation_until or 0),
        ended_early_reason=str(overrides[-1].data.get("reason")) if overrides else None,
        phases=phases,
        cues_due=len(state.due_cues) + len(acked),
        cues_acknowledged=len(acked),
        notes=[
            {"at": iso(e.at) or "", "text": str(e.data.get("text", ""))} for e in events if e.type is EventType.NOTE
        ],
        timeline=[row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))],
    )


def report_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "since_dose", "kind", "name", "detail"])
    for row in report.timeline:
        writer.writerow([row.at, row.since_dose or "", row.kind, row.name, row.detail])
    return out.getvalue()
