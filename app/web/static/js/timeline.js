// The session's arc on one line: phases, the music plan, the cues, and a now-marker.
// The drawing is for the eye; the "coming up" list beside it carries the same facts in text.

import { el, syncList } from "./ui.js";
import { fmtClock, fmtSpan } from "./clock.js";

const OPEN_ENDED_DRAW_S = 45 * 60; // how much of an open-ended last phase to draw

/** Phases with every start and end filled in for drawing (planned times where unknown). */
export function drawnPhases(session, now) {
  const last = session.phases.length - 1;
  let t = null;
  return session.phases.map((p, i) => {
    const start = p.start ?? t ?? now;
    let end = p.end;
    if (end === null || end === undefined) {
      // Open-ended: the current phase runs to now (the last one a little past it); an
      // upcoming open-ended phase gets a nominal width.
      if (p.status === "current") end = Math.max(now, start) + (i === last ? 15 * 60 : 0);
      else end = start + (p.duration_s ?? OPEN_ENDED_DRAW_S);
    }
    t = end;
    return { ...p, start, end, planned: p.start === null || p.start === undefined };
  });
}

/** Cue times from the preset's rules, as the service computes them (see domain/session.py). */
export function cueTimes(preset, session, until) {
  if (!preset?.cues) return [];
  const out = [];
  for (const rule of preset.cues) {
    const anchor = rule.anchor === "start" ? session.started_at : session.dose_at;
    if (anchor === null || anchor === undefined) continue;
    const horizon = (until - anchor) / 60;
    const offsets = new Set((rule.at_min || []).filter((t) => t <= horizon));
    if (rule.every_min) {
      const stop = Math.min(horizon, rule.until_min ?? horizon);
      for (let k = 1; rule.from_min + k * rule.every_min <= stop; k += 1) offsets.add(rule.from_min + k * rule.every_min);
    }
    for (const m of offsets) {
      out.push({ id: `${rule.id}@${Number(m.toFixed(6))}`, label: rule.label, kind: rule.kind, due_at: anchor + m * 60 });
    }
  }
  return out.sort((a, b) => a.due_at - b.due_at);
}

/** Consecutive tracks of the same segment, merged. */
export function musicBlocks(tracks) {
  const blocks = [];
  for (const t of [...tracks].sort((x, y) => x.start - y.start)) {
    const segment = t.segment ?? t.phase ?? "";
    const last = blocks[blocks.length - 1];
    if (last && last.segment === segment && t.start <= last.end + 1) {
      last.end = Math.max(last.end, t.end);
      last.count += 1;
    } else {
      blocks.push({ segment, start: t.start, end: t.end, count: 1 });
    }
  }
  return blocks;
}

function hourTicks(t0, t1) {
  const span = t1 - t0;
  const step = span > 8 * 3600 ? 7200 : span > 3 * 3600 ? 3600 : 1800;
  const ticks = [];
  const first = Math.ceil(t0 / step) * step;
  for (let t = first; t <= t1; t += step) ticks.push(t);
  return ticks;
}

/**
 * Draw into the timeline card. parts: {graph, nowMarker, upcoming, musicLane} elements.
 * Returns the range so the now-marker can be moved every second without redrawing.
 */
