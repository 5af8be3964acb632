// The room view: sign in, pick the room, follow its live state (GET /state and the event
// stream, both a RoomView), and act on it.

import { api, auth, get, onUnauthorized, post, roomPath, streamUrl } from "./api.js";
import { fmtClock, fmtClockSeconds, fmtSpan, fmtTimer, loadClinicZone, serverNow, syncServer } from "./clock.js";
import { bindMusicControls, renderMusicControls } from "./music.js";
import { bindPanic } from "./panic.js";
import { formFor, loadFields, readingForm, remsStatus, renderAlerts, renderFacilitators, reportButtons } from "./record.js";
import { hasPin, lock, signIn, signOut } from "./signin.js";
import { RoomStream } from "./stream.js";
import * as theme from "./theme.js";
import { moveNow, renderTimeline } from "./timeline.js";
import { $, $$, act, closeDialog, confirmDialog, dialogOpen, el, setText, show, syncList, toast } from "./ui.js";
import { keepAwake, onWakeStatus, wakeStatus } from "./wakelock.js";

const ROOM_KEY = "arcroom.room";
const VOLUME_STEP_PCT = 5; // one tap on - or +
const VOLUME_SETTLE_MS = 400; // taps this close together make one change
const BRIGHTNESS_FADE_S = 3;
const DARK_ROOM_PCT = 10; // auto display: extra dim while every light of a session's room is at or below this

let roomId = new URLSearchParams(location.search).get("room") || localStorage.getItem(ROOM_KEY);
let view = null; // the last RoomView
let stream = null;
let live = false;
let range = null; // the full timeline's time range, for moving the now-marker
let miniRange = null; // the same for the room view's small one
let tab = "now";
let panicSent = null; // the service's answer to this tablet's panic tap, while that panic lasts
let panicControl = null;
const cache = { preset: null, presetId: null, plan: null, planKey: null, scenes: null, notesKey: null, notes: [],
  recentKey: null, openCue: null, readingKey: null };

const timelineParts = () => ({
  graph: $("#timeline"), phaseLane: $("#lane-phases"), callouts: $("#phase-callouts"), musicLane: $("#lane-music"),
  musicRow: $("#music-row"), musicNow: $("#music-now"), cueLane: $("#lane-cues"), axis: $("#axis"),
  nowMarker: $("#now-marker"), upcoming: $("#coming-up"), upcomingEmpty: $("#coming-none"),
});
const miniParts = () => ({
  graph: $("#mini-timeline"), phaseLane: $("#mini-phases"), callouts: $("#mini-callouts"), cueLane: $("#mini-cues"),
  axis: $("#mini-axis"), nowMarker: $("#mini-now"),
});

// --- start-up -----------------------------------------------------------------------------------

async function main() {
  theme.bindToggles();
  registerServiceWorker();
  const panicButton = $("#panic");
  panicControl = bindPanic(panicButton, $("#panic-result"), {
    room: () => roomId, isLive: () => live, onSent: onPanicSent,
  });
  // Not awaited: nothing on the way to a working PANIC waits for it; times are redrawn when it comes.
  loadClinicZone().then(render);

  const access = await signIn($("#signin"), (screen) => {
    showFrame(false);
    // On the lock screen the token is still here: the panic button stays. With no connection
    // it stays too, and says that it did not get through.
    panicButton.hidden = !((screen === "pin" || screen === "unreachable") && roomId);
  });
  onUnauthorized(() => { stream?.stop(); location.reload(); });

  show("#signout-button", access !== "open");
  show("#lock-button", access !== "open" && hasPin());
  // Signing out leaves this tablet without PANIC until a token is typed again: asked first (Lock keeps PANIC).
  $("#signout-button").addEventListener("click", () => confirmDialog({
    title: "Sign this tablet out?",
    message: "It will have no PANIC button until someone signs in again with an access token."
      + (hasPin() ? " To step away, Lock it instead: PANIC stays on the lock screen." : ""),
    confirmLabel: "Sign out",
    danger: true,
    onConfirm: () => { signOut(); location.reload(); },
  }));
  $("#lock-button").addEventListener("click", () => { if (lock()) location.reload(); });

  let rooms;
  try {
    rooms = await get("/api/rooms");
  } catch (err) {
    toast(`Could not load the rooms: ${err.message}`, { kind: "error", timeoutMs: 0 });
    return;
  }
  showFrame(true);
  if (!roomId || !rooms.some((r) => r.id === roomId)) {
    if (rooms.length === 1) roomId = rooms[0].id;
    else { pickRoom(rooms); return; }
  }
  localStorage.setItem(ROOM_KEY, roomId);
  panicButton.hidden = false;
  show("#tabs", true);
  setText("#panic-room", ` in ${rooms.find((r) => r.id === roomId).name}`);
  bindControls();
  bindTabs();
  onWakeStatus(showWake);
  onState(rooms.find((r) => r.id === roomId));
  loadScenes();
  loadPresets();
  loadFields().then(render).catch(() => {});
  loadQuickNotes();
  stream = new RoomStream(() => streamUrl(roomId), {
    state: onState, phase: onPhase, cue: onCue, alert: onAlert, status: onLink,
    // The stream is down but the service answers: keep the screen current by plain requests
    // meanwhile (a refused token shows up here as a 401, which leads back to sign-in).
    quiet: () => get(roomPath(roomId, "/state"), { timeoutMs: 3000 }).then(onState).catch(() => {}),
  });
  stream.start();
  setInterval(tick, 1000);
  const redraw = new ResizeObserver(() => drawTimeline());
  redraw.observe($("#lane-phases"));
  redraw.observe($("#mini-phases"));
}

function showFrame(visible) {
  $("#topbar").hidden = !visible;
  $(".top-actions").hidden = !visible;
  $("#main").hidden = !visible;
}

function registerServiceWorker() {
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("/sw.js").catch(() => { /* the dashboard works without it */ });
  }
}

function pickRoom(rooms) {
  show("#room-picker", true);
  setText("#room-name", "Arcroom");
  syncList($("#picker-list"), rooms, (r) => r.id, (r) => el("li", {},
    el("a.button.primary.big", { href: `/?room=${encodeURIComponent(r.id)}`, onclick: () => localStorage.setItem(ROOM_KEY, r.id) },
      r.name)), () => {});
}

