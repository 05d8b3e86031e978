// The host's side panel: people waiting (let in / do not let in), people inside (remove),
// invitation links for interpreters and other extra guests, and "end for everyone".

import { postJson } from "./texts.js";

export class HostPanel {
  constructor({ t, send, announce, inviteUrl, selfId }) {
    this.t = t;
    this.send = send;
    this.announce = announce;
    this.inviteUrl = inviteUrl;
    this.selfId = selfId;
    this.waiting = new Map();
    this.inside = new Map();
    this.waitingList = document.getElementById("waiting-list");
    this.nobodyWaiting = document.getElementById("nobody-waiting");
    this.participantList = document.getElementById("participant-list");
    document.getElementById("end-all").addEventListener("click", () => {
      if (window.confirm(this.t("end_confirm"))) this.send({ type: "end" });
    });
    const form = document.getElementById("invite-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#invite(form);
    });
  }

  welcome(message) {
    this.selfId = message.id;
    this.waiting = new Map((message.waiting || []).map((p) => [p.id, p]));
    this.inside = new Map([[message.id, { id: message.id, name: message.name, role: message.role }]]);
    for (const p of message.participants || []) this.inside.set(p.id, p);
    this.#render();
  }

  knock(participant) {
    this.waiting.set(participant.id, participant);
    this.#render();
    // The join link from a second device while the person is inside: letting it in ends the
    // connection inside, so the host decides knowingly.
    this.announce(this.t(participant.reconnect ? "knock_reconnect" : "knock", { name: participant.name }));
  }

  waitingLeft(id) {
    this.waiting.delete(id);
    this.#render();
  }

  joined(peer) {
    this.waiting.delete(peer.id);
    this.inside.set(peer.id, peer);
    this.#render();
  }

  left(id) {
    this.inside.delete(id);
    this.#render();
  }

  #render() {
    this.waitingList.replaceChildren(
      ...[...this.waiting.values()].map((p) =>
        this.#row(p, [
          { text: this.t("admit"), label: this.t("admit_label", { name: p.name }), type: "admit", css: "button" },
          { text: this.t("deny"), label: this.t("deny_label", { name: p.name }), type: "deny", css: "button button--secondary" },
        ]),
      ),
    );
    this.nobodyWaiting.hidden = this.waiting.size > 0;
    this.participantList.replaceChildren(
      ...[...this.inside.values()].map((p) =>
        this.#row(
          p,
          p.id === this.selfId || p.role === "host"
            ? []
            : [{ text: this.t("remove"), label: this.t("remove_label", { name: p.name }), type: "remove", css: "button button--secondary" }],
        ),
      ),
    );
  }

  #row(person, actions) {
    const item = document.createElement("li");
    item.dataset.id = person.id;
    const name = document.createElement("span");
    name.className = "people__name";
    const role = this.t(`role_${person.role}`);
    const notes = [person.id === this.selfId ? this.t("you_suffix") : "", person.reconnect ? this.t("reconnect_note") : ""];
    name.textContent = [`${person.name} (${role})`, ...notes.filter(Boolean)].join(" ");
    item.append(name);
    for (const action of actions) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = action.css;
      button.textContent = action.text;
      button.setAttribute("aria-label", action.label);
      button.addEventListener("click", () => {
        button.disabled = true;
        this.send({ type: action.type, id: person.id });
        if (action.type !== "admit") {
          this.waiting.delete(person.id);
          this.#render();
        }
      });
      item.append(button);
    }
    return item;
  }

  async #invite(form) {
    const label = form.elements.label.value.trim();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const answer = await postJson(this.inviteUrl, { label });
      if (!answer.ok) throw new Error(answer.data.code || String(answer.status));
      this.#showLink(answer.data);
      form.reset();
      this.announce(this.t("invite_created"));
    } catch {
      this.announce(this.t("invite_failed"));
    } finally {
      button.disabled = false;
    }
  }

  #showLink(invite) {
    const holder = document.getElementById("invite-links");
    const field = document.createElement("div");
    field.className = "field invite-link";
    const id = `invite-url-new-${invite.id}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = this.t("invite_for", { label: invite.label || this.t("extra_guest") });
    const input = document.createElement("input");
    input.type = "text";
    input.readOnly = true;
    input.id = id;
    input.value = invite.url;
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "button button--secondary";
    copy.textContent = this.t("copy");
    copy.addEventListener("click", async () => {
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
      } catch {
        document.execCommand("copy");
      }
      this.announce(this.t("copied"));
    });
    field.append(label, input, copy);
    holder.prepend(field);
    input.focus();
    input.select();
  }
}
