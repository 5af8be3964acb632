// Server time. Countdowns are computed here from the epoch times in the room view and the
// server's `now`, so a tablet whose clock is off still shows the right times.

let offsetS = 0; // server clock minus this device's clock, seconds
let synced = false;

/** Call with the `now` of every state that arrives. */
export function syncServer(serverNow) {
  if (typeof serverNow !== "number" || !Number.isFinite(serverNow)) return;
  offsetS = serverNow - Date.now() / 1000;
  synced = true;
}

export function serverNow() { return Date.now() / 1000 + offsetS; }
export function isSynced() { return synced; }

const pad = (n) => String(n).padStart(2, "0");

/** 3725 -> "1:02:05"; 125 -> "2:05". For running timers. */
export function fmtTimer(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

/** 3725 -> "1 h 2 min"; 50 -> "1 min"; for "in ..." and "... left". */
export function fmtSpan(seconds) {
  const total = Math.max(0, Math.round(seconds / 60));
  const h = Math.floor(total / 60), m = total % 60;
  if (!h) return `${Math.max(m, seconds > 0 ? 1 : 0)} min`;
  return m ? `${h} h ${m} min` : `${h} h`;
}

// The clinic's zone (ARCROOM_TIMEZONE, as the reports use), so the screen and the PDF agree
// whatever zone the tablet itself is set to. Until it is known, this device's zone.
let zoneFormat = null;

/** The clinic's IANA zone; an unknown name leaves this device's zone in use. */
export function setClinicZone(zone) {
  try {
    zoneFormat = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    });
  } catch {
    zoneFormat = null;
  }
}

/** Asks the service which zone the clinic is in (no token needed). */
export async function loadClinicZone() {
  try {
    // Bounded: an unanswered request must not hold up the page (the tablet's zone is used meanwhile).
    const r = await fetch("/api/health", { cache: "no-store", signal: AbortSignal.timeout(3000) });
    if (r.ok) setClinicZone((await r.json()).timezone);
  } catch { /* unreachable now: this device's zone until the next page load */ }
}

function clockParts(epoch) {
  const d = new Date(epoch * 1000);
  if (!zoneFormat) return [d.getHours(), d.getMinutes(), d.getSeconds()];
  const parts = Object.fromEntries(zoneFormat.formatToParts(d).map((p) => [p.type, Number(p.value)]));
  return [parts.hour % 24, parts.minute, parts.second];
}

/** Epoch seconds -> "14:05" in the clinic's zone. */
export function fmtClock(epoch) {
  const [h, m] = clockParts(epoch);
  return `${pad(h)}:${pad(m)}`;
}

export function fmtClockSeconds(epoch) {
  const [h, m, sec] = clockParts(epoch);
  return `${pad(h)}:${pad(m)}:${pad(sec)}`;
}