// --- live state ---------------------------------------------------------------------------------

function onState(next) {
  if (!next || next.id !== roomId) return;
  const before = view;
  view = next;
  syncServer(next.now);
  const session = next.session;
  if (before && before.session?.session_id !== session?.session_id) sessionChanged(before.session, session);
  if (before && !before.panic.active && next.panic.active) closeDialog(null); // the panic comes first
  theme.setRoomDark(roomIsDark(next));
  keepAwake(!!session);
  render();
  if (session) {
    refreshPreset(session.preset_id);
    refreshPlan(session);
    refreshNotes(session);
  } else {
    refreshRecent();
  }
}

/** A session ended or began: nothing of the last one stays on screen. */
function sessionChanged(previous, current) {
  if (previous) {
    $("#status-region").replaceChildren();
    if (dialogOpen()) closeDialog(null);
  }
  if (!current && (tab === "timeline" || tab === "notes")) selectTab("now");
  cache.notes = [];
  cache.notesKey = null;
  cache.plan = null;
  cache.planKey = null;
  cache.openCue = null;
  cache.readingKey = null;
  cache.recentKey = null;
  $("#note-list").replaceChildren();
  $("#reading-now").replaceChildren();
}

function roomIsDark(v) {
  if (!v.session || v.session.ended_at !== null || v.panic.active) return false;
  const levels = v.lighting.lights.map((l) => lightLevel(l.target ?? l.commanded ?? l.reported)).filter((x) => x !== null);
  return levels.length > 0 && Math.max(...levels) <= DARK_ROOM_PCT;
}

function onPhase(detail) {
  toast(`Phase: ${detail.phase}`);
}

function onCue(cue) {
  toast(`Due now: ${cue.label}${tab === "now" ? "" : " (on the Room tab)"}`, { kind: "info", timeoutMs: 10000 });
  $(".alerts-card")?.classList.add("pulse");
  setTimeout(() => $(".alerts-card")?.classList.remove("pulse"), 4000);
  if (navigator.vibrate) navigator.vibrate(150);
}

function onAlert(alert) {
  toast(`Alert: ${alert.message}`, { kind: "error", timeoutMs: 10000 });
  if (navigator.vibrate) navigator.vibrate([150, 80, 150]);
}

/** The last sessions of this room, with their report files: the record outlives the session. */
async function refreshRecent() {
  const key = `${roomId}:${Math.floor(serverNow() / 60)}`;
  if (cache.recentKey === key) return;
  cache.recentKey = key;
  let sessions = [];
  try { sessions = await get(`/api/sessions?room=${encodeURIComponent(roomId)}&days=7`); } catch { return; }
  sessions = sessions.slice(0, 3);
  show("#recent", sessions.length > 0);
  syncList($("#recent-list"), sessions, (x) => x.session_id, (x) => el("li.recent-item", {},
    el("span.recent-what"), el("span.button-row", {}, ...reportButtons(x.session_id, { rems: !!x.rems, label: x.client_label }))),
  (node, x) => {
    const rems = x.rems ? ` · ${remsStatus(x.rems).text}` : "";
    node.firstChild.textContent = `${x.client_label ?? "No label"} · ${x.preset_name} · ${fmtClock(Date.parse(x.started_at) / 1000)}${rems}`;
  });
}

function onPanicSent(result) {
  panicSent = { tookMs: result.took_ms };
  if (view && !view.panic.active) {
    // Shown at once from the answer; the next state from the stream has the rest.
    view = { ...view, panic: { active: true, mode: "panic", since: serverNow(), by: null } };
  }
  closeDialog(null);
  render();
}

let lostAt = null; // server time of the loss

function onLink(isLive, lostSince) {
  live = isLive;
  const lost = !isLive && lostSince !== null;
  if (lost && lostAt === null) lostAt = serverNow();
  if (!lost) lostAt = null;
  document.body.classList.toggle("disconnected", lost);
  show("#conn-banner", lost);
  if (lost) setText("#conn-since", `Last update ${fmtClockSeconds(lostAt)}.`);
  const chip = $("#conn-chip");
  chip.textContent = isLive ? "Live" : lostSince !== null ? "Not live" : "Connecting…";
  chip.className = `chip ${isLive ? "chip-ok" : "chip-bad"}`;
}

function showWake(status) {
  const chip = $("#wake-chip");
  chip.hidden = !view?.session;
  const text = { on: "Screen stays on", off: "Screen may sleep", unsupported: "Screen may sleep (needs https)",
                 refused: "Screen may sleep" }[status];
  chip.textContent = text;
  chip.className = `chip ${status === "on" ? "chip-ok" : "chip-warn"}`;
}

async function refreshPreset(presetId) {
  if (cache.presetId === presetId) return;
  cache.presetId = presetId;
  try { cache.preset = await get(`/api/presets/${encodeURIComponent(presetId)}`); } catch { cache.preset = null; }
  render();
}

/**
 * What the plan has next in this phase (after the track named above), and when the next phase's
 * music begins: planned times, which move when the arc does (the plan is fetched again then).
 */
function renderComingUp(s, next) {
  const tracks = s ? cache.plan?.tracks ?? [] : [];
  const now = serverNow();
  const later = tracks.filter((t) => t.start > now && t.phase === s?.phase && t.start !== next?.starts_at).slice(0, 3);
  syncList($("#later-tracks"), later, (t) => `${t.path}@${t.start}`, () => el("li"), (li, t) => {
    li.textContent = `Then ${t.title}${t.artist ? ` — ${t.artist}` : ""} at ${fmtClock(t.start)}`;
  });
  const nextPhase = s?.phases[s.phase_index + 1];
  const first = nextPhase && tracks.find((t) => t.phase === nextPhase.name && t.start > now);
  // One line (the next track, and the next phase's music), the rest of this phase's behind it when
  // tapped: the card stays as short as it was, so the essentials still fit a tablet's screen.
  show("#coming-music", !!next || !!first);
  show("#next-phase-music", !!first);
  setText("#next-phase-music", first ? `The ${nextPhase.name}'s music begins at ${fmtClock(first.start)} (planned).` : "");
}

