// Night mode (dark, dim red/amber: the default in a session) and day mode (preparation).
// The preference is per device: "auto" follows the session, or the facilitator pins one.

const KEY = "arcroom.theme";
const COLORS = { night: "#000000", day: "#ece6dc" };
let sessionActive = true; // until the first state arrives: dark, never a bright flash

export function preference() {
  const p = localStorage.getItem(KEY);
  return p === "night" || p === "day" ? p : "auto";
}

export function current() {
  const p = preference();
  if (p !== "auto") return p;
  return sessionActive ? "night" : "day";
}

export function apply() {
  const mode = current();
  const root = document.documentElement;
  root.dataset.theme = mode;
  root.style.colorScheme = mode === "night" ? "dark" : "light";
  const meta = document.querySelector('meta[name="theme-color"]');
  if (meta) meta.content = COLORS[mode];
  document.querySelectorAll("[data-theme-toggle]").forEach((button) => {
    const p = preference();
    const name = mode === "night" ? "Night" : "Day";
    button.querySelector("[data-theme-label]").textContent = p === "auto" ? `${name} (auto)` : name;
  });
  return mode;
}

/** auto -> the opposite of what auto shows -> the other -> auto. */
export function cycle() {
  const p = preference();
  const shown = current();
  let next;
  if (p === "auto") next = shown === "night" ? "day" : "night";
  else if (p === "night") next = "day";
  else next = "night";
  // Coming back round to what auto would show: go back to auto.
  const autoShows = sessionActive ? "night" : "day";
  if (p !== "auto" && next === autoShows) next = "auto";
  if (next === "auto") localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, next);
  return apply();
}

export function setSessionActive(active) {
  sessionActive = !!active;
  return apply();
}

export function bindToggles() {
  document.querySelectorAll("[data-theme-toggle]").forEach((b) => b.addEventListener("click", () => cycle()));
  apply();
}
