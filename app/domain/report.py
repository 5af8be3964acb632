"""The session report: what happened, when, relative to the dose, and who did it; as JSON or CSV rows.

The same content feeds the PDF (app/report_pdf.py): one `Report`, three formats.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from functools import partial
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from app.domain.events import Event, EventType
from app.domain.readings import FIELD_NAMES, format_values
from app.domain.session import ClinicalRecord, SessionInfo, SessionState, cue_views, phase_starts_of, replay

UTC_ZONE = ZoneInfo("UTC")
CueStatus = Literal["on_time", "late", "missed", "due"]


class ReportRow(BaseModel):
    at: str  # ISO 8601, in the report's timezone
    since_dose: str | None  # signed h:mm:ss
    kind: str  # event type, "phase" or "cue"
    name: str
    detail: str
    by: str | None = None  # who gave the command (the token's name); None for what the clock did
    seq: int | None = None  # the event's place in the log (None for a phase)


class DoseRow(BaseModel):
    at: str
    since_dose: str | None
    booster: bool
    amount: float | None
    unit: str | None
    lot: str | None
    devices: int | None
    by: str | None


class DeviceRow(BaseModel):
    device: int
    at: str
    since_first_s: float
    by: str | None


class ReadingRow(BaseModel):
    seq: int
    t: float  # epoch seconds, for charts
    at: str
    since_dose: str | None
    cue_id: str | None  # None: unscheduled
    kind: str | None
    values: dict[str, Any]
    text: str
    by: str | None


class AlertRow(BaseModel):
    id: str
    t: float
    at: str
    kind: str
    message: str
    acknowledged_at: str | None
    acknowledged_by: str | None


class PresenceRow(BaseModel):
    name: str
    signed_in: str
    signed_out: str | None
    signed_in_by: str | None


class CueRow(BaseModel):
    id: str
    label: str
    kind: str
    t: float
    due_at: str
    acknowledged_at: str | None
    status: CueStatus
    by: str | None


class Report(BaseModel):
    session_id: str
    room: str
    preset_id: str
    preset_name: str
    preset_source: str
    client_label: str | None
    intention: str | None = None
    started_at: str
    ended_at: str | None
    dose_at: str | None
    boosters_at: list[str]
    min_observation_min: float
    min_observation_met: bool | None
    ended_early_reason: str | None
    min_observation_basis: str | None = None
    phases: list[dict[str, str | float | None]]
    cues_due: int
    cues_acknowledged: int
    notes: list[dict[str, str]]
    doses: list[DoseRow] = []
    devices: list[DeviceRow] = []
    facilitators: list[PresenceRow] = []
    facilitators_required: int = 1
    readings: list[ReadingRow] = []
    fluids_ml: float = 0.0
    alerts: list[AlertRow] = []
    cues: list[CueRow] = []
    ready_to_leave_at: str | None = None
    rems_form: bool = False
    timezone: str = "UTC"  # the zone of every time above (IANA name): the clinic's, ARCROOM_TIMEZONE
    timeline: list[ReportRow]


def iso(t: float | None, tz: tzinfo = UTC) -> str | None:
    """ISO 8601 with the zone's offset: the clinic's wall-clock time, and still one instant."""
    return None if t is None else datetime.fromtimestamp(t, tz).isoformat(timespec="seconds")


def clock_offset(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    s = round(abs(seconds))
    return f"{sign}{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def build_report(
    info: SessionInfo,
    events: Sequence[Event],
    now: float,
    state: SessionState | None = None,
    tz: ZoneInfo = UTC_ZONE,
) -> Report:
    """The report, its times in the clinic's zone `tz` (ARCROOM_TIMEZONE)."""
    state = state or replay(info, events, now)
    at = partial(iso, tz=tz)
    preset = info.preset
    dose = state.dose_at

    def since(t: float) -> str | None:
        return None if dose is None else clock_offset(t - dose)

    rows: list[tuple[float, int, ReportRow]] = []
    for e in events:
        rows.append(
            (
                e.at,
                1,
                ReportRow(
                    at=at(e.at) or "",
                    since_dose=since(e.at),
                    kind=e.type.value,
                    name=str(e.data.get("cue_id") or e.data.get("phase") or e.data.get("name") or ""),
                    detail=_detail(e),
                    by=e.data.get("by"),
                    seq=e.seq,
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
                "start": at(span.start),
                "end": at(end),
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
                    at=at(span.start) or "",
                    since_dose=since(span.start),
                    kind="phase",
                    name=span.name,
                    detail=f"scene={span.scene}, music={span.music}",
                ),
            )
        )
    acked = [e for e in events if e.type is EventType.CUE_ACKNOWLEDGED]
    overrides = [e for e in events if e.type is EventType.OVERRIDE and e.data.get("rule") == "min_observation"]
    end_at = state.ended_at
    record = _record(info, events, state, since, tz)
    return Report(
        session_id=info.id,
        room=info.room,
        preset_id=preset.id,
        preset_name=preset.name,
        preset_source=preset.source,
        client_label=info.client_label,
        intention=state.intention,
        started_at=at(state.started_at) or "",
        ended_at=at(end_at),
        dose_at=at(dose),
        boosters_at=[at(t) or "" for t in state.boosters_at],
        min_observation_min=(
            preset.min_observation_min
            if dose is None or state.min_observation_until is None
            else round((state.min_observation_until - dose) / 60, 1)
        ),
        min_observation_met=None if end_at is None or dose is None else end_at >= (state.min_observation_until or 0),
        ended_early_reason=str(overrides[-1].data.get("reason")) if overrides else None,
        min_observation_basis=state.min_observation_basis,
        phases=phases,
        cues_due=len(state.due_cues) + len(acked),
        cues_acknowledged=len(acked),
        notes=[{"at": at(e.at) or "", "text": str(e.data.get("text", ""))} for e in events if e.type is EventType.NOTE],
        facilitators_required=preset.facilitators_required,
        fluids_ml=state.fluids_ml,
        ready_to_leave_at=at(state.ready_to_leave_at),
        rems_form=preset.rems_form,
        timezone=tz.key,
        timeline=[row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))],
        **record,
    )