/** The clinic's one-tap notes: a tap records that note, as whoever the tablet is acting as. */
async function loadQuickNotes() {
  let notes = [];
  try { notes = await get("/api/quick-notes"); } catch { return; }
  $("#quick-notes").replaceChildren(...notes.map((text) => el("button.secondary.quick-note", {
    type: "button",
    onclick: (e) => act(e.currentTarget, "save the note", async () => {
      await command("/note", { text });
      toast(`Noted at ${fmtClock(serverNow())}: ${text}`);
    }),
  }, text)));
  show("#quick-notes", notes.length > 0);
}

async function refreshPlan(session) {
  const key = `${session.session_id}:${session.event_count}:${session.phase}`;
  if (cache.planKey === key) return;
  cache.planKey = key;
  try { cache.plan = await get(roomPath(roomId, "/plan")); } catch { cache.plan = null; }
  render();
}

async function refreshNotes(session) {
  const key = `${session.session_id}:${session.event_count}`;
  if (cache.notesKey === key) return;
  cache.notesKey = key;
  try {
    const events = await get(`/api/sessions/${encodeURIComponent(session.session_id)}/events`);
    cache.notes = events.filter((e) => e.type === "note").slice(-6).reverse();
  } catch { return; }
  if (view?.session?.session_id !== session.session_id) return; // ended meanwhile
  syncList($("#note-list"), cache.notes, (e) => e.seq, () => el("li", {}, el("time"), el("span")), (node, e) => {
    node.firstChild.textContent = fmtClock(e.at);
    node.lastChild.textContent = e.data.text;
  });
}

async function loadScenes() {
  try { cache.scenes = await get("/api/scenes"); } catch { cache.scenes = {}; }
  render();
}

async function loadPresets() {
  const select = $("#start-preset");
  try {
    const presets = await get("/api/presets");
    // No protocol is picked for the facilitator: the first in the list is not a choice anyone made.
    select.replaceChildren(el("option", { value: "", disabled: true, selected: true }, "Choose the protocol…"),
      ...presets.map((p) => el("option", { value: p.id }, p.name)));
  } catch (err) {
    toast(`Could not load the protocols: ${err.message}`, { kind: "error" });
  }
}

// --- tabs ---------------------------------------------------------------------------------------

function bindTabs() {
  const tabs = $$("#tabs [role=tab]");
  tabs.forEach((t) => t.addEventListener("click", () => selectTab(t.dataset.tab)));
  $("#tabs").addEventListener("keydown", (e) => {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const shown = tabs.filter((t) => !t.hidden);
    const i = shown.indexOf(document.activeElement);
    if (i < 0) return;
    const next = shown[(i + (e.key === "ArrowRight" ? 1 : shown.length - 1)) % shown.length];
    next.focus();
    selectTab(next.dataset.tab);
  });
}

function selectTab(name) {
  tab = name;
  $$("#tabs [role=tab]").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.tab === name)));
  $$("#room [role=tabpanel]").forEach((p) => { p.hidden = p.id !== `panel-${name}`; });
  $("#main").scrollTop = 0;
  drawTimeline();
}

// --- rendering ----------------------------------------------------------------------------------

function render() {
  if (!view) return;
  const s = view.session;
  setText("#room-name", view.name);
  setText("#session-label", s ? [s.client_label, cache.preset?.name ?? s.preset_id].filter(Boolean).join(" · ") : "No session");
  show("#mqtt-chip", !view.mqtt_connected);
  renderPanic();

  show("#room", true);
  show("#start", !s);
  $("#room").classList.toggle("idle", !s);
  $$("#tabs .session-tab").forEach((t) => { t.hidden = !s; });
  showWake(wakeStatus());
  const due = s ? s.due_cues.length : 0;
  const badge = $("#due-badge");
  badge.hidden = due === 0;
  badge.replaceChildren(el("span", { "aria-hidden": "true", text: String(due) }),
    el("span.visually-hidden", { text: `, ${due} check${due === 1 ? "" : "s"} due` }));
  if (s) {
    renderPhase(s);
    renderCues(s);
    renderControls(s);
    renderRecord(s);
    drawTimeline();
  } else {
    renderAlerts([], () => {});
  }
  renderAudio(view.audio, !!s);
  renderMusicControls(view.audio, !!s);
  renderLights(view.lighting, !!s);
  renderRefusals(s);
  renderActingAs(s);
}

let refusalKey = null;

/**
 * What the room refuses now (in panic, or held after one) comes with the state, with the reason:
 * those controls are disabled and say why, instead of failing when tapped. An error left on screen
 * by an earlier refusal goes when its cause does.
 */
function renderRefusals(s) {
  const refused = view.refused ?? {};
  const why = (command) => (refused[command] ? capital(refused[command]) : "");
  const holdCommand = s?.held ? "resume" : "hold";
  $("#hold-button").disabled = !!refused[holdCommand];
  setText("#session-refused", why(holdCommand));
  $$("#scene-buttons button, #brightness-row button, #brightness").forEach((b) => { b.disabled = !!refused.lights; });
  setText("#lights-refused", why("lights"));
  $$("#play-pause, #skip").forEach((b) => { b.disabled = !!refused.music; });
  setText("#music-refused", why("music"));
  const key = JSON.stringify([Object.keys(refused).sort(), !!s?.held]);
  if (refusalKey !== null && key !== refusalKey) $$("#alerts-region .toast-error").forEach((t) => t.remove());
  refusalKey = key;
}

/** The timelines on screen (drawn to their width, so not while hidden). */
function drawTimeline() {
  const s = view?.session;
  if (!s) return;
  const data = { session: s, preset: cache.preset, plan: cache.plan, now: serverNow() };
  if (tab === "timeline") range = renderTimeline(timelineParts(), data);
  if (tab === "now" && $("#mini-phases").clientWidth > 0) miniRange = renderTimeline(miniParts(), data);
}

