// The room's live stream (server-sent events), reconnecting by itself.
//
// EventSource retries a dropped connection on its own, but gives up for good after an HTTP
// error; and a half-open connection raises no error at all. So: our own reopen with backoff
// when it closes, and a heartbeat to /api/health that declares the link lost when the service
// stops answering, whatever EventSource believes.

import { learnInstances, learnNow, moveToAnother } from "./instances.js";

const HEARTBEAT_MS = 4000;
const HEARTBEAT_TIMEOUT_MS = 3000;
const BACKOFF_MS = [500, 1000, 2000, 4000];
// With a standby: this long without an answer, and the page moves to an instance that answers.
const MOVE_AFTER_MS = 4000;

export class RoomStream {
  /**
   * url: a function returning the stream URL, or a promise of it (a fresh ticket each time).
   * handlers: {state(view), phase(detail), cue(detail), alert(detail), status(live: boolean, since: number|null),
   *            quiet() — the service answers but the stream carries nothing}
   */
  constructor(url, handlers) {
    this.url = url;
    this.on = handlers;
    this.es = null;
    this.live = false;
    this.lostSince = null;
    this.attempt = 0;
    this.reopenTimer = null;
    this.heartbeat = null;
    this.stopped = true;
    this.opening = 0; // counts open() calls: only the latest may create the EventSource
  }

  start() {
    this.stopped = false;
    // Where the other instances answer, known from the start (then from every heartbeat).
    learnNow();
    this.open();
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
  }

  stop() {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.reopenTimer);
    if (this.es) this.es.close();
    this.es = null;
  }

  /** Drop the current connection and open a new one now (e.g. after signing in again). */
  restart() {
    if (this.es) this.es.close();
    this.es = null;
    clearTimeout(this.reopenTimer);
    this.open();
  }

  async open() {
    if (this.stopped) return;
    const attempt = ++this.opening;
    let url = null;
    try { url = await this.url(); } catch { url = null; }
    if (this.stopped || attempt !== this.opening) return; // stopped, or a newer open() meanwhile
    if (url === null) { this.setLive(false); this.scheduleReopen(); return; }
    const es = new EventSource(url);
    this.es = es;
    es.addEventListener("state", (e) => {
      this.attempt = 0;
      this.setLive(true);
      this.dispatch("state", e.data);
    });
    es.addEventListener("phase", (e) => this.dispatch("phase", e.data));
    es.addEventListener("cue", (e) => this.dispatch("cue", e.data));
    es.addEventListener("alert", (e) => this.dispatch("alert", e.data));
    es.addEventListener("error", () => {
      if (es !== this.es) return;
      this.setLive(false);
      if (es.readyState === EventSource.CLOSED) this.scheduleReopen();
    });
  }

  dispatch(kind, raw) {
    let data;
    try { data = JSON.parse(raw); } catch { return; }
    try { this.on[kind]?.(data); } catch (err) { console.error(`handling ${kind} event`, err); }
  }

  scheduleReopen() {
    if (this.stopped) return;
    clearTimeout(this.reopenTimer);
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.reopenTimer = setTimeout(() => this.restart(), delay);
  }

  async beat() {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), HEARTBEAT_TIMEOUT_MS);
    let ok = false;
    try {
      const r = await fetch("/api/health", { cache: "no-store", signal: ctrl.signal });
      ok = r.ok || r.status === 503;
      if (ok) learnInstances(await r.json().catch(() => null));
    } catch { ok = false; } finally { clearTimeout(timer); }
    if (this.stopped) return;
    if (!ok) {
      this.setLive(false);
      if (Date.now() - this.lostSince >= MOVE_AFTER_MS && !this.moving) {
        this.moving = true;
        this.moving = await moveToAnother();
      }
      return;
    }
    // The service answers but no state came through: the stream gave up, is half-open or is
    // still retrying on its own. Give it one beat, then open a new one.
    if (this.live) { this.quietBeats = 0; return; }
    this.on.quiet?.(); // e.g. fetch the state once by plain HTTP meanwhile
    this.quietBeats = (this.quietBeats || 0) + 1;
    if (!this.es || this.es.readyState === EventSource.CLOSED || this.quietBeats >= 2) {
      this.quietBeats = 0;
      this.attempt = 0;
      this.restart();
    }
  }

  setLive(live) {
    if (live === this.live && (live || this.lostSince !== null)) return;
    this.live = live;
    this.lostSince = live ? null : (this.lostSince ?? Date.now());
    this.on.status?.(live, this.lostSince);
  }
}
