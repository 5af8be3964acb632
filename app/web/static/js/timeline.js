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
    const segment = t.segment;
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

const TICK_STEPS_S = [1800, 3600, 7200, 10800, 14400, 21600];

/** Clock ticks far enough apart for their labels at this width, none hanging off either end. */
function axisTicks(t0, t1, lanePx, labelPx) {
  const span = t1 - t0;
  const step = TICK_STEPS_S.find((s) => (s / span) * lanePx >= labelPx + 28) ?? TICK_STEPS_S[TICK_STEPS_S.length - 1];
  const ticks = [];
  const margin = ((labelPx / 2 + 2) / lanePx) * span;
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    if (t - t0 >= margin && t1 - t >= margin) ticks.push(t);
  }
  return ticks;
}

let measurer = null;
/** Width in px of `text` in the font of `node`, set bold (the current phase's label is). */
function textPx(text, node) {
  measurer ??= document.createElement("canvas").getContext("2d");
  const cs = getComputedStyle(node);
  measurer.font = `700 ${cs.fontSize} ${cs.fontFamily}`;
  return measurer.measureText(text).width;
}

/**
 * Where each phase's name goes: inside its segment when it fits, else abbreviated inside, else
 * above the lane (a callout) on the first of two rows where it overlaps no other callout.
 */
function placeLabels(phases, px, probe, lanePx) {
  const rowEnds = [-Infinity, -Infinity];
  return phases.map((p) => {
    const { left, width } = px(p.start, p.end);
    const full = p.name;
    const abbr = full.length > 4 ? `${full.slice(0, 3)}.` : full;
    // 6 px padding either side and a 2 px border: the room a label has inside its segment.
    if (textPx(full, probe) + 16 <= width) return { inside: full };
    if (textPx(abbr, probe) + 16 <= width) return { inside: abbr };
    for (const text of [full, abbr]) {
      const w = textPx(text, probe) + 10;
      for (const row of [0, 1]) {
        const at = Math.min(Math.max(left, rowEnds[row] + 6), lanePx - w);
        if (at >= rowEnds[row] + 6 && at >= 0) {
          rowEnds[row] = at + w;
          return { inside: "", callout: text, at, row };
        }
      }
    }
    return { inside: "", callout: "", at: 0, row: 0 }; // no room anywhere: the segment's title still names it
  });
}

/**
 * Draw a timeline. parts: {graph, phaseLane, callouts, cueLane, axis, nowMarker} elements, and for
 * the full one also {musicRow, musicLane, musicNow, upcoming, upcomingEmpty}.
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
  const px = (a, b) => ({
    left: ((Math.max(a, t0) - t0) / (t1 - t0)) * lanePx,
    width: ((Math.min(b, t1) - Math.max(a, t0)) / (t1 - t0)) * lanePx,
  });

  syncList(parts.phaseLane, phases, (p) => p.name, () => el("div.seg", {}, el("span.seg-label")), () => {});
  const probe = parts.phaseLane.querySelector(".seg-label") ?? parts.phaseLane;
  const labels = placeLabels(phases, px, probe, lanePx);
  syncList(parts.phaseLane, phases, (p) => p.name, () => el("div.seg", {}, el("span.seg-label")), (node, p) => {
    const label = labels[phases.indexOf(p)];
    node.className = `seg phase-${p.status}${p.planned ? " planned" : ""}${label.inside ? "" : " outside"}`;
    node.style.left = pos(p.start);
    node.style.width = width(p.start, p.end);
    node.title = `${p.name} ${fmtClock(p.start)}–${p.status === "current" && !p.duration_s ? "open" : fmtClock(p.end)}`;
    node.dataset.phase = p.name;
    node.firstChild.textContent = label.inside || p.name;
  });
  const callouts = phases.map((p, i) => ({ p, ...labels[i] })).filter((x) => x.callout);
  syncList(parts.callouts, callouts, (x) => x.p.name, () => el("span.callout"), (node, x) => {
    node.className = `callout row-${x.row}${x.p.status === "current" ? " current" : ""}`;
    node.style.left = `${x.at.toFixed(1)}px`;
    node.textContent = x.callout;
  });
  parts.callouts.classList.toggle("two-rows", callouts.some((x) => x.row === 1));
  parts.graph.classList.toggle("has-callouts", callouts.length > 0);

  if (parts.musicRow) parts.musicRow.hidden = !tracks || tracks.length === 0;
  if (parts.musicRow && tracks && tracks.length) {
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
      parts.musicNow.title = `${playing.title}${playing.artist ? ` — ${playing.artist}` : ""} (${playing.segment}) ${fmtClock(playing.start)}`;
    }
  }

  const due = new Set(session.due_cues.map((c) => c.id));
  const cues = cueTimes(preset, session, t1).filter((c) => c.due_at >= now || due.has(c.id));
  session.due_cues.forEach((c) => { if (!cues.some((x) => x.id === c.id)) cues.push(c); });
  syncList(parts.cueLane, cues, (c) => c.id, () => el("div.cue-mark", { "aria-hidden": "true" }), (node, c) => {
    node.className = `cue-mark${due.has(c.id) ? " due" : ""}${session.next_cue?.id === c.id ? " next" : ""}`;
    node.style.left = pos(c.due_at);
    node.title = `${c.label} ${fmtClock(c.due_at)}`;
  });

  const labelPx = textPx("00:00", parts.axis.querySelector(".tick") ?? parts.axis);
  syncList(parts.axis, axisTicks(t0, t1, lanePx, labelPx), (t) => t, () => el("span.tick"), (node, t) => {
    node.style.left = pos(t);
    node.textContent = fmtClock(t);
  });

  parts.graph.setAttribute("aria-label", `Session timeline from ${fmtClock(t0)}: ${phases.map((p) =>
    `${p.name} ${p.status === "done" ? "done" : p.status === "current" ? "now" : `from ${fmtClock(p.start)}`}`).join(", ")}.`);
  moveNow(parts, range, now);
  if (!parts.upcoming) return range;

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
  return range;
}

export function moveNow(parts, range, now) {
  if (!range) return;
  const pct = Math.max(0, Math.min(100, ((now - range.t0) / (range.t1 - range.t0)) * 100));
  parts.nowMarker.style.left = `${pct.toFixed(3)}%`;
}
