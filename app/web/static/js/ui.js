// Small DOM helpers: elements, keyed lists, messages and the confirmation dialog.

/** el("button.big", {type: "button", onclick}, "text", child) */
export function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function setText(target, text) {
  const node = typeof target === "string" ? $(target) : target;
  if (node && node.textContent !== text) node.textContent = text;
}

export function show(target, visible) {
  const node = typeof target === "string" ? $(target) : target;
  if (node) node.hidden = !visible;
}

/**
 * Keep container's children in step with items, by key, so focused controls survive updates.
 * create(item) makes a node; update(node, item) refreshes it.
 */
export function syncList(container, items, key, create, update) {
  const existing = new Map([...container.children].map((n) => [n.dataset.key, n]));
  let before = container.firstChild;
  for (const item of items) {
    const k = String(key(item));
    let node = existing.get(k);
    if (node) existing.delete(k);
    else { node = create(item); node.dataset.key = k; }
    update(node, item);
    if (node !== before) container.insertBefore(node, before);
    before = node.nextSibling;
  }
  existing.forEach((n) => n.remove());
}

// --- messages ---------------------------------------------------------------------------------

export function toast(message, { kind = "info", timeoutMs = 8000 } = {}) {
  const region = $(kind === "error" ? "#alerts-region" : "#status-region");
  if (!region) return;
  const item = el(`div.toast.toast-${kind}`, {},
    el("p", { text: message }),
    el("button.ghost.small", { type: "button", "aria-label": "Dismiss message", onclick: () => item.remove() }, "×"));
  region.append(item);
  while (region.children.length > 3) region.firstChild.remove();
  if (timeoutMs) setTimeout(() => item.remove(), timeoutMs);
}

/** Run an API action from a button: busy state while it runs, the service's reason if it fails. */
export async function act(button, what, fn) {
  if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
  try {
    return await fn();
  } catch (err) {
    toast(`Could not ${what}: ${err.message}`, { kind: "error", timeoutMs: 12000 });
    return undefined;
  } finally {
    if (button) { button.disabled = false; button.removeAttribute("aria-busy"); }
  }
}

// --- the confirmation dialog --------------------------------------------------------------------
// Not a modal <dialog>: a modal one would make the panic button unreachable. Instead the page
// behind is made inert while the panic button (outside it) stays live and on top.

let openState = null;

export function dialogOpen() { return openState !== null; }

/**
 * Ask before an irreversible action. fields: [{name, label, type: "text"|"textarea", required,
 * placeholder, hint, inputmode, value}]. onConfirm(values) may throw: its message is shown and the dialog stays.
 * Resolves to onConfirm's result, or null when cancelled.
 */
export function confirmDialog({ title, message, fields = [], confirmLabel, danger = false, onConfirm }) {
  if (openState) closeDialog(null);
  const dialog = $("#dialog");
  const backdrop = $("#dialog-backdrop");
  const behind = $$("[data-inert-behind-dialog]");
  const opener = document.activeElement;
  const form = el("form.dialog-form", { novalidate: true });
  const titleId = "dialog-title";
  const error = el("p.dialog-error", { role: "alert", id: "dialog-error" });
  form.append(el("h2", { id: titleId, text: title }));
  if (message) form.append(el("p.dialog-message", { id: "dialog-message", text: message }));
  const inputs = {};
  fields.forEach((f, i) => {
    const id = `dialog-field-${i}`;
    const input = f.type === "textarea"
      ? el("textarea", { id, name: f.name, rows: 3, required: f.required, placeholder: f.placeholder })
      : el("input", { id, name: f.name, type: "text", required: f.required, placeholder: f.placeholder,
                      autocomplete: "off", inputmode: f.inputmode, value: f.value });
    inputs[f.name] = input;
    const hintId = f.hint ? `${id}-hint` : null;
    if (hintId) input.setAttribute("aria-describedby", hintId);
    form.append(el("label.field", { for: id }, f.label), input);
    if (hintId) form.append(el("p.hint", { id: hintId, text: f.hint }));
  });
  const cancel = el("button.secondary", { type: "button" }, "Cancel");
  const ok = el(`button.${danger ? "danger" : "primary"}`, { type: "submit" }, confirmLabel);
  form.append(error, el("div.dialog-actions", {}, cancel, ok));
  dialog.replaceChildren(form);
  dialog.setAttribute("aria-labelledby", titleId);
  if (message) dialog.setAttribute("aria-describedby", "dialog-message");
  else dialog.removeAttribute("aria-describedby");

  return new Promise((resolve) => {
    openState = { resolve, behind, opener };
    behind.forEach((n) => { n.inert = true; });
    backdrop.hidden = false;
    dialog.hidden = false;
    cancel.addEventListener("click", () => closeDialog(null));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.value.trim()]));
      const missing = fields.find((f) => f.required && !values[f.name]);
      if (missing) {
        error.textContent = `${missing.label} is needed.`;
        inputs[missing.name].focus();
        return;
      }
      ok.disabled = true;
      ok.setAttribute("aria-busy", "true");
      try {
        const result = await onConfirm(values);
        closeDialog(result === undefined ? true : result);
      } catch (err) {
        error.textContent = err.message;
        ok.disabled = false;
        ok.removeAttribute("aria-busy");
      }
    });
    // Safe default: the first field, else Cancel; never the confirming button.
    (fields.length ? inputs[fields[0].name] : cancel).focus();
  });
}

export function closeDialog(result) {
  if (!openState) return;
  const { resolve, behind, opener } = openState;
  openState = null;
  behind.forEach((n) => { n.inert = false; });
  $("#dialog").hidden = true;
  $("#dialog").replaceChildren();
  $("#dialog-backdrop").hidden = true;
  if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
  resolve(result);
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && openState) closeDialog(null);
});
