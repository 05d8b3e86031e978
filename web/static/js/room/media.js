// The local camera, microphone and screen: one MediaStream for camera and microphone (its id
// tells the others which incoming video is the face) and one for the screen.

export class MediaProblem extends Error {
  constructor(key) {
    super(key);
    this.key = key; // a text key of the page: permission_denied, no_device, ...
  }
}

function problemKey(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "permission_denied";
    case "NotFoundError":
    case "OverconstrainedError":
      return "no_device";
    case "NotReadableError":
    case "AbortError":
      return "device_busy";
    default:
      return "media_error";
  }
}

export function webrtcSupported() {
  return Boolean(
    window.RTCPeerConnection && navigator.mediaDevices && navigator.mediaDevices.getUserMedia,
  );
}

export class LocalMedia {
  constructor() {
    this.cameraStream = new MediaStream();
    this.screenStream = new MediaStream();
    this.screenTrack = null;
    this.audioEnabled = true;
    this.videoEnabled = true;
    this.listeners = new Set(); // called with (kind, track) when a track is replaced
  }

  track(kind) {
    return (kind === "audio" ? this.cameraStream.getAudioTracks() : this.cameraStream.getVideoTracks())[0] || null;
  }

  onTrackChange(listener) {
    this.listeners.add(listener);
  }

  // Camera and microphone together; if one of them is missing or refused, the other alone.
  async start() {
    let firstError = null;
    for (const constraints of [{ audio: true, video: true }, { audio: true }, { video: true }]) {
      try {
        const stream = await navigator.mediaDevices.getUserMedia(constraints);
        for (const track of stream.getTracks()) this.#put(track);
        return;
      } catch (error) {
        firstError = firstError || error;
        if (error.name === "NotAllowedError" || error.name === "SecurityError") break;
      }
    }
    throw new MediaProblem(problemKey(firstError));
  }

  async devices() {
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      audio: all.filter((d) => d.kind === "audioinput" && d.deviceId),
      video: all.filter((d) => d.kind === "videoinput" && d.deviceId),
    };
  }

  currentDevice(kind) {
    const track = this.track(kind);
    return track ? track.getSettings().deviceId || "" : "";
  }

  async useDevice(kind, deviceId) {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ [kind]: { deviceId: { exact: deviceId } } });
    } catch (error) {
      throw new MediaProblem(problemKey(error));
    }
    this.#put(stream.getTracks()[0]);
  }

  setEnabled(kind, enabled) {
    if (kind === "audio") this.audioEnabled = enabled;
    else this.videoEnabled = enabled;
    const track = this.track(kind);
    if (track) track.enabled = enabled;
  }

  async startScreen(onEnded) {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    // Documents are read, not watched: keep text sharp rather than motion smooth.
    if ("contentHint" in track) track.contentHint = "detail";
    track.addEventListener("ended", onEnded, { once: true });
    for (const old of this.screenStream.getTracks()) this.screenStream.removeTrack(old);
    this.screenStream.addTrack(track);
    this.screenTrack = track;
    return track;
  }

  stopScreen() {
    const track = this.screenTrack;
    this.screenTrack = null;
    if (track) {
      track.stop();
      this.screenStream.removeTrack(track);
    }
  }

  stop() {
    for (const track of this.cameraStream.getTracks()) track.stop();
    this.stopScreen();
  }

  #put(track) {
    const old = this.track(track.kind);
    if (old) {
      this.cameraStream.removeTrack(old);
      old.stop();
    }
    track.enabled = track.kind === "audio" ? this.audioEnabled : this.videoEnabled;
    this.cameraStream.addTrack(track);
    for (const listener of this.listeners) listener(track.kind, track);
  }
}

// The microphone level as a number from 0 to 100, read a few times a second.
export class LevelMeter {
  constructor(onLevel) {
    this.onLevel = onLevel;
    this.context = null;
    this.source = null;
    this.timer = null;
    this.gesture = false;
  }

  attach(track) {
    if (!track || !(window.AudioContext || window.webkitAudioContext)) return;
    if (!this.context) {
      this.context = new (window.AudioContext || window.webkitAudioContext)();
      this.analyser = this.context.createAnalyser();
      this.analyser.fftSize = 512;
      this.samples = new Float32Array(this.analyser.fftSize);
    }
    if (this.source) this.source.disconnect();
    this.source = this.context.createMediaStreamSource(new MediaStream([track]));
    this.source.connect(this.analyser);
    if (this.gesture) this.resume(); // a gesture came before the microphone was ready
    if (!this.timer) this.timer = setInterval(() => this.#measure(), 150);
  }

  // Called on a user gesture: only then may a suspended context start.
  resume() {
    this.gesture = true;
    if (this.context && this.context.state === "suspended") this.context.resume().catch(() => {});
  }

  #measure() {
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const sample of this.samples) sum += sample * sample;
    const rms = Math.sqrt(sum / this.samples.length);
    // Speech sits around -30 dBFS; map -60..0 dBFS onto 0..100.
    const db = 20 * Math.log10(rms || 1e-8);
    this.onLevel(Math.max(0, Math.min(100, Math.round(((db + 60) / 60) * 100))));
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.context) this.context.close().catch(() => {});
    this.context = null;
  }
}
