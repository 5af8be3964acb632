"""The session report as an A4 PDF a clinic can file: summary, timeline chart, readings, every event.

ReportLab lays out the pages (tables that split across pages with their header repeated);
Matplotlib draws the chart. Both are imported here only, so the service starts without them
until a PDF is asked for. Rendering is CPU work: callers run it off the event loop.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from app.domain.report import Report
from app.domain.session import SessionState

if TYPE_CHECKING:
    from reportlab.platypus import Table, TableStyle

# Print colours: a grey scale with one accent, legible on a black-and-white printer.
_PHASE_GREYS = ["#f2f2f2", "#d9d9d9", "#bfbfbf", "#a6a6a6", "#8c8c8c", "#737373", "#595959", "#404040"]
_ACCENT = "#b22222"


def timeline_png(report: Report, state: SessionState, width_in: float = 7.2) -> bytes:
    """The chart: readings above; phases, music, doses, cues (on time, late, missed), panics and holds below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    start = state.started_at
    end = state.ended_at if state.ended_at is not None else state.now
    zero = state.dose_at if state.dose_at is not None else start

    def x(t: float) -> float:
        return (t - zero) / 60

    fig = Figure(figsize=(width_in, 3.6), dpi=200)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.4, 1.0], "hspace": 0.08})

    # Readings: blood pressure and heart rate on one axis (mmHg, bpm), SpO2 on the other (%).
    series = {
        "systolic_mmhg": ("Systolic", "-", "v"),
        "diastolic_mmhg": ("Diastolic", "-", "^"),
        "heart_rate_bpm": ("Heart rate", "--", "o"),
    }
    plotted = False
    for name, (label, style, marker) in series.items():
        points = [(x(r.t), r.values[name]) for r in report.readings if name in r.values]
        if points:
            xs, ys = zip(*points, strict=True)
            top.plot(xs, ys, style, marker=marker, markersize=3, linewidth=1, color="black", label=label)
            plotted = True
    spo2 = [(x(r.t), r.values["spo2_pct"]) for r in report.readings if "spo2_pct" in r.values]
    if spo2:
        twin = top.twinx()
        xs, ys = zip(*spo2, strict=True)
        twin.plot(xs, ys, ":", marker="s", markersize=3, linewidth=1, color=_ACCENT, label="SpO2 %")
        twin.set_ylim(80, 101)
        twin.set_ylabel("SpO2 %", fontsize=6, color=_ACCENT)
        twin.tick_params(labelsize=6, colors=_ACCENT)
        plotted = True
    top.set_ylabel("mmHg / bpm", fontsize=6)
    top.tick_params(labelsize=6)
    top.grid(True, linewidth=0.3, color="#cccccc")
    if plotted:
        handles, labels = top.get_legend_handles_labels()
        if spo2:
            handles.append(Line2D([], [], linestyle=":", marker="s", color=_ACCENT))
            labels.append("SpO2 %")
        top.legend(handles, labels, fontsize=5.5, loc="upper right", ncol=4, frameon=False)
    else:
        top.text(0.5, 0.5, "No readings recorded", transform=top.transAxes, ha="center", va="center", fontsize=7)

    # Lanes, top to bottom: phases, music, doses, cues, panic and hold.
    lanes = {"Phase": 4, "Music": 3, "Doses": 2, "Cues": 1, "Panic/hold": 0}
    for i, span in enumerate(report.phases):
        s = _epoch(span["start"])
        e = _epoch(span["end"]) if span.get("end") else end
        if s is None or e is None:
            continue
        colour = _PHASE_GREYS[i % len(_PHASE_GREYS)]
        bottom.barh(lanes["Phase"], x(e) - x(s), left=x(s), height=0.8, color=colour, edgecolor="black", linewidth=0.4)
        text_colour = "white" if i >= 4 else "black"
        bottom.text(
            x(s) + (x(e) - x(s)) / 2,
            lanes["Phase"],
            str(span["name"]),
            ha="center",
            va="center",
            fontsize=5,
            color=text_colour,
            clip_on=True,
        )
    for ph in state.phases:
        if ph.start is None or ph.status == "upcoming":
            continue
        e = ph.end if ph.end is not None and ph.status == "done" else end
        bottom.barh(
            lanes["Music"],
            x(e) - x(ph.start),
            left=x(ph.start),
            height=0.6,
            color="white",
            edgecolor="#555555",
            linewidth=0.4,
            hatch="////",
        )
        bottom.text(
            x(ph.start) + (x(e) - x(ph.start)) / 2,
            lanes["Music"],
            ph.music,
            ha="center",
            va="center",
            fontsize=4.5,
            clip_on=True,
        )
    for dose in report.doses:
        t = _epoch(dose.at)
        if t is not None:
            bottom.plot([x(t)], [lanes["Doses"]], marker="D", color="black", markersize=4)
            amount = "" if dose.amount is None else f"{dose.amount:g} {dose.unit or ''}"
            bottom.text(x(t), lanes["Doses"] + 0.3, ("booster " if dose.booster else "") + amount, fontsize=4.5)
    for device in report.devices:
        t = _epoch(device.at)
        if t is not None:
            bottom.plot([x(t)], [lanes["Doses"]], marker="|", color="black", markersize=6)
    markers = {
        "on_time": ("o", "black", "on time"),
        "late": ("^", _ACCENT, "late"),
        "missed": ("x", _ACCENT, "missed"),
        "due": ("s", "#777777", "due"),
    }
    for status, (marker, colour, label) in markers.items():
        cue_xs = [x(c.t) for c in report.cues if c.status == status]
        if cue_xs:
            bottom.plot(
                cue_xs,
                [lanes["Cues"]] * len(cue_xs),
                linestyle="none",
                marker=marker,
                color=colour,
                markersize=3.5,
                label=f"cue {label}",
            )
    for start_t, end_t, kind in _frozen_spans(report, end):
        colour = _ACCENT if kind == "panic" else "#999999"
        bottom.barh(lanes["Panic/hold"], x(end_t) - x(start_t), left=x(start_t), height=0.6, color=colour)
    bottom.set_yticks(list(lanes.values()), list(lanes.keys()), fontsize=6)
    bottom.set_ylim(-0.6, 4.6)
    bottom.tick_params(labelsize=6)
    bottom.grid(True, axis="x", linewidth=0.3, color="#cccccc")
    if any(c for c in report.cues):
        bottom.legend(fontsize=5, loc="lower right", ncol=4, frameon=False)
    bottom.set_xlim(x(start) - 2, x(end) + 2)
    bottom.set_xlabel("minutes since the dose" if state.dose_at is not None else "minutes since the start", fontsize=6)
    fig.subplots_adjust(left=0.1, right=0.93, top=0.97, bottom=0.12)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _epoch(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text).timestamp()


