// Keep the tablet's screen on during a session (Screen Wake Lock API). The browser drops the
// lock whenever the page is hidden, so it is asked for again when the page comes back.

let wanted = false;
let sentinel = null;
let status = "off"; // "on" | "off" | "unsupported" | "refused"
const listeners = new Set();

function set(next) {
  if (next === status) return;
  status = next;
  listeners.forEach((fn) => fn(status));
}

export function onWakeStatus(fn) { listeners.add(fn); fn(status); }
export function wakeStatus() { return status; }

async function acquire() {
  if (!("wakeLock" in navigator)) {
    // Only in secure contexts: https, or the service's own machine (localhost).
    set("unsupported");
    return;
  }
  if (sentinel || document.visibilityState !== "visible") return;
  try {
    sentinel = await navigator.wakeLock.request("screen");
    sentinel.addEventListener("release", () => {
      sentinel = null;
      set("off");
      if (wanted && document.visibilityState === "visible") acquire();
    });
    if (!wanted) { await release(); return; }
    set("on");
  } catch (err) {
    sentinel = null;
    set("refused");
  }
}

async function release() {
  const s = sentinel;
  sentinel = null;
  if (s) { try { await s.release(); } catch { /* already released */ } }
  set("wakeLock" in navigator ? "off" : "unsupported");
}

export function keepAwake(on) {
  wanted = !!on;
  if (wanted) acquire();
  else release();
}

document.addEventListener("visibilitychange", () => {
  if (wanted && document.visibilityState === "visible") acquire();
});
