// The clinical record on the tablet: the readings form (on a due check, or unscheduled), the alert
// banner, the facilitators present, and the report downloads. Which fields a check asks for is the
// preset's (`readings`); each field's label, unit and possible range come from GET /api/readings.

import { download, get } from "./api.js";
import { fmtClock } from "./clock.js";
import { $, el, setText, show, syncList } from "./ui.js";

let fields = null; // name -> {label, unit, type, min, max, step}

export async function loadFields() {
  if (!fields) fields = await get("/api/readings");
  return fields;
}

/** The form a check of `kind` asks for, or null when the preset asks for nothing. */
export function formFor(preset, kind) {
  return preset?.readings?.[kind] ?? null;
}

const fieldLabel = (name, spec) => (spec.unit ? `${spec.label} (${spec.unit})` : spec.label);

/**
 * A readings form: big inputs with the numeric keypad for numbers, Yes/No buttons for yes/no
 * questions, a line of text for the rest. onSubmit(values) may throw: its message is shown.
 */
export function readingForm({ form, idPrefix, submitLabel, onSubmit, onCancel, onNotTaken }) {
  const node = el("form.reading-form", { novalidate: true });
  const grid = el("div.reading-fields");
  const values = {};
  const error = el("p.reading-error", { role: "alert" });
  const required = new Set(form.fields.filter((f) => !form.optional.includes(f)));
  for (const name of form.fields) {
    const spec = fields?.[name] ?? { label: name, unit: "", type: "text" };
    const id = `${idPrefix}-${name}`;
    const label = fieldLabel(name, spec) + (required.has(name) ? "" : " · optional");
    if (spec.type === "yes_no") {
      const group = el("div.yes-no", { role: "group", "aria-labelledby": `${id}-label` });
      const yes = el("button.secondary", { type: "button", "aria-pressed": "false" }, "Yes");
      const no = el("button.secondary", { type: "button", "aria-pressed": "false" }, "No");
      const choose = (answer) => {
        values[name] = answer;
        yes.setAttribute("aria-pressed", String(answer === true));
        no.setAttribute("aria-pressed", String(answer === false));
      };
      yes.addEventListener("click", () => choose(true));
      no.addEventListener("click", () => choose(false));
      group.append(yes, no);
      grid.append(el("div.reading-field", { dataset: { field: name } },
        el("span.field-inline", { id: `${id}-label` }, label), group));
    } else {
      const numeric = spec.type === "number";
      const input = el("input", {
        id, name, type: "text", autocomplete: "off",
        inputmode: numeric ? ((spec.step ?? 1) < 1 ? "decimal" : "numeric") : "text",
        enterkeyhint: "next",
        ...(numeric ? { pattern: "[0-9]*[.,]?[0-9]*" } : {}),
      });
      input.addEventListener("input", () => { values[name] = input.value.trim(); });
      grid.append(el(`div.reading-field${name === "note" || name === "fluid" ? ".wide" : ""}`, { dataset: { field: name } },
        el("label.field-inline", { for: id }, label), input));
    }
  }
  const save = el("button.primary", { type: "submit" }, submitLabel);
  const actions = el("div.reading-actions", {}, save);
  if (onNotTaken) actions.append(el("button.secondary", { type: "button", onclick: () => onNotTaken() }, "Not taken…"));
  if (onCancel) actions.append(el("button.ghost", { type: "button", onclick: () => onCancel() }, "Cancel"));
  node.append(grid, error, actions);
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    const readings = {};
    for (const name of form.fields) {
      const spec = fields?.[name] ?? { type: "text" };
      const raw = values[name];
      if (raw === undefined || raw === "") continue;
      readings[name] = spec.type === "number" ? Number(String(raw).replace(",", ".")) : raw;
    }
    const missing = [...required].find((name) => readings[name] === undefined);
    if (missing) {
      error.textContent = `${fields?.[missing]?.label ?? missing} is needed (or tap “Not taken…”).`;
      node.querySelector(`[data-field="${missing}"] input, [data-field="${missing}"] button`)?.focus();
      return;
    }
    save.disabled = true;
    save.setAttribute("aria-busy", "true");
    try {
      await onSubmit(readings);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      save.disabled = false;
      save.removeAttribute("aria-busy");
    }
  });
  return node;
}

/**
 * The open alerts, one group per reading (a blood pressure past both limits is one thing to see,
 * not two), newest first; beside the panic button, never over a control. Only the newest
 * ALERTS_SHOWN groups are listed until "N more" is tapped, and the list scrolls inside its own
 * bounded area: however many alerts are open, the panic button keeps its place on screen.
 */
export const ALERTS_SHOWN = 2;

export function alertGroups(alerts) {
  const groups = new Map();
  for (const a of alerts) {
    const key = a.reading_seq != null ? `r${a.reading_seq}` : a.id;
    if (!groups.has(key)) groups.set(key, { key, at: a.at, alerts: [] });
    groups.get(key).alerts.push(a);
  }
  return [...groups.values()].sort((x, y) => y.at - x.at);
}