def _frozen_spans(report: Report, end: float) -> list[tuple[float, float, str]]:
    """(start, end, "panic"|"hold") from the event table."""
    spans: list[tuple[float, float, str]] = []
    open_: dict[str, float] = {}
    for row in report.timeline:
        t = _epoch(row.at)
        if t is None:
            continue
        if row.kind in ("panic", "hold") and row.kind not in open_:
            open_[row.kind] = t
        elif row.kind == "panic_cleared" and "panic" in open_:
            spans.append((open_.pop("panic"), t, "panic"))
        elif row.kind == "resume" and "hold" in open_:
            spans.append((open_.pop("hold"), t, "hold"))
    spans.extend((t, end, kind) for kind, t in open_.items())
    return spans


def report_pdf(report: Report, state: SessionState) -> bytes:
    """One or two A4 pages for a typical session; a long one continues its event table."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Flowable, Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["Normal"], fontSize=7, leading=8.5)
    cell = ParagraphStyle("cell", parent=small, fontSize=6.5, leading=7.6)
    h1 = ParagraphStyle("h1", parent=styles["Heading1"], fontSize=13, spaceAfter=2, spaceBefore=0)
    h2 = ParagraphStyle("h2", parent=styles["Heading2"], fontSize=9, spaceAfter=2, spaceBefore=5)

    def p(text: str, style: ParagraphStyle = small) -> Paragraph:
        return Paragraph(_escape(text), style)

    def at(text: str | None) -> str:
        # The report's times carry the clinic zone's offset; the page names the zone once instead.
        return "—" if not text else datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")

    label = report.client_label or "(no client label)"
    story: list[Flowable] = [
        p(f"Session report: {label}", h1),
        p(f"{report.preset_name} · room {report.room} · session {report.session_id}"),
        p(
            f"Started {at(report.started_at)} · ended {at(report.ended_at)} ({report.timezone}) · "
            f"source: {report.preset_source}"
        ),
    ]
    if report.intention:
        story.append(p(f"Intention: {report.intention}"))
    doses = "; ".join(_dose_text(d.booster, d.amount, d.unit, d.lot, d.devices, at(d.at)) for d in report.doses)
    devices = ", ".join(f"#{d.device} {at(d.at)[11:19]}" for d in report.devices)
    people = "; ".join(
        f"{f.name} {at(f.signed_in)[11:16]}–{at(f.signed_out)[11:16] if f.signed_out else 'end'}"
        for f in report.facilitators
    )
    summary = [
        ["Doses", doses or "none recorded"],
        *([["Devices", devices]] if devices else []),
        ["Facilitators", f"{people or 'none signed in'} (required: {report.facilitators_required})"],
        ["Minimum observation", f"{report.min_observation_basis or '—'}; met: {_yes(report.min_observation_met)}"],
        ["Ready to leave", at(report.ready_to_leave_at)],
        ["Fluids", f"{report.fluids_ml:g} ml recorded"],
        ["Alerts", f"{len(report.alerts)} raised, {sum(1 for a in report.alerts if a.acknowledged_at)} acknowledged"],
    ]
    if report.ended_early_reason:
        summary.append(["Ended early", report.ended_early_reason])
    table_style = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
        ]
    )
    story.append(
        Table([[p(k), p(v)] for k, v in summary], colWidths=[32 * mm, 148 * mm], style=table_style, hAlign="LEFT")
    )
    story += [p("Timeline", h2), Image(io.BytesIO(timeline_png(report, state)), width=180 * mm, height=90 * mm)]

    if report.readings:
        story.append(p("Readings", h2))
        rows = [[p(h, cell) for h in ("Time", "Since dose", "Check", "Readings", "By")]]
        rows += [
            [
                p(at(r.at)[11:19], cell),
                p(r.since_dose or "", cell),
                p(r.cue_id or "unscheduled", cell),
                p(r.text, cell),
                p(r.by or "", cell),
            ]
            for r in report.readings
        ]
        story.append(_table(rows, [16 * mm, 16 * mm, 28 * mm, 94 * mm, 26 * mm], table_style))
    if report.alerts:
        story.append(p("Alerts", h2))
        rows = [[p(h, cell) for h in ("Time", "Alert", "Acknowledged")]]
        rows += [
            [
                p(at(a.at)[11:19], cell),
                p(a.message, cell),
                p(
                    f"{at(a.acknowledged_at)[11:19]} by {a.acknowledged_by}"
                    if a.acknowledged_at
                    else "not acknowledged",
                    cell,
                ),
            ]
            for a in report.alerts
        ]
        story.append(_table(rows, [16 * mm, 124 * mm, 40 * mm], table_style))

    story.append(p("Every event", h2))
    rows = [[p(h, cell) for h in ("Time", "Since dose", "Event", "Detail", "By")]]
    rows += [
        [
            p(at(r.at)[11:19], cell),
            p(r.since_dose or "", cell),
            p(f"{r.kind} {r.name}".strip(), cell),
            p(r.detail, cell),
            p(r.by or "", cell),
        ]
        for r in report.timeline
    ]
    story.append(_table(rows, [16 * mm, 16 * mm, 36 * mm, 86 * mm, 26 * mm], table_style))
    story.append(Spacer(1, 3 * mm))
    made = datetime.now(ZoneInfo(report.timezone)).strftime("%Y-%m-%d %H:%M")
    story.append(p(f"Made by Arcroom at {made}. Times in {report.timezone}."))

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"Session report {label}",
        author="Arcroom",
    )
    doc.build(story)
    return out.getvalue()


def _table(rows: list[list[Any]], widths: list[float], style: TableStyle) -> Table:
    from reportlab.platypus import Table

    return Table(rows, colWidths=widths, style=style, repeatRows=1, hAlign="LEFT")


def _dose_text(
    booster: bool, amount: float | None, unit: str | None, lot: str | None, devices: int | None, at: str
) -> str:
    text = "booster" if booster else "dose"
    if amount is not None:
        text += f" {amount:g} {unit or ''}".rstrip()
    text += f" at {at}"
    if lot:
        text += f" (lot {lot})"
    if devices:
        text += f", {devices} devices"
    return text


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
