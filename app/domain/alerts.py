"""When the record itself calls for attention: a reading past a threshold, the fluid cap, too few facilitators.

An alert is advice, never a block: it is recorded as an event, shown until a facilitator
acknowledges it, and the facilitators decide what follows.
"""

from __future__ import annotations

from typing import Any

from app.domain.presets import Preset
from app.domain.readings import FIELDS


def reading_alerts(
    preset: Preset, values: dict[str, Any], dose_at: float | None, fluids_before_ml: float
) -> list[dict[str, Any]]:
    """The alerts one reading raises (the data of each alert event)."""
    alerts: list[dict[str, Any]] = []
    for rule in preset.thresholds:
        if (rule.when == "before_dose" and dose_at is not None) or (rule.when == "after_dose" and dose_at is None):
            continue
        value = values.get(rule.field)
        if value is None or not rule.crossed(value):
            continue
        spec = FIELDS[rule.field]
        shown = ("yes" if value else "no") if spec.type == "yes_no" else f"{value:g} {spec.unit}".rstrip()
        alerts.append(
            {
                "kind": "threshold",
                "field": rule.field,
                "value": value,
                "message": f"{rule.message} ({spec.label} {shown}: {rule.limit_text()}; source: {rule.source})",
            }
        )
    fluids = preset.fluids
    if fluids is not None and "fluid_ml" in values:
        total = fluids_before_ml + float(values["fluid_ml"])
        if total >= fluids.cap_ml:
            advice = f" {fluids.advice}" if fluids.advice else ""
            alerts.append(
                {
                    "kind": "fluids",
                    "field": "fluid_ml",
                    "value": total,
                    "message": f"Fluid intake {total:g} ml has reached the cap of {fluids.cap_ml:g} ml "
                    f"(source: {fluids.source}).{advice}",
                }
            )
    return alerts


def staffing_alert(preset: Preset, present: int, dose_at: float | None) -> dict[str, Any] | None:
    """From the dose on, fewer facilitators than the preset requires is an alert."""
    required = preset.facilitators_required
    if dose_at is None or present >= required:
        return None
    source = f" ({preset.facilitators_source})" if preset.facilitators_source else ""
    return {
        "kind": "facilitators",
        "value": present,
        "message": f"{present} of {required} facilitators present: this protocol asks for {required}{source}",
    }
