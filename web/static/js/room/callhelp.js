// The help for a call in which no picture or sound gets through to someone (a strict network,
// no TURN): shown on both sides within seconds, since each side tells the other with
// `media-failed` (docs/signaling.md). It offers "Try again" (an ICE restart), the connection
// test and, for the citizen, the hotline; the host is told to phone the citizen.

// A link not connected this long after it started (or after "Try again") counts as failed:
// with no usable candidate ICE may never even report `failed`.
const MEDIA_TIMEOUT_MS = 15000;

export class CallHelp {
  constructor({ links, send, announce, t, isHost, box, text, retry, changed }) {
    this.links = links; // id -> PeerLink, the page's current links
    this.send = send;
    this.announce = announce;
    this.t = t;
    this.isHost = isHost;
    this.box = box;
    this.text = text; // role="alert": read out whenever its text changes
    this.changed = changed; // the page recomputes its connection state, then calls update()
    this.failed = new Set(); // ids of the peers no picture or sound gets through to
    this.recovered = false;
    retry.addEventListener("click", () => this.#retry());
  }

  watch(link) {
    clearTimeout(link.mediaTimer);
    link.reportedFailed = false;
    link.mediaTimer = setTimeout(() => {
      this.linkChanged(link, true);
      this.changed();
    }, MEDIA_TIMEOUT_MS);
  }

  linkChanged(link, timedOut = false) {
    if (this.links.get(link.id) !== link || link.closed) return;
    if (link.state === "connected") {
      clearTimeout(link.mediaTimer);
      if (this.failed.delete(link.id)) this.recovered = true;
    } else if ((timedOut || link.failed) && !link.reportedFailed) {
      // Tell the other side too: its page may still be waiting for the connection.
      link.reportedFailed = true;
      this.send({ type: "media-failed", to: link.id });
      this.failed.add(link.id);
    }
  }

  // The other side found no picture or sound between us: so we learn it too, at once.
  reported(id) {
    const link = this.links.get(id);
    if (link && link.state !== "connected") this.failed.add(id);
  }

  clear() {
    this.failed.clear();
    this.update();
  }

  update() {
    for (const id of this.failed) if (!this.links.has(id)) this.failed.delete(id);
    const failed = [...this.failed].map((id) => this.links.get(id)).filter((l) => l.state !== "connected");
    if (!failed.length) {
      if (!this.box.hidden) {
        this.box.hidden = true;
        this.text.textContent = "";
        // Gone because the connection came up (not because the other person left): say so.
        if (this.recovered) this.announce(this.t("media_recovered"));
      }
      this.recovered = false;
      return;
    }
    const t = this.t;
    const advice = this.isHost
      ? failed.filter((l) => l.role !== "host").map((l) => t("media_failed_host", { name: l.name }))
      : [t("media_failed_guest")];
    const text = [t("media_failed", { name: failed.map((l) => l.name).join(", ") }), ...advice].join(" ");
    if (this.box.hidden) {
      this.box.hidden = false;
      // "You are in the call" must not stay the last word over a black tile.
      this.announce(t("media_failed_status"));
    }
    if (this.text.textContent !== text) this.text.textContent = text;
  }

  #retry() {
    for (const id of this.failed) {
      const link = this.links.get(id);
      if (!link) continue;
      link.restartIce();
      this.watch(link);
    }
    this.announce(this.t("media_retrying"));
  }
}
