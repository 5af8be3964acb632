// The clinic overview: every room, its phase, panic state and due checks; refreshed every
// two seconds (one request for all rooms, rather than one event stream per room).

import { download, get, post, roomPath } from "./api.js";
import { fmtClock, fmtClockSeconds, fmtSpan, loadClinicZone, serverNow, syncServer } from "./clock.js";
import { learnNow, moveToAnother, panicElsewhere } from "./instances.js";
import { alertGroups, remsStatus } from "./record.js";
import { signIn } from "./signin.js";
import * as theme from "./theme.js";
import { $, el, setText, show, syncList } from "./ui.js";

const POLL_MS = 2000;
const OVERDUE_S = 10 * 60; // a check due this long ago is called overdue
const REMS_POLL_MS = 30000;
const PANIC_TIMEOUT_MS = 3000;
// With a standby: this long without an answer, and the page moves to an instance that answers.
const MOVE_AFTER_MS = 4000;
let rooms = [];
let fetchedAt = 0;
let lostSince = null;
let moving = false;

const STATUS = { arrival: "Before dose", running: "Running", held: "On hold", panic: "PANIC", ended: "Ended" };

const panicOf = (room) => room.panic.active;

function phaseLine(s, now) {
  if (!s) return "No session";
  const frozen = s.held || s.panic;
  const inPhase = s.time_in_phase_s + (frozen ? 0 : Math.max(0, now - s.now));
  return `${s.phase[0].toUpperCase()}${s.phase.slice(1)} · ${fmtSpan(inPhase)} in phase`;
}

function card(room) {
  const panicButton = el("button.danger.room-panic", { type: "button", "aria-label": `Panic in ${room.name}` }, "Panic");
  panicButton.addEventListener("click", () => firePanic(room, panicButton));
  return el("li.card.room-card", {},
    el("div.room-head", {}, el("h2", {}, el("span.room-name")), panicButton),
    el("p.room-state", { hidden: true }),
    el("p.room-phase"),
    el("div.room-meta"),
    el("ul.room-alerts"),
    el("p.room-panic-result", { role: "status" }),
    el("div.room-actions", {},
      el("a.button.primary.room-open", { href: `/?room=${encodeURIComponent(room.id)}` }, "Open room")));
}

async function firePanic(room, button) {
  const result = button.closest(".room-card").querySelector(".room-panic-result");
  button.disabled = true;
  try {
    let r;
    try {
      r = await post(roomPath(room.id, "/panic"), undefined, { timeoutMs: PANIC_TIMEOUT_MS });
    } catch (err) {
      // With a standby: the other instance lights the room (it does not wait for this one).
      const other = err.unreachable ? await panicElsewhere(roomPath(room.id, "/panic"), PANIC_TIMEOUT_MS) : null;
      if (!other) throw err;
      r = other.result;
    }
    result.textContent = `Panic sent${typeof r?.took_ms === "number" ? ` in ${Math.round(r.took_ms)} ms` : ""}.`;
  } catch (err) {
    result.textContent = `PANIC DID NOT GET THROUGH: ${err.message}`;
    result.setAttribute("role", "alert");
  } finally {
    button.disabled = false;
    poll();
  }
}

function update(node, room) {
  const s = room.session;
  const now = serverNow();
  const panic = panicOf(room);
  const due = s ? s.due_cues : [];
  const held = panic && room.panic.mode === "held";
  node.classList.toggle("is-panic", panic && !held);
  node.classList.toggle("is-held", held || (!!s && s.held && !panic));
  // In panic or held: a word and a shape of its own (a striped band), not only a colour.
  const state = node.querySelector(".room-state");
  const since = room.panic.since ? ` since ${fmtClock(room.panic.since)}` : "";
  state.textContent = held ? `Held after panic${since}: bright and quiet` : panic ? `⚠ PANIC${since}`
    : s?.held ? "On hold: the arc is paused" : "";
  show(state, !!state.textContent);
  node.classList.toggle("has-due", due.length > 0);
  node.querySelector(".room-name").textContent = room.name;
  node.querySelector(".room-phase").textContent = panic ? `PANIC · ${s ? s.phase : "no session"}` : phaseLine(s, now);
  const meta = [];
  if (s) {
    meta.push(el("span.chip", { text: STATUS[s.status] }));
    if (s.client_label) meta.push(el("span.chip", { text: s.client_label }));
    if (s.dose_at !== null) meta.push(el("span.chip", { text: `dose ${fmtClock(s.dose_at)}` }));
  }
  const lights = room.lighting.lights;
  const offline = lights.filter((l) => l.online === false).length;
  if (offline) meta.push(el("span.chip.chip-bad", { text: `${offline} light${offline > 1 ? "s" : ""} offline` }));
  if (!room.mqtt_connected) meta.push(el("span.chip.chip-bad", { text: "Light link down" }));
  node.querySelector(".room-meta").replaceChildren(...meta);
  // Open alerts (one line a reading, newest first), then the checks due, the overdue ones said so.
  const groups = s ? alertGroups(s.alerts) : [];
  const alertLines = groups.slice(0, 2).map((g) => el("li.room-alert", {
    text: `Alert ${fmtClock(g.at)}: ${g.alerts.map((a) => a.message.split(" (")[0]).join(" · ")}`,
  }));
  if (groups.length > 2) alertLines.push(el("li.room-alert", { text: `${groups.length - 2} more alerts` }));
  node.querySelector(".room-alerts").replaceChildren(...alertLines, ...due.map((c) => {
    const late = now - c.due_at;
    return late >= OVERDUE_S
      ? el("li.overdue", { text: `Overdue ${fmtSpan(late)}: ${c.label} (due ${fmtClock(c.due_at)})` })
      : el("li", { text: `Due: ${c.label} (${fmtClock(c.due_at)})` });
  }));
  node.classList.toggle("has-alerts", groups.length > 0);
  node.querySelector(".room-open").setAttribute("aria-label", `Open ${room.name}`);
}

