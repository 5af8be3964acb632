"""The Spravato REMS Patient Monitoring Form's session fields, from a session's record.

The form (one per treatment session, filed within 7 days) asks: treatment date; dose (56 mg,
84 mg or other) and lot; the total time from the first device to the completion of monitoring;
when the patient would have been ready to leave without the 2-hour minimum; whether vital
signs were in an acceptable range before administration and before completion; blood
pressure before administration, 40 min after it and before completion; and whether the
patient had sedation, dissociation or respiratory depression. The patient's identity, the
medications, the provider and the setting are the clinic's own sections: Arcroom holds a
client label only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from app.domain.events import Event, EventType
from app.domain.presets import Preset
from app.domain.readings import blood_pressure
from app.domain.report import Report, iso

DUE_DAYS = 7
# The reading nearest to 40 min after the first device counts as "40 mins post-administration",
# if it is within this window (the label says "about 40 minutes").
FORTY_MIN_WINDOW = (30.0, 55.0)


class BloodPressure(BaseModel):
    value: str  # "128/82" mmHg
    at: str
    min_after_first_device: float | None


class RemsForm(BaseModel):
    session_id: str
    client_label: str | None
    treatment_date: str | None  # YYYY-MM-DD of the first device, in the clinic's zone
    timezone: str  # the zone of the date and of every time here (the report's, ARCROOM_TIMEZONE)
    dose_administered: str | None  # "56 mg", "84 mg" or "other: 28 mg"
    dose_mg: float | None
    lot_number: str | None
    devices: list[str]  # when each device was given
    treatment_duration_min: float | None  # first device to the completion of monitoring (the session's end)
    ready_to_leave_min: float | None  # from the start of administration
    vitals_acceptable_before_administration: bool | None
    vitals_acceptable_before_completion: bool | None
    bp_before_administration: BloodPressure | None
    bp_40_min: BloodPressure | None
    bp_before_completion: BloodPressure | None
    sedation: bool | None
    dissociation: bool | None
    respiratory_depression: bool | None
    lowest_spo2_pct: float | None
    monitored_by: list[str]
    missing: list[str]  # the form's fields the record cannot fill yet
    due_by: str | None  # 7 days after the treatment
    days_left: int | None
    filed_at: str | None
    filed_by: str | None


def rems_form(report: Report, preset: Preset, events: Sequence[Event], now: float) -> RemsForm:
    """The form's fields from a session's report and events, as of `now`, in the report's time zone.

    The treatment date is the clinic's calendar date: a session at 8 pm in New York is filed under
    that day, not under tomorrow's date in UTC.
    """
    tz = ZoneInfo(report.timezone)
    dose = next((d for d in report.doses if not d.booster), None)
    first_event = next((e for e in events if e.type is EventType.DOSE_GIVEN), None)
    first = first_event.at if first_event else None
    ended = next((e.at for e in events if e.type is EventType.ENDED), None)
    ready = next((e.at for e in events if e.type is EventType.READY_TO_LEAVE), None)
    filed = next((e for e in events if e.type is EventType.REMS_FILED), None)

    bps = [r for r in report.readings if blood_pressure(r.values)]

    def bp(row_t: float, values: dict[str, object]) -> BloodPressure:
        return BloodPressure(
            value=blood_pressure(values) or "",
            at=iso(row_t, tz) or "",
            min_after_first_device=None if first is None else round((row_t - first) / 60, 1),
        )

    first_seq = first_event.seq if first_event else None
    # Before the dose in the log's order: a reading taken in the same second as the dose still counts.
    before = [r for r in bps if first_seq is None or r.seq < first_seq]
    bp_before = bp(before[-1].t, before[-1].values) if before and first is not None else None
    near_40 = [r for r in bps if first is not None and FORTY_MIN_WINDOW[0] <= (r.t - first) / 60 <= FORTY_MIN_WINDOW[1]]
    bp_40 = None
    if near_40 and first is not None:
        best = min(near_40, key=lambda r: abs((r.t - first) / 60 - 40))
        bp_40 = bp(best.t, best.values)
    completion = ended if ended is not None else None
    late = [r for r in bps if first is not None and r.t > first + FORTY_MIN_WINDOW[1] * 60]
    if completion is not None:
        late = [r for r in late if r.t <= completion]
    bp_done = bp(late[-1].t, late[-1].values) if late and completion is not None else None

    def any_yes(name: str) -> bool | None:
        answers = [r.values[name] for r in report.readings if name in r.values]
        return None if not answers else any(answers)

    spo2 = [float(r.values["spo2_pct"]) for r in report.readings if "spo2_pct" in r.values]
    # Before dosing, "acceptable" is the preset's pre-dose thresholds: a reading past one raised an alert.
    acceptable_before = None
    if before and first_seq is not None:
        acceptable_before = not any(int(a.id[1:]) < first_seq for a in report.alerts if a.kind == "threshold")
    # Before completion, "acceptable" is "settled" by the rule the until-settled cue repeats on, not
    # the after-dose alert limits (180/110): a reading the preset would check again is not acceptable.
    # With no such rule in the preset it cannot be derived, and the form lists it as missing.
    acceptable_done = None
    settled = preset.settled_rules
    if late and bp_done is not None and settled:
        acceptable_done = not any(rule.above(late[-1].values) for rule in settled)

    amount = dose.amount if dose else None
    due = None if first is None else first + DUE_DAYS * 86400
    form = RemsForm(
        session_id=report.session_id,
        client_label=report.client_label,
        treatment_date=None if first is None else (iso(first, tz) or "")[:10],
        timezone=report.timezone,
        dose_administered=None
        if amount is None
        else (f"{amount:g} mg" if amount in (56, 84) else f"other: {amount:g} mg"),
        dose_mg=amount,
        lot_number=dose.lot if dose else None,
        devices=[d.at for d in report.devices],
        treatment_duration_min=None if first is None or completion is None else round((completion - first) / 60, 1),
        ready_to_leave_min=None if first is None or ready is None else round((ready - first) / 60, 1),
        vitals_acceptable_before_administration=acceptable_before,
        vitals_acceptable_before_completion=acceptable_done,
        bp_before_administration=bp_before,
        bp_40_min=bp_40,
        bp_before_completion=bp_done,
        sedation=any_yes("sedation"),
        dissociation=any_yes("dissociation"),
        respiratory_depression=any_yes("respiratory_depression"),
        lowest_spo2_pct=min(spo2) if spo2 else None,
        monitored_by=sorted({f.name for f in report.facilitators}),
        missing=[],
        due_by=iso(due, tz),
        days_left=None if due is None else math.ceil((due - now) / 86400),
        filed_at=iso(filed.at, tz) if filed else None,
        filed_by=filed.data.get("by") if filed else None,
    )
    form.missing = [
        name
        for name in (
            "dose_administered",
            "lot_number",
            "treatment_duration_min",
            "ready_to_leave_min",
            "vitals_acceptable_before_administration",
            "vitals_acceptable_before_completion",
            "bp_before_administration",
            "bp_40_min",
            "bp_before_completion",
            "sedation",
            "dissociation",
            "respiratory_depression",
        )
        if getattr(form, name) is None
    ]
    return form