function renderPanic() {
  const panic = view.panic;
  const held = panic.active && panic.mode === "held"; // cleared with "hold": still bright and quiet
  if (!panic.active) panicSent = null;
  show("#panic-active", panic.active);
  document.body.classList.toggle("panic-on", panic.active && !held);
  if (!panic.active) return;
  const since = panic.since ? ` since ${fmtClock(panic.since)}` : "";
  setText("#panic-active-title", held ? `After the panic: room kept bright and quiet${since}` : `Panic active${since}`);
  setText("#panic-active-text", held
    ? "The session is on hold. Restore the room when ready: the lights fade back and the music fades in."
    : "Lights are at full and the music is paused. Clear it when the room is safe.");
  setText("#panic-clear-restore", held ? "Restore the room" : "Clear and restore the room");
  show("#panic-clear-hold", !held);
  setText("#panic-sent", panicSent && typeof panicSent.tookMs === "number" ? `Panic sent in ${Math.round(panicSent.tookMs)} ms.` : "");
  setText("#panic-lights", lightsReport(view.lighting.lights));
  setText("#panic-music", musicReport(view.audio));
}

/** "Lights: 2 of 3 confirmed; waiting for: lamp." — from each light's own report, live. */
function lightsReport(lights) {
  if (lights.length === 0) return "No lights in this room.";
  const confirmed = lights.filter((l) => l.confirmed).length;
  const offline = lights.filter((l) => !l.confirmed && l.online === false).map((l) => l.name);
  const waiting = lights.filter((l) => !l.confirmed && l.online !== false).map((l) => l.name);
  return `Lights: ${confirmed} of ${lights.length} confirmed`
    + (offline.length ? `; offline: ${offline.join(", ")}` : "")
    + (waiting.length ? `; waiting for: ${waiting.join(", ")}` : "") + ".";
}

function musicReport(a) {
  if (a.state === "error" || a.error) return `Music failed: ${a.error ?? "the player reports an error"}.`;
  return { paused: "Music paused.", stopped: "Music off.", stopping: "Music fading out.", playing: "Music still playing: pause not confirmed." }[a.state];
}

const STATUS_TEXT = { arrival: "Before dose", running: "Running", held: "On hold", panic: "Panic", ended: "Ended" };

function frozen(s) { return s.held || s.panic || s.ended_at !== null; }

function renderPhase(s) {
  setText("#phase-step", `Phase ${s.phase_index + 1} of ${s.phases.length}`);
  const chip = $("#status-chip");
  chip.textContent = STATUS_TEXT[s.status];
  chip.className = `chip status-${s.status}`;
  setText("#phase-name", s.phase);
  setText("#intention", s.intention ? `Intention: ${s.intention}` : "");
  tick();
}

/** Everything that moves with the clock, once a second. */
function tick() {
  const now = serverNow();
  setText("#clock", fmtClock(now));
  const s = view?.session;
  if (!s) return;
  const dt = Math.max(0, now - s.now);
  const run = frozen(s) ? 0 : dt;
  setText("#time-in-phase", fmtTimer(s.time_in_phase_s + run));
  if (s.dose_at !== null) {
    setText("#time-since-dose", fmtTimer(s.time_since_dose_s + (s.ended_at !== null ? 0 : dt)));
    setText("#since-dose-label", s.boosters_at.length
      ? `since dose · booster ${s.boosters_at.map(fmtClock).join(", ")}` : `since dose (${fmtClock(s.dose_at)})`);
  } else {
    setText("#time-since-dose", "—");
    setText("#since-dose-label", "no dose yet");
  }
  const nextPhase = s.phases[s.phase_index + 1];
  let remaining = "";
  if (s.held) remaining = "On hold: the arc is paused. Time since dose and checks keep running.";
  else if (s.panic) remaining = "Panic: the arc is paused.";
  else if (s.phase_remaining_s !== null) {
    const left = Math.max(0, s.phase_remaining_s - run);
    remaining = `${fmtSpan(left)} left${nextPhase ? ` · ${nextPhase.name} at ${fmtClock(now + left)}` : ""}`;
  } else if (s.dose_at === null) remaining = "Arrival lasts until the dose is recorded.";
  else remaining = "Open-ended: lasts until you end the session.";
  setText("#phase-remaining", remaining);
  // For two minutes after an advance: one tap takes it back (the service says until when).
  const undo = $("#undo-advance-button");
  const undoLeft = s.advance_undo_until === null ? 0 : s.advance_undo_until - now;
  const previous = s.phases[s.phase_index - 1];
  show(undo, undoLeft > 0 && !!previous);
  if (undoLeft > 0 && previous) undo.textContent = `Undo: back to ${previous.name} (${fmtTimer(undoLeft)})`;
  const cue = s.next_cue;
  setText("#next-cue", cue ? `Next: ${cue.label} in ${fmtSpan(cue.due_at - now)} (${fmtClock(cue.due_at)})` : "");
  let obs = "";
  if (s.min_observation_until !== null) {
    obs = now >= s.min_observation_until ? "Minimum observation time reached."
      : `Minimum observation until ${fmtClock(s.min_observation_until)} (${fmtSpan(s.min_observation_until - now)} left).`;
  }
  setText("#observation", obs);
  $$("#cue-list li").forEach((li) => {
    const due = Number(li.dataset.due);
    setText(li.querySelector(".cue-when"), `due ${fmtClock(due)} · ${now - due < 60 ? "now" : `${fmtSpan(now - due)} ago`}`);
  });
  if (tab === "timeline") moveNow(timelineParts(), range, now);
  if (tab === "now") moveNow(miniParts(), miniRange, now);
}

function renderCues(s) {
  const list = $("#cue-list");
  if (cache.openCue && !s.due_cues.some((c) => c.id === cache.openCue)) cache.openCue = null;
  syncList(list, s.due_cues, (c) => c.id, (c) => {
    const ack = el("button.primary", { type: "button", "aria-label": `Acknowledge: ${c.label}` }, "Acknowledge");
    const item = el(`li.cue.cue-${c.kind}`, {}, el("div.cue-row", {},
      el("div.cue-text", {}, el("strong", { text: c.label }), el("span.cue-when.muted")), ack));
    ack.addEventListener("click", () => {
      const form = formFor(cache.preset, c.kind);
      if (!form) {
        act(ack, "acknowledge the check", () => command(`/cues/${encodeURIComponent(c.id)}/ack`));
        return;
      }
      cache.openCue = cache.openCue === c.id ? null : c.id;
      renderCues(view.session);
      item.querySelector(".reading-form input, .reading-form button")?.focus();
    });
    return item;
  }, (node, c) => {
    node.dataset.due = c.due_at;
    const open = cache.openCue === c.id;
    node.classList.toggle("open", open);
    const existing = node.querySelector(".reading-form");
    if (open && !existing) node.append(cueForm(c));
    if (!open && existing) existing.remove();
    node.querySelector(".cue-row > button").hidden = open;
  });
  show("#cue-none", s.due_cues.length === 0);
  setText("#due-count", s.due_cues.length > 1 ? String(s.due_cues.length) : "");
  $(".alerts-card").classList.toggle("has-due", s.due_cues.length > 0);
}