export function renderTimeline(parts, { session, preset, plan, now }) {
  const phases = drawnPhases(session, now);
  const t0 = session.started_at;
  let t1 = Math.max(now + 10 * 60, ...phases.map((p) => p.end));
  const tracks = plan?.tracks ?? null;
  if (tracks) t1 = Math.max(t1, ...tracks.map((t) => Math.min(t.end, t1)));
  const range = { t0, t1 };
  const lanePx = parts.phaseLane.clientWidth || 600;
  const narrow = (a, b) => ((Math.min(b, t1) - Math.max(a, t0)) / (t1 - t0)) * lanePx < 64;
  const pos = (t) => `${Math.max(0, Math.min(100, ((t - t0) / (t1 - t0)) * 100)).toFixed(3)}%`;
  const width = (a, b) => `${Math.max(0.2, ((Math.min(b, t1) - Math.max(a, t0)) / (t1 - t0)) * 100).toFixed(3)}%`;

  syncList(parts.phaseLane, phases, (p) => p.name, () => el("div.seg", {}, el("span.seg-label")), (node, p) => {
    node.className = `seg phase-${p.status}${p.planned ? " planned" : ""}${narrow(p.start, p.end) ? " narrow" : ""}`;
    node.style.left = pos(p.start);
    node.style.width = width(p.start, p.end);
    node.title = `${p.name} ${fmtClock(p.start)}–${p.status === "current" && !p.duration_s ? "open" : fmtClock(p.end)}`;
    node.firstChild.textContent = p.name;
  });

  parts.musicRow.hidden = !tracks || tracks.length === 0;
  if (tracks && tracks.length) {
    // One block per stretch of the same music segment (a plan has hundreds of tracks), and the
    // track playing now on top of it.
    const blocks = musicBlocks(tracks).filter((b) => b.end > t0 && b.start < t1);
    syncList(parts.musicLane, blocks, (b) => `${b.segment}@${b.start}`,
      () => el("div.seg.track", {}, el("span.seg-label")), (node, b) => {
        node.className = `seg track${b.end <= now ? " played" : ""}${narrow(b.start, b.end) ? " narrow" : ""}`;
        node.style.left = pos(b.start);
        node.style.width = width(b.start, b.end);
        node.title = `${b.segment} music: ${b.count} track${b.count === 1 ? "" : "s"}, ${fmtClock(b.start)}–${fmtClock(b.end)}`;
        node.firstChild.textContent = b.segment;
      });
    const playing = tracks.find((t) => t.start <= now && now < t.end);
    parts.musicNow.hidden = !playing;
    if (playing) {
      parts.musicNow.style.left = pos(playing.start);
      parts.musicNow.style.width = width(playing.start, playing.end);
      parts.musicNow.title = `${playing.title}${playing.artist ? ` — ${playing.artist}` : ""} (${playing.segment ?? playing.phase ?? ""}) ${fmtClock(playing.start)}`;
    }
  }

  const due = new Set((session.due_cues || []).map((c) => c.id));
  const cues = cueTimes(preset, session, t1).filter((c) => c.due_at >= now || due.has(c.id));
  (session.due_cues || []).forEach((c) => { if (!cues.some((x) => x.id === c.id)) cues.push(c); });
  syncList(parts.cueLane, cues, (c) => c.id, () => el("div.cue-mark", { "aria-hidden": "true" }), (node, c) => {
    node.className = `cue-mark${due.has(c.id) ? " due" : ""}${session.next_cue?.id === c.id ? " next" : ""}`;
    node.style.left = pos(c.due_at);
    node.title = `${c.label} ${fmtClock(c.due_at)}`;
  });

  syncList(parts.axis, hourTicks(t0, t1), (t) => t, () => el("span.tick"), (node, t) => {
    node.style.left = pos(t);
    node.textContent = fmtClock(t);
  });

  // "Coming up", in words: the next phase changes and cues, in time order.
  const coming = [];
  phases.filter((p) => p.status === "upcoming").forEach((p) => {
    coming.push({ key: `p-${p.name}`, at: p.start, text: `${p.name[0].toUpperCase()}${p.name.slice(1)} begins`, kind: "phase", planned: p.planned });
  });
  cues.filter((c) => !due.has(c.id)).forEach((c) => coming.push({ key: `c-${c.id}`, at: c.due_at, text: c.label, kind: "cue" }));
  coming.sort((a, b) => a.at - b.at);
  const next = coming.slice(0, 4);
  syncList(parts.upcoming, next, (x) => x.key, () => el("li", {}, el("time"), el("span")), (node, x) => {
    node.className = `coming-${x.kind}`;
    node.firstChild.textContent = x.planned && session.dose_at === null ? `dose +${fmtSpan(x.at - now)}` : fmtClock(x.at);
    node.lastChild.textContent = x.text;
  });
  parts.upcomingEmpty.hidden = next.length > 0;

  parts.graph.setAttribute("aria-label", `Session timeline from ${fmtClock(t0)}: ${phases.map((p) =>
    `${p.name} ${p.status === "done" ? "done" : p.status === "current" ? "now" : `from ${fmtClock(p.start)}`}`).join(", ")}.`);
  moveNow(parts, range, now);
  return range;
}

export function moveNow(parts, range, now) {
  if (!range) return;
  const pct = Math.max(0, Math.min(100, ((now - range.t0) / (range.t1 - range.t0)) * 100));
  parts.nowMarker.style.left = `${pct.toFixed(3)}%`;
}
