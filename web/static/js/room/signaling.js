// The signaling connection (docs/signaling.md): a fresh room ticket for every connection, the
// `auth` message, a heartbeat, and reconnection with backoff when the connection drops or the
// server asks us to come back later. Close codes that end the visit are reported as `ended`.
// The resume key the server hands out with `welcome` or `admitted` is kept in this tab
// (sessionStorage: it survives a reload, not another device), so that a reconnect comes back
// into the call without the host; a ticket alone waits for the host.

import { postJson } from "./texts.js";

// Close codes after which trying again cannot help, with the page's text for each.
const FINAL = new Map([
  [1000, "ended_left"],
  [4000, "ended_error"],
  [4001, "ended_invalid"],
  [4003, "ended_revoked"],
  [4005, "ended_room_closed"],
  [4006, "ended_replaced"],
  [4007, "ended_denied"],
  [4009, "ended_error"],
  [4010, "ended_full"],
  [4013, "ended_removed"],
  [4014, "ended_by_host"],
]);
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

export class Signaling {
  // handlers: message(msg), state("connecting"|"reconnecting"|"open"), notOpen(detail, opensAt),
  // ended(textKey)
  constructor({ ticketUrl, path, name, handlers }) {
    this.ticketUrl = ticketUrl;
    this.url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
    this.name = name;
    this.handlers = handlers;
    this.socket = null;
    this.attempt = 0;
    this.finished = false;
    this.heartbeat = null;
    this.retryTimer = null;
    this.lastHeard = 0;
    this.welcomed = false;
    this.resumeItem = `sprechstunde.resume:${ticketUrl}`;
  }

  #resumeKey() {
    try {
      return sessionStorage.getItem(this.resumeItem);
    } catch {
      return null; // storage blocked: a reconnect waits for the host
    }
  }

  #keepResumeKey(key) {
    try {
      sessionStorage.setItem(this.resumeItem, key);
    } catch {
      // storage blocked: see #resumeKey
    }
  }

  start() {
    this.handlers.state("connecting");
    this.#connect();
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  leave() {
    if (!this.send({ type: "leave" })) this.#finish("ended_left");
  }

  stop() {
    this.finished = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    if (this.socket) this.socket.close(1000);
  }

  async #connect() {
    if (this.finished) return;
    let answer;
    try {
      answer = await postJson(this.ticketUrl, this.name ? { name: this.name } : {});
    } catch {
      this.#retry();
      return;
    }
    if (this.finished) return;
    if (answer.ok) {
      this.#open(answer.data.ticket);
      return;
    }
    const code = answer.data.code;
    if (answer.status === 409 && code === "room_not_open" && answer.data.opens_at) {
      const wait = Date.parse(answer.data.opens_at) - Date.now();
      this.handlers.notOpen(answer.data.detail, answer.data.opens_at);
      // setTimeout holds at most about 24.8 days; a later room is retried then, and waits again.
      this.retryTimer = setTimeout(() => this.#connect(), Math.min(Math.max(wait, 0) + 500, 2 ** 31 - 1));
    } else if (answer.status === 409) {
      this.#finish(code === "room_full" ? "ended_full" : "ended_room_closed");
    } else if (answer.status === 401 || answer.status === 403 || answer.status === 404) {
      this.#finish(this.ticketUrl.startsWith("/staff/") && answer.status === 401 ? "ended_session" : "ended_invalid");
    } else {
      this.#retry();
    }
  }

  #open(ticket) {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.welcomed = false;
    socket.addEventListener("open", () => {
      const auth = { type: "auth", v: 1, ticket, can_rollback: true };
      const resume = this.#resumeKey();
      if (resume) auth.resume = resume;
      socket.send(JSON.stringify(auth));
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      this.lastHeard = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "welcome") {
        this.welcomed = true;
        this.attempt = 0;
        this.#startHeartbeat(message.heartbeat_seconds || 10);
        this.handlers.state("open");
      }
      if ((message.type === "welcome" || message.type === "admitted") && message.resume) {
        this.#keepResumeKey(message.resume);
      }
      if (message.type === "ended") this.endedReason = message.reason;
      if (message.type !== "pong") this.handlers.message(message);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      clearInterval(this.heartbeat);
      if (this.finished) return;
      if (this.endedReason) {
        this.#finish(this.endedReason === "ended_by_host" ? "ended_by_host" : "ended_room_closed");
      } else if (event.code === 4004) {
        this.#connect(); // the ticket endpoint says when the room opens
      } else if (FINAL.has(event.code)) {
        this.#finish(FINAL.get(event.code));
      } else {
        this.#retry(); // network loss, 1013, 4002, 4008, 4011, 4012, 4015
      }
    });
  }

  #startHeartbeat(seconds) {
    clearInterval(this.heartbeat);
    this.lastHeard = Date.now();
    this.heartbeat = setInterval(() => {
      // A connection that went silent (a network change) may never report its close.
      if (Date.now() - this.lastHeard > (seconds * 2 + 5) * 1000) {
        this.socket.close(3000); // any code but 1000: "try again", not "left"
        return;
      }
      this.send({ type: "ping" });
    }, seconds * 1000);
  }

  #retry() {
    if (this.finished) return;
    this.handlers.state("reconnecting");
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.#connect(), base + Math.random() * base * 0.3);
  }

  #finish(textKey) {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    this.handlers.ended(textKey);
  }
}