def _detail(e: Event) -> str:
    data = {k: v for k, v in e.data.items() if k != "by" and v is not None}
    if e.type is EventType.READING:
        values = format_values(dict(data.pop("values", {})))
        rest = ", ".join(f"{k}={v}" for k, v in data.items())
        return f"{values}; {rest}" if rest else values
    if e.type in (EventType.DOSE_GIVEN, EventType.BOOSTER_GIVEN) and isinstance(data.get("amount"), int | float):
        amount = data.pop("amount")
        first = f"{amount:g} {data.pop('unit', '')}".rstrip()
        return ", ".join([first, *(f"{k}={v}" for k, v in data.items())])
    return ", ".join(f"{k}={v}" for k, v in data.items())


def _record(
    info: SessionInfo, events: Sequence[Event], state: SessionState, since: Any, tz: ZoneInfo
) -> dict[str, Any]:
    """The clinical parts of the report: doses, devices, presence, readings, alerts and every cue's outcome."""
    at = partial(iso, tz=tz)
    doses, devices, readings, alerts = [], [], [], {}
    presence: list[PresenceRow] = []
    acks: dict[str, Event] = {}
    first_device: float | None = None
    for e in events:
        d, by = e.data, e.data.get("by")
        match e.type:
            case EventType.DOSE_GIVEN | EventType.BOOSTER_GIVEN:
                amount = d.get("amount")
                doses.append(
                    DoseRow(
                        at=at(e.at) or "",
                        since_dose=since(e.at),
                        booster=e.type is EventType.BOOSTER_GIVEN,
                        amount=amount if isinstance(amount, int | float) else None,
                        unit=d.get("unit"),
                        lot=d.get("lot"),
                        devices=d.get("devices"),
                        by=by,
                    )
                )
            case EventType.DEVICE_GIVEN:
                first_device = e.at if first_device is None else first_device
                devices.append(
                    DeviceRow(
                        device=int(d.get("device", 0)), at=at(e.at) or "", since_first_s=e.at - first_device, by=by
                    )
                )
            case EventType.READING:
                values = dict(d.get("values", {}))
                readings.append(
                    ReadingRow(
                        seq=e.seq,
                        t=e.at,
                        at=at(e.at) or "",
                        since_dose=since(e.at),
                        cue_id=d.get("cue_id"),
                        kind=d.get("kind"),
                        values=values,
                        text=format_values(values),
                        by=by,
                    )
                )
            case EventType.ALERT:
                alerts[f"a{e.seq}"] = AlertRow(
                    id=f"a{e.seq}",
                    t=e.at,
                    at=at(e.at) or "",
                    kind=str(d.get("kind")),
                    message=str(d.get("message")),
                    acknowledged_at=None,
                    acknowledged_by=None,
                )
            case EventType.ALERT_ACKNOWLEDGED:
                if (alert := alerts.get(str(d.get("alert_id")))) is not None and alert.acknowledged_at is None:
                    alert.acknowledged_at = at(e.at)
                    alert.acknowledged_by = d.get("facilitator") or by
            case EventType.FACILITATOR_SIGNED_IN:
                presence.append(
                    PresenceRow(name=str(d["name"]), signed_in=at(e.at) or "", signed_out=None, signed_in_by=by)
                )
            case EventType.FACILITATOR_SIGNED_OUT:
                for row in reversed(presence):
                    if row.name == d["name"] and row.signed_out is None:
                        row.signed_out = at(e.at)
                        break
            case EventType.CUE_ACKNOWLEDGED:
                acks.setdefault(str(d.get("cue_id")), e)
            case _:
                pass
    return {
        "doses": doses,
        "devices": devices,
        "facilitators": presence,
        "readings": readings,
        "alerts": list(alerts.values()),
        "cues": _cue_rows(info, events, state, acks, tz),
    }


