// The music card's own controls beyond pause and skip: Talk (the music ducks while the facilitator
// speaks), gentler music, and another playlist for this client. They are made here and added to the
// card: Talk and Gentler beside the transport buttons (no extra row: the room view fits one screen),
// the playlist choice in #music-extras, shown only when there is a choice to make.
//
//   POST /api/rooms/{room}/audio/talk {on}      POST /api/rooms/{room}/audio/gentler
//   GET  /api/rooms/{room}/audio/playlists      POST /api/rooms/{room}/audio/playlist {playlist}

import { get, post, roomPath } from "./api.js";
import { fmtClock } from "./clock.js";
import { $, act, el, show, toast } from "./ui.js";

let room = null;
let parts = null;
let playlists = { key: null, loading: false };

/** Make the controls (once) and bind them to `roomId`; `onState(audio)` gets each answer. */
export function bindMusicControls(roomId, onState = () => {}) {
  room = roomId;
  const host = $("#music-extras");
  if (!host || parts) return;
  const talk = el("button.secondary", { type: "button", id: "talk", "aria-pressed": "false" }, "Talk");
  const gentler = el("button.secondary", { type: "button", id: "gentler", hidden: true }, "Gentler music");
  const select = el("select", { id: "playlist-select", "aria-describedby": "playlist-hint" });
  const playlistRow = el("div.slider-row", { id: "playlist-row", hidden: true },
    el("label.field-inline", { for: "playlist-select" }, "Playlist"), select);
  const playlistHint = el("p.visually-hidden", { id: "playlist-hint",
    text: "Another playlist made for this preset: it crossfades in where the session is now." });
  ($("#transport") ?? host).append(talk, gentler);
  host.replaceChildren(playlistRow, playlistHint);
  parts = { talk, gentler, select, playlistRow };

  talk.addEventListener("click", () => {
    const on = talk.getAttribute("aria-pressed") !== "true";
    act(talk, on ? "turn the music down for talk" : "bring the music back",
      async () => onState(await post(roomPath(room, "/audio/talk"), { on })));
  });
  gentler.addEventListener("click", () => act(gentler, "ask for gentler music", async () => {
    onState(await post(roomPath(room, "/audio/gentler")));
    toast("Gentler music from the next track, for the rest of this phase.");
  }));
  select.addEventListener("change", () => {
    const chosen = select.value;
    act(select, "change the playlist", async () => {
      onState(await post(roomPath(room, "/audio/playlist"), { playlist: chosen }));
      playlists.key = null; // reload: which one plays has changed
      toast(`Now crossfading into “${select.selectedOptions[0]?.textContent ?? chosen}”.`);
    });
  });
}

/** Show the controls as the room's music is now (the room view's `audio`). */
export function renderMusicControls(audio, inSession) {
  if (!parts) return;
  const { talk, gentler } = parts;
  show(talk, inSession);
  talk.setAttribute("aria-pressed", audio.talking ? "true" : "false");
  if (audio.talking && audio.talk_until) {
    talk.textContent = "End talk";
    talk.title = `The music is turned down for talk; it comes back by itself at ${fmtClock(audio.talk_until)}.`;
  } else {
    talk.textContent = "Talk";
    talk.title = "Turn the music down while you speak to the client.";
  }
  show(gentler, inSession && !!audio.gentler_available);
  gentler.disabled = !!audio.gentler;
  gentler.textContent = audio.gentler ? "Gentler: asked" : "Gentler music";
  renderPlaylists(audio, inSession);
}

function renderPlaylists(audio, inSession) {
  const { select, playlistRow } = parts;
  if (!inSession) { show(playlistRow, false); playlists.key = null; return; }
  const key = audio.playlist ?? "";
  if (playlists.key === key || playlists.loading) return;
  playlists.loading = true;
  get(roomPath(room, "/audio/playlists"))
    .then((options) => {
      playlists.key = key;
      const usable = options.filter((o) => o.available);
      // Only a real choice is offered: the playlist playing and at least one other.
      show(playlistRow, usable.length > 1);
      select.replaceChildren(...usable.map((o) => el("option", { value: o.id, selected: o.playing }, o.title)));
    })
    .catch((err) => toast(`Could not list the playlists: ${err.message}`, { kind: "error" }))
    .finally(() => { playlists.loading = false; });
}
