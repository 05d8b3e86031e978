// One RTCPeerConnection to one other participant, with MDN's "perfect negotiation": the server
// says which side of the pair is polite; the newcomer (initiator) adds its tracks first and so
// makes the first offer, the other side answers with its own camera on the offered
// transceivers. The screen is an extra video transceiver with its own stream, switched on and
// off (replaceTrack + direction) so that sharing again needs no new m-line.

export class NewSession extends Error {}

export class PeerLink {
  constructor({ peer, polite, initiator, iceServers, iceTransportPolicy, local, send, events }) {
    this.id = peer.id;
    this.name = peer.name;
    this.role = peer.role;
    this.media = peer.media || { audio: true, video: true, screen: false };
    this.polite = polite;
    this.local = local;
    this.send = send;
    this.events = events; // track(link, kind, stream), state(link), failed(link)
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    this.cameraSenders = {};
    this.screenTransceiver = null;
    this.cameraStreamId = null;
    this.cameraStream = null;
    this.screenStream = null;
    this.closed = false;
    this.remoteSession = null;
    this.pc = new RTCPeerConnection({ iceServers, iceTransportPolicy });
    this.pc.addEventListener("negotiationneeded", () => this.#offer());
    this.pc.addEventListener("icecandidate", ({ candidate }) => {
      this.send({ type: "candidate", to: this.id, candidate: candidate ? candidate.toJSON() : null });
    });
    this.pc.addEventListener("track", (event) => this.#track(event));
    this.pc.addEventListener("connectionstatechange", () => {
      this.events.state(this);
      if (this.pc.connectionState === "failed" && !this.polite) this.pc.restartIce();
    });
    // Some browsers report a failed ICE check here before (or instead of) connectionState.
    this.pc.addEventListener("iceconnectionstatechange", () => this.events.state(this));
    if (initiator) this.#attachCamera();
    if (initiator && this.local.screenTrack) this.setScreen(this.local.screenTrack);
  }

  get state() {
    return this.pc.connectionState;
  }

  // ICE or the whole connection gave up: no picture or sound without a restart.
  get failed() {
    return this.pc.connectionState === "failed" || this.pc.iceConnectionState === "failed";
  }

  async handleDescription(type, sdp) {
    // A description from another RTCPeerConnection than before (the other side reloaded, or
    // started afresh) cannot continue this one: the caller starts a new connection instead.
    const session = /^o=\S+ (\S+)/m.exec(sdp)?.[1] ?? null;
    if (this.remoteSession && session && session !== this.remoteSession) throw new NewSession();
    const readyForOffer =
      !this.makingOffer && (this.pc.signalingState === "stable" || this.settingRemoteAnswer);
    const collision = type === "offer" && !readyForOffer;
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    this.settingRemoteAnswer = type === "answer";
    try {
      await this.pc.setRemoteDescription({ type, sdp });
    } finally {
      this.settingRemoteAnswer = false;
    }
    this.remoteSession = session;
    if (type === "offer") {
      this.#attachCamera();
      await this.pc.setLocalDescription();
      this.send({ type: "answer", to: this.id, sdp: this.pc.localDescription.sdp });
      // A newcomer gets the screen that is already being shared.
      if (this.local.screenTrack && !this.screenTransceiver) this.setScreen(this.local.screenTrack);
    }
  }

  async handleCandidate(candidate) {
    if (!candidate) return;
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (error) {
      if (!this.ignoreOffer) throw error;
    }
  }

  replaceTrack(kind, track) {
    const sender = this.cameraSenders[kind];
    if (sender) sender.replaceTrack(track).catch(() => {});
  }

  setScreen(track) {
    if (this.closed) return;
    if (!this.screenTransceiver) {
      if (!track) return;
      this.screenTransceiver = this.pc.addTransceiver(track, {
        direction: "sendonly",
        streams: [this.local.screenStream],
      });
      return;
    }
    this.screenTransceiver.sender.replaceTrack(track).catch(() => {});
    this.screenTransceiver.direction = track ? "sendonly" : "inactive";
  }

  restartIce() {
    if (!this.closed) this.pc.restartIce();
  }

  async stats() {
    return this.pc.getStats();
  }

  close() {
    this.closed = true;
    this.pc.close();
  }

  async #offer() {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.send({ type: this.pc.localDescription.type, to: this.id, sdp: this.pc.localDescription.sdp });
    } catch (error) {
      console.warn("offer failed", error);
    } finally {
      this.makingOffer = false;
    }
  }

  // Our camera and microphone on the first audio and video transceiver: added by us as the
  // initiator, or the ones the other side's first offer created.
  #attachCamera() {
    for (const kind of ["audio", "video"]) {
      if (this.cameraSenders[kind]) continue;
      const track = this.local.track(kind);
      const offered = this.pc
        .getTransceivers()
        .find((t) => t.receiver.track.kind === kind && t !== this.screenTransceiver && !t.sender.track);
      if (offered) {
        offered.direction = "sendrecv";
        offered.sender.setStreams(this.local.cameraStream);
        if (track) offered.sender.replaceTrack(track).catch(() => {});
        this.cameraSenders[kind] = offered.sender;
      } else {
        this.cameraSenders[kind] = this.pc.addTransceiver(track || kind, {
          direction: "sendrecv",
          streams: [this.local.cameraStream],
        }).sender;
      }
    }
  }

  #track(event) {
    const stream = event.streams[0] || new MediaStream([event.track]);
    // The other side's camera stream arrives first; any other stream is its screen.
    if (this.cameraStreamId === null) this.cameraStreamId = stream.id;
    const kind = stream.id === this.cameraStreamId ? "camera" : "screen";
    if (kind === "camera") this.cameraStream = stream;
    else this.screenStream = stream;
    const changed = () => this.events.track(this, kind, stream);
    stream.addEventListener("removetrack", changed);
    event.track.addEventListener("unmute", changed);
    event.track.addEventListener("mute", changed);
    changed();
  }
}