def _cue_rows(
    info: SessionInfo, events: Sequence[Event], state: SessionState, acks: dict[str, Event], tz: ZoneInfo
) -> list[CueRow]:
    """Every cue that fell due, on time (acknowledged within the preset's grace), late, missed or still due."""
    at = partial(iso, tz=tz)
    record = ClinicalRecord.of(events)  # the same fold the state uses: the devices planned, the readings
    until = state.ended_at if state.ended_at is not None else state.now
    grace_s = info.preset.cue_late_after_min * 60
    views = cue_views(
        info.preset,
        state.started_at,
        state.dose_at,
        record.devices_planned,
        {k: e.at for k, e in acks.items()},
        record.readings,
        until=until,
        devices_given=record.devices,
        phase_starts=phase_starts_of(state.phases),
    )
    rows = []
    for c in views:
        ack = acks.get(c.id)
        status: CueStatus
        if ack is not None:
            status = "on_time" if ack.at - c.due_at <= grace_s else "late"
        else:
            status = "missed" if state.ended_at is not None else "due"
        rows.append(
            CueRow(
                id=c.id,
                label=c.label,
                kind=c.kind,
                t=c.due_at,
                due_at=at(c.due_at) or "",
                acknowledged_at=at(ack.at) if ack else None,
                status=status,
                by=ack.data.get("by") if ack else None,
            )
        )
    return rows


READING_COLUMNS = [f for f in FIELD_NAMES if f != "note"]


def report_csv(report: Report) -> str:
    """The full event table, with who did each thing and, on reading rows, each value in a column of its own."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "since_dose", "kind", "name", "detail", "by", *READING_COLUMNS])
    values = {r.seq: r.values for r in report.readings}
    for row in report.timeline:
        cells = [""] * len(READING_COLUMNS)
        if row.kind == EventType.READING.value:
            v = values.get(row.seq or -1, {})
            cells = [_cell(v.get(f)) for f in READING_COLUMNS]
        writer.writerow([row.at, row.since_dose or "", row.kind, row.name, row.detail, row.by or "", *cells])
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