/** The readings a due check asks for, on its own card; saving them acknowledges the check. */
function cueForm(c) {
  const path = `/cues/${encodeURIComponent(c.id)}/ack`;
  const done = () => { cache.openCue = null; };
  return readingForm({
    form: formFor(cache.preset, c.kind),
    idPrefix: `cue-${c.id.replace(/[^a-z0-9]/gi, "-")}`,
    submitLabel: "Save readings",
    onSubmit: async (readings) => {
      await command(path, Object.keys(readings).length ? { readings } : {});
      done();
      toast(`Saved: ${c.label}.`);
    },
    onNotTaken: () => confirmDialog({
      title: "Not taken?",
      message: `${c.label}: the check is acknowledged without readings, and the reason goes into the record.`,
      fields: [{ name: "reason", label: "Why no readings", type: "textarea", required: true }],
      confirmLabel: "Acknowledge without readings",
      onConfirm: async ({ reason }) => { await command(path, { not_taken_reason: reason }); done(); },
    }),
    onCancel: () => { done(); renderCues(view.session); },
  });
}

const READING_KINDS = { vitals: "Vitals", blood_pressure: "Blood pressure", monitoring: "Sedation, dissociation, breathing",
  fluids: "Fluids (what was drunk)", check_in: "A note" };

/** Facilitators, alerts, the unscheduled reading and the report files: the record, kept current. */
/**
 * "Acting as": the facilitator using this tablet now, one of those signed in; every command then
 * records "A. Rivera via <the tablet's token>". Kept for this tab of this tablet only, and dropped
 * when that person signs out or the session ends.
 */
const actingKey = () => `arcroom.acting.${roomId}`;

function renderActingAs(s) {
  const names = s ? s.facilitators.map((f) => f.name) : [];
  const kept = sessionStorage.getItem(actingKey());
  auth.actingAs = kept && names.includes(kept) ? kept : null;
  if (!auth.actingAs) sessionStorage.removeItem(actingKey());
  const button = $("#acting-as");
  show(button, names.length > 0);
  button.replaceChildren(el("span", { text: auth.actingAs ? `Acting as ${auth.actingAs}` : "Acting as: tap to choose" }));
  const next = names[(names.indexOf(auth.actingAs) + 1) % (names.length + 1)] ?? null; // after the last: nobody
  button.title = `Tap for ${next ?? "nobody (the tablet alone)"}`; // the visible text stays its accessible name
  button.onclick = () => {
    if (next) sessionStorage.setItem(actingKey(), next);
    else sessionStorage.removeItem(actingKey());
    renderActingAs(view?.session);
  };
}

function renderRecord(s) {
  renderAlerts(s.alerts, (group, button, facilitator) => act(button, "acknowledge the alert", async () => {
    let state;
    for (const a of group.alerts) {
      state = await command(`/alerts/${encodeURIComponent(a.id)}/ack`, facilitator ? { facilitator } : {});
    }
    return state;
  }), s.facilitators);
  renderFacilitators(s, (f, button) => act(button, `sign out ${f.name}`, () =>
    api("DELETE", roomPath(roomId, `/session/facilitators/${encodeURIComponent(f.name)}`)).then(applyState)));
  const p = cache.preset;
  if (!p) return;
  const key = `${s.session_id}:${p.id}`;
  if (cache.readingKey !== key) {
    cache.readingKey = key;
    const kinds = Object.keys(p.readings ?? {}).filter((k) => READING_KINDS[k]);
    $("#reading-kind").replaceChildren(...kinds.map((k) => el("option", { value: k }, READING_KINDS[k])));
    drawReadingNow();
    $("#report-buttons").replaceChildren(...reportButtons(s.session_id, { rems: !!p.rems_form, label: s.client_label }));
  }
}

function drawReadingNow() {
  const kind = $("#reading-kind").value;
  const form = formFor(cache.preset, kind);
  if (!form) { $("#reading-now").replaceChildren(); return; }
  $("#reading-now").replaceChildren(readingForm({
    form: { ...form, optional: form.fields }, // unscheduled: whatever was measured
    idPrefix: "now",
    submitLabel: "Save reading",
    onSubmit: async (readings) => {
      if (!Object.keys(readings).length) throw new Error("Enter at least one value.");
      await command("/readings", { readings, kind });
      toast(`Reading saved at ${fmtClock(serverNow())}.`);
      drawReadingNow();
    },
  }));
}

/** A state from a command's answer, shown at once. */
function applyState(state) {
  if (view && state && state.session_id === view.session?.session_id) onState({ ...view, session: state });
  return state;
}

/**
 * The session's controls, from what the state says each command would do now (`s.commands`: the
 * server's own checks, with the reason when refused), never from rules of the tablet's own.
 */
function renderControls(s) {
  const p = cache.preset;
  const can = (name) => s.commands?.[name] ?? { allowed: false, needs_override: false, reason: null };
  const why = (name) => (can(name).allowed || !can(name).reason ? "" : capital(can(name).reason));
  show("#dose-button", can("dose").allowed);
  const adv = $("#advance-button");
  const nextPhase = s.phases[s.phase_index + 1];
  adv.textContent = nextPhase ? `Next phase: ${nextPhase.name}…` : "Next phase…";
  adv.disabled = !can("advance").allowed;
  setText("#advance-hint", why("advance") ? `${why("advance")}.` : "");
  const hold = $("#hold-button");
  hold.textContent = s.held ? "Resume" : "Hold";
  hold.className = s.held ? "primary" : "secondary";
  $$("[data-extend]").forEach((b) => { b.disabled = !can("extend").allowed; });
  setText("#extend-hint", why("extend") ? `${why("extend")}.` : "");
  show("#ready-button", !!p?.rems_form && can("ready_to_leave").allowed);
  // A booster outside its window is offered too: the dialog asks for the reason it then needs.
  const booster = p?.booster;
  const boosterOffered = !!booster && can("booster").allowed && s.dose_at !== null;
  show("#booster-button", boosterOffered);
  show("#booster-hint", boosterOffered);
  if (boosterOffered) {
    setText("#booster-hint", `Booster window: ${fmtClock(s.dose_at + booster.offer_from_min * 60)}–${fmtClock(s.dose_at + booster.offer_until_min * 60)}.`);
  }
}

