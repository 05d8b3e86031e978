// Real-time text (EN 301 549 clause 6, docs/signaling.md): the chat draft travels as it is
// typed, so the others read along as they would listen; `chat` then commits it.

const MAX_DRAFT = 2000;

// Clause 6.2.4 allows 500 ms from input to transmission; every 250 ms leaves room for the
// network and stays far below the server's rate limit.
const INTERVAL_MS = 250;

export class DraftSender {
  #send;
  #draft = "";
  #sent = "";
  #sentAt = -Infinity;
  #timer = null;

  // send(message) -> true if it went out
  constructor(send) {
    this.#send = send;
  }

  // The draft as it now stands: sent at once if the last one left long enough ago, else at
  // the end of the interval (then as it stands by that time); an emptied draft at once.
  update(text) {
    this.#draft = text.trim() ? text.slice(0, MAX_DRAFT) : "";
    const wait = this.#sentAt + INTERVAL_MS - performance.now();
    if (!this.#draft || wait <= 0) this.#flush();
    else if (this.#timer === null) this.#timer = setTimeout(() => this.#flush(), wait);
  }

  // The draft went out as a chat message, which clears it on the other side.
  committed() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#draft = this.#sent = "";
  }

  // Someone new is in the room, or we are back after a reconnect: they have no draft of ours.
  resend() {
    this.#sent = "";
    if (this.#draft) this.#flush();
  }

  #flush() {
    clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#draft === this.#sent) return;
    if (this.#send({ type: "typing", text: this.#draft })) {
      this.#sent = this.#draft;
      this.#sentAt = performance.now();
    }
  }
}

// The others' drafts, one line each. Deliberately not a live region: reading out every
// keystroke would drown everything else; the committed messages are announced by the chat log.
export class LiveDrafts {
  #list;
  #none;
  #t;
  #items = new Map();

  constructor(list, none, t) {
    this.#list = list;
    this.#none = none;
    this.#t = t;
  }

  show(from, name, text) {
    if (!text.trim()) {
      this.remove(from);
      return;
    }
    let item = this.#items.get(from);
    if (!item) {
      item = document.createElement("li");
      const who = document.createElement("span");
      who.className = "live-text__who";
      const draft = document.createElement("span");
      draft.className = "live-text__draft";
      item.append(who, " ", draft);
      this.#items.set(from, item);
      this.#list.append(item);
    }
    item.dataset.from = from;
    item.querySelector(".live-text__who").textContent = this.#t("typing", { name });
    item.querySelector(".live-text__draft").textContent = text;
    this.#none.hidden = true;
  }

  remove(from) {
    const item = this.#items.get(from);
    if (!item) return;
    item.remove();
    this.#items.delete(from);
    this.#none.hidden = this.#items.size > 0;
  }

  clear() {
    for (const from of [...this.#items.keys()]) this.remove(from);
  }
}
