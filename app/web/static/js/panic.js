// The panic path from the tablet: one tap, no confirmation, and an unmistakable answer —
// either what the room did, or that the tap did not get through.

import { post, roomPath } from "./api.js";
import { el } from "./ui.js";

const PANIC_TIMEOUT_MS = 3000;

function summary(r) {
  const parts = [];
  if (Array.isArray(r?.lights) && r.lights.length) {
    const confirmed = r.lights.filter((l) => l.status === "confirmed").length;
    const unconfirmed = r.lights.filter((l) => l.status === "unconfirmed").map((l) => l.name);
    parts.push(`Lights: ${confirmed} of ${r.lights.length} confirmed`
      + (unconfirmed.length ? `; not confirmed: ${unconfirmed.join(", ")}` : ""));
  }
  if (r?.audio?.status) parts.push(r.audio.status === "paused" ? "Music paused." : "Music: pause not confirmed.");
  return parts.join(". ").replace(/\.\./g, ".");
}

/**
 * Wire a panic button. room(): the room id. isLive(): is the live link up (for the message).
 * box: where the outcome is shown (role="alert").
 */
export function bindPanic(button, box, room, isLive = () => true) {
  let sending = false;
  const label = button.querySelector(".panic-word");
  const word = label ? label.textContent : "";

  function outcome(kind, title, detail, retry) {
    box.className = `panic-result panic-${kind}`;
    box.replaceChildren(
      el("p.panic-result-title", { text: title }),
      detail ? el("p", { text: detail }) : null,
      el("div.panic-result-actions", {},
        retry ? el("button.danger", { type: "button", onclick: () => fire() }, "Try panic again") : null,
        el("button.secondary", { type: "button", onclick: () => { box.hidden = true; } }, "Dismiss")));
    box.hidden = false;
  }

  async function fire() {
    if (sending) return;
    sending = true;
    button.setAttribute("aria-busy", "true");
    button.classList.add("sending");
    if (label) label.textContent = "Sending…";
    const live = isLive();
    try {
      const r = await post(roomPath(room(), "/panic"), undefined, { timeoutMs: PANIC_TIMEOUT_MS });
      const took = typeof r?.took_ms === "number" ? ` in ${Math.round(r.took_ms)} ms` : "";
      outcome("sent", `Panic sent${took}.`, summary(r) || "The room is going to full light and the music is pausing.", false);
    } catch (err) {
      const why = err.unreachable
        ? `The tablet cannot reach the Arcroom service${live ? "" : " (connection lost)"}.`
        : `The service refused it: ${err.message}`;
      outcome("failed", "PANIC DID NOT GET THROUGH", `${why} Turn the room lights on by hand.`, true);
    } finally {
      sending = false;
      button.removeAttribute("aria-busy");
      button.classList.remove("sending");
      if (label) label.textContent = word;
    }
  }

  button.addEventListener("click", fire);
  return fire;
}