const AUDIO_STATE = { playing: "Playing", paused: "Paused", stopped: "Stopped", error: "Failed", stopping: "Fading out" };
const volume = { target: null, timer: null, dragging: false };

/** The music as the player reports it: a failure is shown as one, with its reason. */
function renderAudio(a, inSession) {
  const failed = a.state === "error" || !!a.error;
  // With no session the plan is gone: what still sounds is fading out.
  const fading = !inSession && a.state === "playing";
  const loaded = !!a.now_playing && (a.state === "playing" || a.state === "paused");
  const chip = $("#audio-state");
  // Talk lowers the music: the card says so, and when it comes back, not just "Playing".
  const talking = inSession && !failed && a.talking && a.state === "playing";
  chip.textContent = failed ? "Failed" : fading ? "Fading out" : talking ? "Lowered for talk" : AUDIO_STATE[a.state];
  setText("#talk-status", talking && a.talk_until ? `Lowered for talk, back at ${fmtClock(a.talk_until)}.` : "");
  chip.className = `chip ${failed ? "chip-bad" : ""}`;
  $("#audio-card").classList.toggle("failed", failed);
  setText("#np-title", a.now_playing?.title ?? "Nothing playing");
  setText("#np-artist", a.now_playing ? [a.now_playing.artist, a.now_playing.segment].filter(Boolean).join(" · ") : "");
  const progress = loaded && !failed && !fading && a.now_playing.duration_s > 0;
  show("#np-progress-row", progress);
  if (progress) {
    $("#np-progress").style.width = `${Math.min(100, (a.now_playing.position_s / a.now_playing.duration_s) * 100)}%`;
    setText("#np-times", `${fmtTimer(a.now_playing.position_s)} / ${fmtTimer(a.now_playing.duration_s)}`);
  }
  show("#audio-error", failed);
  setText("#audio-error", failed ? `Music failed: ${a.error ?? "the player reports an error"}` : "");
  // Some of the playlist's files are not in the library: it plays what is there, and says so.
  const missing = inSession && !failed && !!a.missing_tracks;
  show("#audio-missing", missing);
  setText("#audio-missing", missing ? `Library: ${a.missing_tracks}; they are skipped.` : "");
  // Heard on the room's Snapcast players: each named, with whether it is there and its latency.
  // With a standby: the instance that plays (a box's own output is heard only while it leads).
  const snap = a.snapcast;
  const where = [
    snap ? `On Snapcast (${snap.stream}): ${snapPlayers(snap)}` : "",
    a.played_by ? `Played by instance ${a.played_by}.` : "",
  ].filter(Boolean).join(" ");
  show("#audio-players", !!where);
  setText("#audio-players", where);
  const next = inSession && !failed ? a.next : null;
  show("#next-track", !!next);
  if (next) {
    setText("#next-track", `Next: ${next.title}${next.artist ? ` — ${next.artist}` : ""} at ${fmtClock(next.starts_at)}.`);
  }
  renderComingUp(inSession && !failed ? view?.session : null, next);
  const slider = $("#volume");
  slider.max = String(a.ceiling_pct);
  if (volume.target === null && !volume.dragging) {
    slider.value = String(a.volume_pct);
    setText("#volume-value", `${a.volume_pct} %`);
  }
  setText("#volume-hint", `Changes fade over a few seconds; this room's ceiling is ${a.ceiling_pct} %.`);
  // Pause and resume only what is there: nothing to resume when nothing is loaded.
  show("#transport", loaded && !fading);
  const pp = $("#play-pause");
  pp.textContent = a.state === "playing" ? "Pause music" : "Resume music";
  pp.dataset.action = a.state === "playing" ? "pause" : "resume";
  show("#skip", a.state === "playing");
}

/**
 * Set the room's volume. The service ramps every change (over two seconds at least, never above
 * the room's ceiling), so one request per decision: taps on +/- and slider moves are gathered
 * for a moment and only the final value is sent.
 */
function setVolume(target) {
  if (!view) return;
  volume.target = Math.max(0, Math.min(view.audio.ceiling_pct, Math.round(target)));
  $("#volume").value = String(volume.target);
  setText("#volume-value", `${volume.target} %`);
  clearTimeout(volume.timer);
  volume.timer = setTimeout(async () => {
    const value = volume.target;
    try {
      await post(roomPath(roomId, "/audio"), { volume: value });
    } catch (err) {
      toast(`Could not change the volume: ${err.message}`, { kind: "error" });
    } finally {
      if (volume.target === value) volume.target = null;
    }
  }, VOLUME_SETTLE_MS);
}

function lightLevel(state) {
  if (!state) return null;
  if (!state.on) return 0;
  return state.brightness_pct ?? 100;
}

const brightness = { dragging: false, pending: false };