function render() {
  const now = serverNow();
  setText("#clock", fmtClock(now));
  syncList($("#rooms"), rooms, (r) => r.id, card, update);
  const panics = rooms.filter(panicOf).length;
  const dueCount = rooms.reduce((n, r) => n + (r.session?.due_cues.length ?? 0), 0);
  const alertCount = rooms.reduce((n, r) => n + (r.session?.alerts.length ?? 0), 0);
  const sessions = rooms.filter((r) => r.session).length;
  setText("#summary", [`${rooms.length} room${rooms.length === 1 ? "" : "s"}`, `${sessions} in session`,
    panics ? `${panics} in PANIC` : null, alertCount ? `${alertCount} open alert${alertCount === 1 ? "" : "s"}` : null, dueCount ? `${dueCount} check${dueCount === 1 ? "" : "s"} due` : null]
    .filter(Boolean).join(" · "));
}

function setLive(isLive) {
  document.body.classList.toggle("disconnected", !isLive);
  show("#conn-banner", !isLive);
  if (!isLive) setText("#conn-since", fetchedAt ? `Last update ${fmtClockSeconds(fetchedAt)}.` : "");
  const chip = $("#conn-chip");
  chip.textContent = isLive ? "Live" : "Not live";
  chip.className = `chip ${isLive ? "chip-ok" : "chip-bad"}`;
}

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    rooms = await get("/api/rooms", { timeoutMs: 4000 });
    if (rooms.length) syncServer(rooms[0].now);
    fetchedAt = serverNow();
    lostSince = null;
    setLive(true);
    render();
  } catch (err) {
    if (err.status === 401) { location.reload(); return; }
    setLive(false);
    if (err.unreachable) {
      lostSince ??= Date.now();
      if (Date.now() - lostSince >= MOVE_AFTER_MS && !moving) {
        moving = true;
        moving = await moveToAnother();
      }
    }
  } finally {
    polling = false;
  }
}

/** Spravato sessions whose REMS form is not yet marked filed, with the days left of 7. */
async function pollRems() {
  let pending;
  try { pending = await get("/api/sessions?rems=pending", { timeoutMs: 8000 }); } catch { return; }
  show("#rems", pending.length > 0);
  setText("#rems-count", String(pending.length));
  syncList($("#rems-list"), pending, (x) => x.session_id, (x) => {
    const exportButton = el("button.secondary", { type: "button" }, "REMS export");
    exportButton.addEventListener("click", () => download(
      `/api/sessions/${encodeURIComponent(x.session_id)}/report?format=rems`, `rems-${x.session_id.slice(0, 8)}.json`)
      .catch((err) => { exportButton.title = err.message; }));
    const filed = el("button.primary", { type: "button" }, "Mark filed");
    filed.addEventListener("click", async () => {
      // Two taps: the record is append-only, and "filed" cannot be taken back.
      if (filed.dataset.armed !== "1") { filed.dataset.armed = "1"; filed.textContent = "Tap again: filed"; return; }
      filed.disabled = true;
      try { await post(`/api/sessions/${encodeURIComponent(x.session_id)}/rems/filed`, {}); } finally { pollRems(); }
    });
    return el("li.rems-item", {}, el("span.rems-what"), el("span.button-row", {}, exportButton, filed));
  }, (node, x) => {
    // The server lists only dosed sessions, so there is a date; remsStatus still words a record
    // without one as "no form due" rather than "null days left" styled overdue.
    const status = remsStatus(x.rems);
    const missing = x.rems.treatment_date && x.rems.missing.length ? ` · missing: ${x.rems.missing.join(", ")}` : "";
    const date = x.rems.treatment_date ? ` · ${x.rems.treatment_date}` : "";
    node.firstChild.textContent = `${x.client_label ?? "No label"} · ${x.room}${date} · ${status.text}${missing}`;
    node.classList.toggle("overdue", status.overdue);
  });
}

async function main() {
  theme.bindToggles();
  learnNow(); // first: where the other instances answer, if there is a standby (kept on the tablet)
  // Not awaited: the rooms and their PANIC buttons come first; times are redrawn every second.
  loadClinicZone();
  await signIn($("#signin"), () => { $("#topbar").hidden = true; $("#main").hidden = true; });
  $("#topbar").hidden = false;
  $("#main").hidden = false;
  await poll();
  setInterval(poll, POLL_MS);
  pollRems();
  setInterval(pollRems, REMS_POLL_MS);
  setInterval(learnNow, REMS_POLL_MS); // where the other instances answer, if there is a standby
  setInterval(() => { if (rooms.length) render(); }, 1000);
}

main();
