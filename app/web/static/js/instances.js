// With a standby (two instances on one database), the tablet follows the rooms: when the instance
// it is on stops answering, it opens the same page on another instance that answers. Where the
// instances answer comes from the service itself (GET /api/health, `instances`).
//
// The token is per address (the browser keeps it per origin): it goes along in the new address's
// fragment, which never reaches a server or its logs; api.js takes it off the address at once.

import { auth, CARRIED_TOKEN } from "./api.js";

const PROBE_MS = 2000; // a frozen machine's kernel may still accept the connection: no answer in time is none

// Kept on the tablet: a page opened (or reloaded) while its instance is down still knows where to go.
const KNOWN_KEY = "arcroom.instances";

let others = known();

function known() {
  try {
    const saved = JSON.parse(localStorage.getItem(KNOWN_KEY) || "[]");
    return Array.isArray(saved) ? saved.filter((a) => typeof a === "string") : [];
  } catch { return []; }
}

/** The other instances' addresses, from a health answer. */
export function learnInstances(health) {
  if (!Array.isArray(health?.instances)) return;
  others = health.instances.map((i) => i.address).filter((address) => {
    try { return new URL(address).origin !== location.origin; } catch { return false; }
  });
  localStorage.setItem(KNOWN_KEY, JSON.stringify(others));
}

/** Learn them now from this page's own instance (a page that is not told them by a heartbeat). */
export async function learnNow() {
  try {
    const r = await fetch("/api/health", { cache: "no-store", signal: AbortSignal.timeout(PROBE_MS) });
    learnInstances(await r.json());
  } catch { /* not now: the next time */ }
}

/** Open this page on the first other instance that answers; false if none does. */
export async function moveToAnother() {
  for (const address of others) {
    try {
      // Any answer says the instance is there; its content is not needed (so no CORS either).
      await fetch(new URL("/api/health", address), {
        mode: "no-cors", cache: "no-store", signal: AbortSignal.timeout(PROBE_MS),
      });
    } catch { continue; }
    const target = new URL(`${location.pathname}${location.search}`, address);
    if (auth.token) target.hash = new URLSearchParams({ [CARRIED_TOKEN]: auth.token }).toString();
    location.assign(target.href);
    return true;
  }
  return false;
}

/**
 * A panic through another instance, when the one this page is on does not answer (each instance
 * lets its siblings' pages send a room's panic: app/api/siblings.py). The first answer, or null.
 */
export async function panicElsewhere(path, timeoutMs) {
  for (const address of others) {
    const headers = {};
    if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
    if (auth.actingAs) headers["X-Arcroom-Acting-As"] = encodeURIComponent(auth.actingAs);
    try {
      const r = await fetch(new URL(path, address), {
        method: "POST", headers, cache: "no-store", signal: AbortSignal.timeout(timeoutMs),
      });
      if (r.ok) return { address, result: await r.json() };
    } catch { /* not there either: the next one */ }
  }
  return null;
}
