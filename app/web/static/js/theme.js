// The display modes, per device: night (black and deep red), extra dim (darker still), and day
// (for preparing the room). "Auto" is night, or extra dim while a session runs in a dark room;
// auto never turns the screen to day by itself: a client may still be in the dim room before,
// during and after a session. Day is for preparation and must be chosen (it then stays).

import { el } from "./ui.js";

const KEY = "arcroom.theme";
const MODES = ["night", "dim", "day"];
const COLORS = { night: "#000000", dim: "#000000", day: "#ece6dc" };
const NAMES = { night: "Night", dim: "Extra dim", day: "Day" };
const CHOICES = [
  { value: "auto", label: "Auto", hint: "night; extra dim while the room is dark in a session" },
  { value: "night", label: "Night", hint: "black and deep red" },
  { value: "dim", label: "Extra dim", hint: "darker still, lower contrast" },
  { value: "day", label: "Day", hint: "for preparing the room" },
];

let roomDark = false;

export function preference() {
  const p = localStorage.getItem(KEY);
  return MODES.includes(p) ? p : "auto";
}

export function current() {
  const p = preference();
  if (p !== "auto") return p;
  return roomDark ? "dim" : "night";
}

export function apply() {
  const mode = current();
  const root = document.documentElement;
  if (root.dataset.theme !== mode) root.dataset.theme = mode;
  root.style.background = COLORS[mode];
  root.style.colorScheme = mode === "day" ? "light" : "dark";
  const meta = document.querySelector('meta[name="theme-color"]');
  if (meta) meta.content = COLORS[mode];
  const p = preference();
  document.querySelectorAll("[data-theme-label]").forEach((label) => {
    label.textContent = p === "auto" ? `${NAMES[mode]} (auto)` : NAMES[mode];
  });
  document.querySelectorAll("[data-theme-choice]").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.dataset.themeChoice === p));
  });
  return mode;
}

export function choose(value) {
  if (value === "auto") localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, value);
  return apply();
}

/** Auto's input: is a session running with the room's lights low? */
export function setRoomDark(dark) {
  roomDark = !!dark;
  return apply();
}

/** Each [data-theme-toggle] button opens a small menu of the four choices beside it. */
export function bindToggles() {
  document.querySelectorAll("[data-theme-toggle]").forEach((button, i) => {
    const id = `display-menu-${i}`;
    const menu = el("div.display-menu", { id, role: "group", "aria-label": "Display", hidden: true },
      ...CHOICES.map((c) => el("button.secondary", { type: "button", "data-theme-choice": c.value,
                                                     onclick: () => { choose(c.value); close(); button.focus(); } },
        el("span.choice-label", { text: c.label }), el("span.choice-hint", { text: c.hint }))));
    button.after(menu);
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", id);
    function close() { menu.hidden = true; button.setAttribute("aria-expanded", "false"); }
    button.addEventListener("click", () => {
      const open = menu.hidden;
      menu.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      if (open) menu.querySelector('[aria-pressed="true"]')?.focus();
    });
    document.addEventListener("click", (e) => {
      if (!menu.hidden && !menu.contains(e.target) && !button.contains(e.target)) close();
    });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !menu.hidden) { close(); button.focus(); } });
  });
  apply();
}
