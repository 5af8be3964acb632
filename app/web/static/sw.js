// Arcroom's service worker: the dashboard's own files, network first, so that a reload
// during an outage still shows the dashboard (and that it is not live) instead of an error
// page. The API and the event stream are never cached or touched.

const CACHE = "arcroom-shell-v4";
const SHELL = [
  "/", "/overview", "/manifest.webmanifest", "/static/styles.css",
  "/static/js/api.js", "/static/js/clock.js", "/static/js/overview.js", "/static/js/panic.js",
  "/static/js/room.js", "/static/js/signin.js", "/static/js/stream.js", "/static/js/theme.js",
  "/static/js/timeline.js", "/static/js/ui.js", "/static/js/wakelock.js", "/static/js/music.js",
  "/static/js/record.js", "/static/js/instances.js", "/static/icons/icon.svg",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).catch(() => {}).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then((c) => c.put(event.request, copy)).catch(() => {});
    }
    return response;
  }).catch(() => caches.match(event.request, { ignoreSearch: true })
    .then((hit) => hit || Response.error())));
});
