// The documents panel of a booking's room: the booking's documents, one of them shown to
// everyone page by page beside the video, and a pointer. Page turns and the pointer travel as
// `doc` messages (docs/signaling.md); the pages are PNG images from the server, fetched at
// the panel's width. In a room without documents for us (an ad-hoc room, an interpreter) the
// list answers with an error and the panel stays hidden.

import { csrfToken, loadTexts } from "./texts.js";

const POLL_MS = 3000;
// While the panel is open, the list is read again this often: a document the other side hands
// in during the call appears here once it is checked.
const WATCH_MS = 5000;
const POLL_LIMIT = 40; // two minutes: a scan takes seconds, a busy scanner a little longer
const KEY_STEP = 0.02;
const KEY_STEP_LARGE = 0.1;

export class DocumentsPanel {
  constructor({ listUrl, uploadUrl, send }) {
    const $ = (id) => document.getElementById(id);
    this.$ = $;
    this.t = loadTexts("documents-texts");
    this.listUrl = listUrl;
    this.uploadUrl = uploadUrl;
    this.send = send;
    this.documents = new Map();
    this.current = null; // {document, page}
    this.marker = null; // {x, y} as shown
    this.keyMarker = null; // the keyboard's pointer, not shown to the others until Enter
    this.polls = 0;
    this.pollTimer = null;
    this.watchTimer = null;
    this.listed = "";
    this.available = false;

    $("toggle-documents").addEventListener("click", () => this.toggle());
    $("documents-hide").addEventListener("click", () => this.toggle(false));
    $("documents-previous").addEventListener("click", () => this.turn(-1));
    $("documents-next").addEventListener("click", () => this.turn(1));
    $("documents-close").addEventListener("click", () => {
      if (!this.current) return;
      this.send({ type: "doc", action: "close", document: this.current.document });
      this.showIndex();
    });
    $("documents-list").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-document]");
      if (button) this.open(Number(button.dataset.document));
    });
    const page = $("documents-page");
    page.addEventListener("click", (event) => this.pointAt(event));
    page.addEventListener("keydown", (event) => this.key(event));
    $("documents-image").addEventListener("error", () => this.live(this.t("load_failed")));
    const form = $("documents-upload");
    if (form) form.addEventListener("submit", (event) => this.upload(event));
  }

  // -- the list ---------------------------------------------------------------------------------

  async refresh() {
    let response;
    try {
      response = await fetch(this.listUrl, { credentials: "same-origin" });
    } catch {
      return false;
    }
    if (!response.ok) return false;
    const { documents } = await response.json();
    this.documents = new Map(documents.map((d) => [d.id, d]));
    this.available = true;
    this.$("toggle-documents").hidden = false;
    // Drawn again only when something changed: a button that has the focus keeps it.
    const listed = JSON.stringify(documents.map((d) => [d.id, d.status, d.label]));
    if (listed !== this.listed) {
      this.listed = listed;
      this.renderList();
    }
    return true;
  }

  renderList() {
    const list = this.$("documents-list");
    list.replaceChildren();
    for (const doc of this.documents.values()) {
      const item = document.createElement("li");
      const title = doc.label || doc.name;
      if (doc.status === "clean") {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "button button--secondary";
        button.dataset.document = String(doc.id);
        button.textContent = this.t("open", { label: title });
        item.append(button);
      } else {
        item.textContent = `${title}: ${this.t(doc.status)}`;
      }
      list.append(item);
    }
    this.$("documents-none").hidden = this.documents.size > 0;
  }

  // Until every document handed in here has been checked, within a bound.
  poll() {
    clearTimeout(this.pollTimer);
    this.polls = 0;
    const step = async () => {
      const before = new Set([...this.documents.values()].filter((d) => d.status === "pending").map((d) => d.id));
      await this.refresh();
      for (const id of before) {
        const doc = this.documents.get(id);
        if (!doc || doc.status === "pending") continue;
        const title = doc.label || doc.name;
        this.live(doc.status === "clean" ? this.t("upload_ready", { label: title }) : `${title}: ${this.t("rejected")}`);
      }
      const pending = [...this.documents.values()].some((d) => d.status === "pending");
      if (pending && ++this.polls < POLL_LIMIT) this.pollTimer = setTimeout(step, POLL_MS);
    };
    this.pollTimer = setTimeout(step, POLL_MS);
  }

  async upload(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const status = this.$("documents-upload-status");
    status.textContent = this.t("uploading");
    let response;
    try {
      response = await fetch(this.uploadUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken() },
        body: new FormData(form),
      });
    } catch {
      status.textContent = this.t("upload_failed");
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      status.textContent = body.detail || this.t("upload_failed");
      return;
    }
    form.reset();
    status.textContent = this.t("uploaded");
    await this.refresh();
    this.poll();
  }

  // -- showing ----------------------------------------------------------------------------------

  toggle(open = this.$("documents").hidden) {
    this.$("documents").hidden = !open;
    this.$("toggle-documents").setAttribute("aria-expanded", String(open));
    this.watch(open);
    if (open) {
      this.$("documents").scrollIntoView({ block: "nearest" });
      this.$("documents-heading").focus();
    } else {
      this.$("toggle-documents").focus();
    }
  }

  reveal() {
    this.$("documents").hidden = false;
    this.$("toggle-documents").setAttribute("aria-expanded", "true");
    this.watch(true);
  }

  watch(on) {
    clearInterval(this.watchTimer);
    this.watchTimer = on ? setInterval(() => this.refresh(), WATCH_MS) : null;
  }

  open(id) {
    this.show(id, 1, null);
    this.send({ type: "doc", action: "open", document: id, page: 1 });
    this.$("documents-title").focus();
  }

  turn(step) {
    if (!this.current) return;
    const doc = this.documents.get(this.current.document);
    const page = this.current.page + step;
    if (!doc || page < 1 || page > doc.pages) return;
    this.show(doc.id, page, null);
    this.send({ type: "doc", action: "page", document: doc.id, page });
    this.live(this.t("page_of", { page, pages: doc.pages }));
  }

  show(id, page, pointer) {
    const doc = this.documents.get(id);
    if (!doc || doc.status !== "clean") return false;
    const changed = !this.current || this.current.document !== id || this.current.page !== page;
    this.current = { document: id, page };
    this.keyMarker = null;
    this.$("documents-index").hidden = true;
    this.$("documents-viewer").hidden = false;
    const title = doc.label || doc.name;
    this.$("documents-title").textContent = title;
    this.$("documents-page-number").textContent = this.t("page_of", { page, pages: doc.pages });
    this.$("documents-previous").disabled = page <= 1;
    this.$("documents-next").disabled = page >= doc.pages;
    const image = this.$("documents-image");
    image.alt = this.t("image_alt", { label: title, page, pages: doc.pages });
    if (changed) {
      const width = Math.round(this.$("documents-page").clientWidth * (window.devicePixelRatio || 1)) || 800;
      const breite = Math.min(Math.max(width, 100), 4000);
      image.src = `${this.listUrl}/${id}/seiten/${page}.png?breite=${breite}`;
    }
    this.mark(pointer);
    return true;
  }

  showIndex() {
    this.current = null;
    this.mark(null);
    this.$("documents-viewer").hidden = true;
    this.$("documents-index").hidden = false;
  }

  mark(pointer) {
    this.marker = pointer;
    const marker = this.$("documents-marker");
    marker.hidden = !pointer;
    if (pointer) {
      marker.style.left = `${pointer.x * 100}%`;
      marker.style.top = `${pointer.y * 100}%`;
    }
  }

  // -- the pointer ------------------------------------------------------------------------------

  pointAt(event) {
    if (!this.current) return;
    const box = this.$("documents-image").getBoundingClientRect();
    if (!box.width || !box.height) return;
    const clamp = (value) => Math.min(1, Math.max(0, value));
    this.place({ x: clamp((event.clientX - box.left) / box.width), y: clamp((event.clientY - box.top) / box.height) });
  }

  place(pointer) {
    const { document: id, page } = this.current;
    const rounded = { x: Math.round(pointer.x * 1000) / 1000, y: Math.round(pointer.y * 1000) / 1000 };
    this.mark(rounded);
    this.send({ type: "doc", action: "pointer", document: id, page, ...rounded });
  }

  key(event) {
    if (!this.current) return;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      this.place(this.keyMarker || this.marker || { x: 0.5, y: 0.5 });
      this.live(this.t("pointer"));
      return;
    }
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    const step = event.shiftKey ? KEY_STEP_LARGE : KEY_STEP;
    const from = this.keyMarker || this.marker || { x: 0.5, y: 0.5 };
    const clamp = (value) => Math.min(1, Math.max(0, value));
    this.keyMarker = { x: clamp(from.x + move[0] * step), y: clamp(from.y + move[1] * step) };
    this.mark(this.keyMarker);
  }

  // -- the others' steps ------------------------------------------------------------------------

  // A `doc` message of another participant.
  async received(message) {
    if (message.action === "close") {
      if (this.current && this.current.document === message.document) {
        this.showIndex();
        this.live(this.t("closed"));
      }
      return;
    }
    // A document handed in moments ago may not be in our list yet.
    if (!this.documents.has(message.document) || this.documents.get(message.document).status !== "clean") {
      await this.refresh();
    }
    const doc = this.documents.get(message.document);
    if (!doc) return;
    const pointer = message.action === "pointer" ? { x: message.x, y: message.y } : null;
    const before = this.current;
    if (!this.show(doc.id, message.page, pointer)) return;
    this.reveal();
    const title = doc.label || doc.name;
    if (message.action === "open" || !before || before.document !== doc.id) {
      this.live(this.t("opened", { label: title, page: message.page, pages: doc.pages }));
    } else if (message.action === "page") {
      this.live(this.t("page_of", { page: message.page, pages: doc.pages }));
    } else if (message.action === "pointer") {
      this.live(this.t("pointer"));
    }
  }

  // The room's shared view on entering (or re-entering) the call: `view` from `welcome` or
  // `admitted`, absent when no document is open.
  async entered(view) {
    if (!(await this.refresh())) return;
    if (!view) {
      if (this.current) this.showIndex();
      return;
    }
    const pointer = "x" in view ? { x: view.x, y: view.y } : null;
    if (this.show(view.document, view.page, pointer)) this.reveal();
  }

  live(text) {
    const region = this.$("documents-live");
    // The same text twice in a row would not be read again.
    region.textContent = region.textContent === text ? `${text}\u00a0` : text;
  }
}
