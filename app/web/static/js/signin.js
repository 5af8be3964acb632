// Sign-in: a token, remembered on this device; optionally a device PIN that unlocks it.
//
// With no tokens configured the service is open and there is nothing to sign in to. The PIN
// is a lock for this tablet, not a second secret: the token stays on the device while it is
// locked, so the panic button keeps working on the lock screen.

import { ApiError, auth, probeAccess, rememberToken } from "./api.js";
import { el } from "./ui.js";

const PIN_KEY = "arcroom.pin";
const LOCK_KEY = "arcroom.locked";

export const hasPin = () => !!localStorage.getItem(PIN_KEY);
export const isLocked = () => hasPin() && localStorage.getItem(LOCK_KEY) === "1";

async function digest(pin, salt) {
  const text = `${salt}:${pin}`;
  if (globalThis.crypto?.subtle) {
    const buf = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  // Plain http on the clinic network has no WebCrypto: a simple hash is enough for a screen lock.
  let h = 0x811c9dc5;
  for (let round = 0; round < 1000; round += 1) {
    for (let i = 0; i < text.length; i += 1) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
    h ^= round;
  }
  return `fnv:${h.toString(16)}`;
}

async function setPin(pin) {
  const salt = Math.random().toString(36).slice(2, 12);
  localStorage.setItem(PIN_KEY, JSON.stringify({ salt, hash: await digest(pin, salt) }));
}

async function checkPin(pin) {
  try {
    const { salt, hash } = JSON.parse(localStorage.getItem(PIN_KEY));
    return (await digest(pin, salt)) === hash;
  } catch { return false; }
}

export function lock() {
  if (!hasPin()) return false;
  localStorage.setItem(LOCK_KEY, "1");
  return true;
}

export function signOut() {
  rememberToken(null);
  localStorage.removeItem(PIN_KEY);
  localStorage.removeItem(LOCK_KEY);
}

const PIN_PATTERN = /^[0-9]{4,8}$/;

/**
 * Resolve once the dashboard may show rooms: "open", "ok" (token) or "unlocked" (PIN).
 * `root` is the sign-in section; it is shown while needed. onShown(kind) tells the page
 * what is on screen ("token" | "pin" | "unreachable"), so it can show or hide the panic button.
 */
export async function signIn(root, onShown = () => {}) {
  for (;;) {
    let access;
    try {
      access = await probeAccess();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      onShown("unreachable");
      await unreachable(root, err.message);
      continue;
    }
    if (access === "open") { root.hidden = true; return "open"; }
    if (access === "ok" && !isLocked()) { root.hidden = true; return "ok"; }
    if (access === "ok" && isLocked()) {
      onShown("pin");
      await pinForm(root);
      root.hidden = true;
      return "unlocked";
    }
    onShown("token");
    await tokenForm(root, access === "forbidden"
      ? "This token may not read rooms (it is a panic-button token). Use a therapist or observer token."
      : auth.token ? "The token remembered on this tablet was refused. Sign in again." : "");
  }
}

function frame(root, title, ...content) {
  root.replaceChildren(el("div.signin-card", {}, el("h1", { id: "signin-title", text: title }), ...content));
  root.setAttribute("aria-labelledby", "signin-title");
  root.hidden = false;
}

function unreachable(root, message) {
  return new Promise((resolve) => {
    const retry = el("button.primary", { type: "button", onclick: () => resolve() }, "Try again");
    frame(root, "No connection", el("p.signin-error", { role: "alert", text: message }),
      el("p", { text: "Check the tablet's network. The room keeps running without the dashboard." }), retry);
    setTimeout(resolve, 5000);
  });
}

function tokenForm(root, why) {
  return new Promise((resolve) => {
    const error = el("p.signin-error", { role: "alert", id: "signin-error", text: why });
    const token = el("input", { id: "signin-token", name: "token", type: "password", autocomplete: "current-password",
                                spellcheck: "false", required: true, "aria-describedby": "signin-error" });
    const pin = el("input", { id: "signin-new-pin", name: "pin", type: "password", inputmode: "numeric",
                              autocomplete: "off", maxlength: 8, "aria-describedby": "signin-pin-hint" });
    const submit = el("button.primary", { type: "submit" }, "Sign in");
    const form = el("form.signin-form", { novalidate: true },
      el("label.field", { for: "signin-token" }, "Access token"), token,
      el("label.field", { for: "signin-new-pin" }, "Device PIN (optional)"), pin,
      el("p.hint", { id: "signin-pin-hint", text: "4 to 8 digits. Lets you lock this tablet and unlock it with the PIN." }),
      error, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = token.value.trim();
      if (!value) { error.textContent = "Enter the access token for this tablet."; token.focus(); return; }
      if (pin.value && !PIN_PATTERN.test(pin.value)) {
        error.textContent = "The PIN must be 4 to 8 digits."; pin.focus(); return;
      }
      submit.disabled = true;
      try {
        const access = await probeAccess(value);
        if (access === "signin") { error.textContent = "That token was refused by the service."; token.select(); return; }
        if (access === "forbidden") { error.textContent = "This token may not read rooms (a panic-button token)."; return; }
        rememberToken(access === "open" ? null : value);
        localStorage.removeItem(LOCK_KEY);
        if (pin.value) await setPin(pin.value);
        resolve();
      } catch (err) {
        error.textContent = err.message;
      } finally {
        submit.disabled = false;
      }
    });
    frame(root, "Sign in to Arcroom", el("p", { text: "Enter the access token for this tablet. It is remembered on this device." }), form);
    token.focus();
  });
}

function pinForm(root) {
  return new Promise((resolve) => {
    const error = el("p.signin-error", { role: "alert", id: "signin-error" });
    const pin = el("input", { id: "signin-pin", name: "pin", type: "password", inputmode: "numeric",
                              autocomplete: "off", maxlength: 8, required: true, "aria-describedby": "signin-error" });
    const form = el("form.signin-form", { novalidate: true },
      el("label.field", { for: "signin-pin" }, "Device PIN"), pin, error,
      el("button.primary", { type: "submit" }, "Unlock"),
      el("button.secondary", { type: "button", onclick: () => { signOut(); location.reload(); } },
        "Sign in with a token instead"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (await checkPin(pin.value)) {
        localStorage.removeItem(LOCK_KEY);
        resolve();
      } else {
        error.textContent = "Wrong PIN.";
        pin.value = "";
        pin.focus();
      }
    });
    frame(root, "Tablet locked", el("p", { text: "The panic button still works while the tablet is locked." }), form);
    pin.focus();
  });
}