function renderLights(lighting, inSession) {
  const lights = lighting.lights;
  const none = lights.length === 0;
  show("#no-lights", none);
  show("#no-lights-detail", none);
  show("#scene-buttons", !none);
  show("#brightness-row", !none);
  const offline = lights.filter((l) => l.online === false).length;
  const unheard = lights.filter((l) => l.online === null).length;
  const summary = $("#lights-summary");
  summary.textContent = none ? "" : offline ? `${offline} offline` : unheard ? `${unheard} not heard from` : `${lights.length} online`;
  summary.className = `chip ${offline ? "chip-bad" : unheard ? "chip-warn" : "chip-ok"}`;
  const scenes = Object.entries(cache.scenes ?? {}).filter(([name]) => name !== "panic");
  syncList($("#scene-buttons"), none ? [] : scenes, ([name]) => name, ([name, scene]) => {
    const b = el("button.secondary.scene", { type: "button", title: scene.description ?? "" }, name);
    b.addEventListener("click", () => act(b, `switch to ${name}`, () =>
      api("PUT", roomPath(roomId, "/lights"), { scene: name })));
    return b;
  }, (b, [name]) => {
    b.setAttribute("aria-pressed", String(lighting.scene === name));
  });
  const levels = lights.map((l) => lightLevel(l.target ?? l.intended ?? l.reported)).filter((x) => x !== null);
  const avg = levels.length ? Math.round(levels.reduce((a, b) => a + b, 0) / levels.length) : 0;
  if (!brightness.dragging && !brightness.pending) {
    $("#brightness").value = String(avg);
    setText("#brightness-value", `${avg} %`);
  }
  // A manual override holds until the next phase: without a session there is no phase to go back to.
  const override = inSession ? lighting.override : null;
  show("#override", !!override);
  if (override) setText("#override-text", `Set by hand at ${fmtClock(override.since)} (${override.detail}).`);
  setText("#light-scene", lighting.scene ? `Scene: ${lighting.scene}${lighting.source ? ` (${lighting.source})` : ""}.` : "No scene set.");
  syncList($("#light-list"), lights, (l) => l.name, () => el("li.light", {},
    el("span.light-name"), el("span.light-status"), el("span.light-level")), (node, l) => {
    node.children[0].textContent = l.name === l.role ? l.name : `${l.name} (${l.role})`;
    const status = l.online === true ? "Online" : l.online === false ? "Offline" : "Not heard from";
    node.children[1].textContent = status;
    node.children[1].className = `light-status chip ${l.online === true ? "chip-ok" : l.online === false ? "chip-bad" : "chip-warn"}`;
    const reported = lightLevel(l.reported);
    const level = reported === null ? "no report" : reported === 0 ? "reports off" : `reports ${Math.round(reported)} %`;
    const extra = l.fade ? " · fading" : l.commanded && l.reported ? (l.confirmed ? " · as commanded" : " · not as commanded") : "";
    node.children[2].textContent = level + extra;
  });
}

// --- controls -----------------------------------------------------------------------------------

/** A session command; its answer (the SessionState) is shown at once, without waiting for the stream. */
async function command(path, body) {
  const state = await post(roomPath(roomId, `/session${path}`), body);
  if (view) {
    const mine = view.session;
    if (state.status === "ended") onState({ ...view, session: null });
    else if (!mine || mine.session_id !== state.session_id || state.event_count >= mine.event_count) {
      onState({ ...view, session: state });
    }
  }
  return state;
}

const capital = (s) => `${s[0].toUpperCase()}${s.slice(1)}`;