let alertsExpanded = false;

/**
 * The record should say which facilitator saw an alert, not only which tablet: one "Seen by" button
 * per facilitator signed in, so naming yourself is the one tap it always was. With nobody signed
 * in, a plain "Seen" (the record then holds the tablet's name only).
 * onAck(group, button, facilitator) acknowledges every alert of the group; facilitator is null for
 * the plain "Seen".
 */
export function renderAlerts(alerts, onAck, facilitators = []) {
  const banner = $("#alert-banner");
  show(banner, alerts.length > 0);
  const groups = alertGroups(alerts);
  if (groups.length <= ALERTS_SHOWN) alertsExpanded = false;
  const shown = alertsExpanded ? groups : groups.slice(0, ALERTS_SHOWN);
  const count = alerts.length === 1 ? "1 alert" : `${alerts.length} alerts`;
  setText("#alert-title", groups.length > 1 && groups.length < alerts.length ? `${count} · ${groups.length} readings` : count);
  const names = facilitators.map((f) => f.name);
  syncList($("#alert-list"), shown, (g) => g.key, () => el("li.alert-item", {},
    el("p", {}, el("time"), " ", el("span.alert-text")), el("span.seen-by")),
  (node, g) => {
    const text = g.alerts.map((a) => a.message).join(" · ");
    node.querySelector("time").textContent = fmtClock(g.at);
    node.querySelector(".alert-text").textContent = text;
    const group = node.querySelector(".seen-by");
    const key = JSON.stringify([names, g.alerts.map((a) => a.id)]);
    if (group.dataset.names === key) return; // rebuilt only when who is signed in, or the group, changes
    group.dataset.names = key;
    const button = (name) => {
      const b = el("button.primary", {
        type: "button",
        "aria-label": name ? `Seen by ${name}: ${text}` : `Acknowledge alert: ${text}`,
      }, el("span", { text: name ? `Seen: ${name}` : "Seen" }));
      b.addEventListener("click", () => onAck(g, b, name));
      return b;
    };
    group.replaceChildren(...(names.length ? names.map(button) : [button(null)]));
  });
  const hidden = groups.length - shown.length;
  const more = $("#alert-more");
  show(more, groups.length > ALERTS_SHOWN);
  more.textContent = alertsExpanded ? "Show fewer" : `${hidden} more`;
  more.setAttribute("aria-expanded", String(alertsExpanded));
  more.onclick = () => { alertsExpanded = !alertsExpanded; renderAlerts(alerts, onAck, facilitators); };
}

/** Who is present, with sign-out buttons; and the count against what the preset requires. */
export function renderFacilitators(session, onSignOut) {
  const present = session.facilitators;
  const required = session.facilitators_required;
  const chip = $("#staff-chip");
  // Short on screen (it shares a line with the phase and its status); whole for screen readers.
  chip.textContent = `${present.length}/${required} staff`;
  chip.setAttribute("aria-label", `${present.length} of ${required} facilitator${required === 1 ? "" : "s"} signed in`);
  chip.title = chip.getAttribute("aria-label");
  chip.className = `chip ${present.length < required ? "chip-warn" : "chip-ok"}`;
  syncList($("#facilitator-list"), present, (f) => f.name, (f) => {
    const out = el("button.secondary", { type: "button", "aria-label": `Sign out ${f.name}` }, "Sign out");
    out.addEventListener("click", () => onSignOut(f, out));
    return el("li.facilitator", {}, el("span.facilitator-name"), el("span.muted.small"), out);
  }, (node, f) => {
    node.children[0].textContent = f.name;
    node.children[1].textContent = `since ${fmtClock(f.since)}`;
  });
  show("#facilitator-none", present.length === 0);
}

/**
 * Where a session's REMS form stands, in words: filed, days left, overdue, or no form at all when
 * no dose was recorded (the form is one per treatment; nothing given, nothing to file).
 */
export function remsStatus(rems) {
  if (rems.filed_at) return { text: "REMS filed", overdue: false };
  const days = rems.days_left;
  if (typeof days !== "number") return { text: "no dose recorded: no REMS form due", overdue: false };
  const plural = Math.abs(days) === 1 ? "" : "s";
  return { text: days < 0 ? `REMS form ${-days} day${plural} overdue` : `REMS form due in ${days} day${plural}`, overdue: days <= 1 };
}

/** A session's report files, fetched with the token. */
export function reportButtons(sessionId, { rems, label }) {
  const name = `session-${label ? `${label}-` : ""}${sessionId.slice(0, 8)}`;
  const path = (format) => `/api/sessions/${encodeURIComponent(sessionId)}/report?format=${format}`;
  const button = (text, format, ext) => {
    const b = el("button.secondary", { type: "button" }, text);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try { await download(path(format), `${name}.${ext}`); } catch (err) { b.title = err.message; throw err; } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  return [button("Report (PDF)", "pdf", "pdf"), button("CSV", "csv", "csv"),
    ...(rems ? [button("REMS form", "rems", "rems.json")] : [])];
}
