// The panic path from the tablet: one tap, no confirmation, and an unmistakable answer. What the
// room did is shown live in the panic banner (the page's, from the room's state); this module
// only says when a tap did not get through, with a retry. A tap the service does not answer goes
// to another instance, where there is a standby.

import { post, roomPath } from "./api.js";
import { panicElsewhere } from "./instances.js";
import { el } from "./ui.js";

const PANIC_TIMEOUT_MS = 3000;

/**
 * Wire a panic button. room(): the room id. isLive(): is the live link up (for the message).
 * box: where a failure is shown (role="alert"). onSent(result): the service's PanicResult.
 * Returns {fire, dismiss}.
 */
export function bindPanic(button, box, { room, isLive = () => true, onSent = () => {} }) {
  let sending = false;
  const label = button.querySelector(".panic-word");
  const word = label ? label.textContent : "";

  function dismiss() {
    box.hidden = true;
    box.replaceChildren();
  }

  function failed(detail) {
    box.replaceChildren(
      el("p.panic-result-title", { text: "PANIC DID NOT GET THROUGH" }),
      el("p.panic-result-text", { text: detail }),
      el("div.panic-result-actions", {},
        el("button.danger", { type: "button", onclick: () => fire() }, "Try panic again"),
        el("button.secondary", { type: "button", onclick: dismiss }, "Dismiss")));
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
      dismiss();
      onSent(r);
    } catch (err) {
      // With a standby: the other instance lights the room (it does not wait for this one).
      const other = err.unreachable ? await panicElsewhere(roomPath(room(), "/panic"), PANIC_TIMEOUT_MS) : null;
      if (other) {
        dismiss();
        onSent(other.result);
        return;
      }
      const why = err.unreachable
        ? `The tablet cannot reach the Arcroom service${live ? "" : " (connection lost)"}.`
        : `The service refused it: ${err.message}`;
      failed(`${why} Turn the room lights on by hand.`);
    } finally {
      sending = false;
      button.removeAttribute("aria-busy");
      button.classList.remove("sending");
      if (label) label.textContent = word;
    }
  }

  button.addEventListener("click", fire);
  return { fire, dismiss };
}