function bindControls() {
  bindMusicControls(roomId);
  $("#start-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const preset = $("#start-preset").value;
    const label = $("#start-client").value.trim();
    const intention = $("#start-intention").value.trim();
    if (!preset) {
      toast("Choose the protocol first.", { kind: "error" });
      $("#start-preset").focus();
      return;
    }
    act($("#start-button"), "start the session", async () => {
      await command("", { preset, client_label: label || null, ...(intention ? { intention } : {}) });
      $("#start-client").value = "";
      $("#start-intention").value = "";
    });
  });

  $("#dose-button").addEventListener("click", () => {
    const rule = cache.preset?.dose;
    const devices = rule?.devices;
    const unit = rule?.unit ?? "mg";
    const lotRequired = !!(devices || cache.preset?.rems_form);
    const options = devices ? Array.from({ length: devices.max_devices }, (_, i) => (i + 1) * devices.mg_per_device) : [];
    confirmDialog({
      title: devices ? "Record the first device?" : "Record the dose?",
      message: `The dose is recorded at ${fmtClock(serverNow())} and the session moves into ${view.session?.phases[1]?.name ?? "the next phase"}.`
        + (devices ? ` The observation clock starts now; each further device is a check ${devices.interval_min} min apart.` : "")
        + " This cannot be undone.",
      fields: [
        { name: "amount", label: devices ? `Dose (${unit})` : `Amount (${unit})${rule?.min_session_by_total?.length ? "" : ", optional"}`,
          inputmode: "decimal", required: !!devices,
          hint: devices ? `${devices.mg_per_device} mg a device: ${options.join(", ")} mg.`
            : rule?.min_session_by_total?.length ? `The minimum session length follows the dose (${rule.min_session_source}).` : "" },
        // The product's lot: in the record and the report for every protocol, and on the REMS form.
        { name: "lot", label: `Lot number${lotRequired ? "" : " (optional)"}`, required: lotRequired },
      ],
      confirmLabel: devices ? "Record first device" : "Record dose",
      onConfirm: ({ amount, lot }) => command("/dose", {
        ...(amount ? { amount: Number(amount.replace(",", ".")), unit } : {}), ...(lot ? { lot } : {}),
      }),
    });
  });

  $("#booster-button").addEventListener("click", () => {
    const b = cache.preset?.booster;
    const s = view.session;
    const since = s?.dose_at ? (serverNow() - s.dose_at) / 60 : 0;
    const outside = b && (since < b.offer_from_min || since > b.offer_until_min);
    confirmDialog({
      title: "Record a booster?",
      message: `The booster is recorded at ${fmtClock(serverNow())} and the arc is lengthened by ${b?.extend_min ?? "?"} min. This cannot be undone.`
        + (outside ? ` It is outside its window (${b.offer_from_min}–${b.offer_until_min} min after the first dose): the reason is recorded.` : ""),
      fields: [
        { name: "amount", label: `Amount (${cache.preset?.dose?.unit ?? "mg"}, optional)`, inputmode: "decimal" },
        { name: "lot", label: "Lot number (optional)" },
        ...(outside ? [{ name: "reason", label: "Reason for giving it outside the window", type: "textarea", required: true }] : []),
      ],
      confirmLabel: "Record booster",
      onConfirm: ({ amount, lot, reason }) => command("/dose", {
        booster: true, ...(amount ? { amount: Number(amount.replace(",", ".")) } : {}), ...(lot ? { lot } : {}),
        ...(reason ? { override_reason: reason } : {}),
      }),
    });
  });

  $("#ready-button").addEventListener("click", () => confirmDialog({
    title: "Ready to leave?",
    message: `Recorded at ${fmtClock(serverNow())}: when the client would have been ready to leave (the REMS form asks). `
      + "Observation continues to its minimum. This cannot be undone.",
    confirmLabel: "Record ready to leave",
    onConfirm: () => command("/ready-to-leave"),
  }));

  $("#signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("#facilitator-name").value.trim();
    if (!name) { toast("Write the facilitator's name first.", { kind: "error" }); $("#facilitator-name").focus(); return; }
    act($("#facilitator-button"), `sign in ${name}`, async () => {
      await command("/facilitators", { name });
      $("#facilitator-name").value = "";
    });
  });
  $("#reading-kind").addEventListener("change", drawReadingNow);

  // A phase, once ended, is over for good: ask first.
  $("#advance-button").addEventListener("click", () => {
    const s = view?.session;
    const next = s?.phases[s.phase_index + 1];
    if (!next) return;
    confirmDialog({
      title: `Move on to ${next.name} now?`,
      message: `${capital(s.phase)} ends now, after ${fmtSpan(s.time_in_phase_s + (frozen(s) ? 0 : serverNow() - s.now))}, `
        + `and ${next.name} begins with its own scene and music. For 2 minutes an Undo takes it back.`,
      confirmLabel: `Start ${next.name}`,
      onConfirm: () => command("/advance"),
    });
  });
  $("#undo-advance-button").addEventListener("click", (e) => act(e.currentTarget, "undo the advance", () =>
    command("/advance/undo")));
  $("#hold-button").addEventListener("click", (e) => {
    const held = view?.session?.held;
    act(e.currentTarget, held ? "resume" : "hold", () => command(held ? "/resume" : "/hold"));
  });
  $$("[data-extend]").forEach((b) => b.addEventListener("click", () =>
    act(b, "extend the phase", () => command("/extend", { minutes: Number(b.dataset.extend) }))));

  $("#end-button").addEventListener("click", () => {
    const s = view?.session;
    if (!s) return;
    const early = !s.can_end_without_override && s.min_observation_until !== null && serverNow() < s.min_observation_until;
    confirmDialog({
      title: "End the session?",
      message: early
        ? `The minimum observation time runs until ${fmtClock(s.min_observation_until)} (${fmtSpan(s.min_observation_until - serverNow())} left). Ending now needs a reason for the record. This cannot be undone.`
        : "The session is closed and the room is free for the next one. This cannot be undone.",
      fields: early ? [{ name: "reason", label: "Reason for ending early", type: "textarea", required: true }] : [],
      confirmLabel: "End session",
      danger: true,
      onConfirm: ({ reason }) => command("/end", reason ? { override_reason: reason } : {}),
    });
  });

  $("#note-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("#note-text").value.trim();
    if (!text) { toast("Write the note first.", { kind: "error" }); $("#note-text").focus(); return; }
    act($("#note-button"), "save the note", async () => {
      await command("/note", { text });
      $("#note-text").value = "";
      toast(`Note saved at ${fmtClock(serverNow())}.`);
    });
  });

  const clearPanic = (mode) => (e) => act(e.currentTarget, "clear the panic", async () =>
    onState(await post(roomPath(roomId, "/panic/clear"), { mode })));
  // Held after a panic, the room is bright and quiet on purpose: bringing it back is asked first.
  $("#panic-clear-restore").addEventListener("click", (e) => {
    if (view?.panic.mode !== "held") { clearPanic("restore")(e); return; }
    confirmDialog({
      title: "Restore the room now?",
      message: "The lights fade back to the phase's scene, the music fades in and the session goes on.",
      confirmLabel: "Restore now",
      onConfirm: async () => onState(await post(roomPath(roomId, "/panic/clear"), { mode: "restore" })),
    });
  });
  $("#panic-clear-hold").addEventListener("click", clearPanic("hold"));

  // Volume: sent on release (the service ramps it); the buttons move it a step at a time.
  const vol = $("#volume");
  vol.addEventListener("input", () => { volume.dragging = true; setText("#volume-value", `${vol.value} %`); });
  vol.addEventListener("change", () => { volume.dragging = false; setVolume(Number(vol.value)); });
  $("#volume-down").addEventListener("click", () => setVolume((volume.target ?? Number(vol.value)) - VOLUME_STEP_PCT));
  $("#volume-up").addEventListener("click", () => setVolume((volume.target ?? Number(vol.value)) + VOLUME_STEP_PCT));
  $("#play-pause").addEventListener("click", (e) => {
    const action = e.currentTarget.dataset.action || "pause";
    act(e.currentTarget, `${action} the music`, () => post(roomPath(roomId, "/audio"), { action }));
  });
  $("#skip").addEventListener("click", (e) => act(e.currentTarget, "skip the track", () =>
    post(roomPath(roomId, "/audio"), { action: "skip" })));

  // Brightness: every light in the room, with a short fade.
  const bri = $("#brightness");
  const setBrightness = (value) => {
    const v = Math.max(0, Math.min(100, Math.round(value)));
    bri.value = String(v);
    setText("#brightness-value", `${v} %`);
    brightness.pending = true;
    act(null, "change the brightness", () => api("PUT", roomPath(roomId, "/lights"), { brightness: v, transition: BRIGHTNESS_FADE_S }))
      .finally(() => { brightness.pending = false; });
  };
  bri.addEventListener("input", () => { brightness.dragging = true; setText("#brightness-value", `${bri.value} %`); });
  bri.addEventListener("change", () => { brightness.dragging = false; setBrightness(Number(bri.value)); });
  $("#brightness-down").addEventListener("click", () => setBrightness(Number(bri.value) - 5));
  $("#brightness-up").addEventListener("click", () => setBrightness(Number(bri.value) + 5));
  $("#override-clear").addEventListener("click", (e) => act(e.currentTarget, "return to the phase's scene", () =>
    api("DELETE", roomPath(roomId, "/lights/override"))));
}

main().catch((err) => {
  console.error(err);
  toast(`The dashboard failed to start: ${err.message}`, { kind: "error", timeoutMs: 0 });
});

function snapPlayers(snap) {
  return snap.clients
    .map((c) => {
      const where = !c.connected ? "not connected" : !c.on_stream ? "on another stream" : c.muted ? "muted" : "connected";
      return `${c.id} ${where}${c.connected && c.latency_ms ? `, ${c.latency_ms} ms latency` : ""}`;
    })
    .join("; ");
}
