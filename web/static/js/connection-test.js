// The connection test: camera and microphone go to the server's echo peer
// (POST /api/v1/connection-test, one complete offer, no trickle) and come straight back. The
// page says for camera, microphone and connection whether they work, from getStats().
// Without a booking link the server wants a solved proof of work: the page then carries the
// ALTCHA widget, which solves one while the person reads, and the offer goes out with it in the
// header X-Altcha. A proof is accepted once, so each test takes a fresh one.

import { LocalMedia, webrtcSupported } from "./room/media.js";
import { loadTexts, readConfig } from "./room/texts.js";

const t = loadTexts("test-texts");
const config = readConfig("test-config");
const $ = (id) => document.getElementById(id);
const GATHERING_TIMEOUT_MS = 5000;
const RESULT_TIMEOUT_MS = 20000;
const FRAMES_NEEDED = 10;

let running = null; // {pc, local, sessionId, timer}
const widget = document.querySelector("altcha-widget");
let proof = null; // the widget's solved, unused proof
const proofWaiters = [];

widget?.addEventListener("statechange", (event) => {
  const { state, payload } = event.detail;
  proof = state === "verified" ? payload : null;
  if (state === "verified" || state === "error") {
    for (const resolve of proofWaiters.splice(0)) resolve();
  }
});

function status(text) {
  $("test-status").textContent = text;
}

function result(id, ok, text) {
  const element = $(id);
  element.dataset.result = ok === null ? "pending" : ok ? "ok" : "failed";
  element.textContent = text;
}

function summary(ok) {
  const box = $("test-summary");
  box.hidden = false;
  box.className = ok ? "notice notice--ok" : "notice";
  box.textContent = ok ? t("all_good") : t("some_problem", { phone: config.hotline });
}

// The proof for the next offer, null without the widget or when it failed. Usually solved
// already; otherwise the status line says that the check runs.
async function takeProof() {
  if (!widget || typeof widget.verify !== "function") return null;
  if (!proof && widget.getState() === "verified") {
    // Solved before this script listened: the widget keeps it in its hidden field.
    proof = widget.querySelector('input[name="altcha"]')?.value || null;
  }
  if (!proof) {
    status(t("checking"));
    const settled = new Promise((resolve) => proofWaiters.push(resolve));
    if (widget.getState() !== "verifying") widget.verify().catch(() => {});
    await settled;
  }
  const taken = proof;
  if (taken) widget.reset(); // used up by this test: the next one solves a fresh proof
  return taken;
}

async function gathered(pc) {
  if (pc.iceGatheringState === "complete") return;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHERING_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

function end() {
  if (!running) return;
  const { pc, local, sessionId, timer } = running;
  running = null;
  clearInterval(timer);
  pc.close();
  local.stop();
  if (sessionId) {
    fetch(`${config.offerUrl}/${encodeURIComponent(sessionId)}`, { method: "DELETE", keepalive: true }).catch(() => {});
  }
}

async function start() {
  const button = $("start-test");
  button.disabled = true;
  end();
  $("test-summary").hidden = true;
  for (const id of ["result-camera", "result-microphone", "result-connection"]) result(id, null, t("pending"));
  status(t("starting"));

  const local = new LocalMedia();
  let mediaProblem = null;
  try {
    await local.start();
  } catch (problem) {
    mediaProblem = problem.key;
  }
  const hasVideo = Boolean(local.track("video"));
  const hasAudio = Boolean(local.track("audio"));
  $("test-local").srcObject = local.cameraStream;
  const missing = mediaProblem === "permission_denied" ? "denied" : null;
  if (!hasVideo) result("result-camera", false, t(missing || "camera_missing"));
  if (!hasAudio) result("result-microphone", false, t(missing || "microphone_missing"));
  if (!hasVideo && !hasAudio) {
    result("result-connection", null, t("pending"));
    summary(false);
    status(t("done"));
    button.disabled = false;
    button.textContent = t("again");
    return;
  }

  const altcha = await takeProof();
  const pc = new RTCPeerConnection();
  running = { pc, local, sessionId: null, timer: null };
  for (const track of local.cameraStream.getTracks()) pc.addTrack(track, local.cameraStream);
  pc.addEventListener("track", (event) => {
    if (event.track.kind === "video") {
      $("test-echo").srcObject = event.streams[0] || new MediaStream([event.track]);
    }
  });

  status(t("connecting"));
  let answer;
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const headers = { "Content-Type": "application/json" };
    if (altcha) headers["X-Altcha"] = altcha;
    const response = await fetch(config.offerUrl, {
      method: "POST",
      headers,
      body: JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }),
    });
    answer = await response.json().catch(() => ({}));
    // 503: every echo session is taken; 429: this connection used its tests for the hour.
    if (response.status === 503 || response.status === 429) throw new Error("busy");
    // 403: no proof (the widget failed); 422 altcha_invalid: a proof the server refused.
    if (response.status === 403 || answer.code === "altcha_invalid") throw new Error("check");
    if (!response.ok) throw new Error("refused");
  } catch (error) {
    const problem = { busy: "busy", check: "check_failed" }[error.message] || "connection_failed";
    finish(false, t(problem));
    return;
  }
  running.sessionId = answer.session_id;
  await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  status(t("measuring"));

  const started = Date.now();
  running.timer = setInterval(async () => {
    if (!running || running.pc !== pc) return;
    const measured = await measure(pc);
    if (!running || running.pc !== pc) return; // finished while measuring
    const videoOk = !hasVideo || measured.frames >= FRAMES_NEEDED;
    const audioOk = !hasAudio || measured.audioPackets > 0;
    const timedOut = Date.now() - started > RESULT_TIMEOUT_MS || pc.connectionState === "failed";
    if ((videoOk && audioOk && measured.connected) || timedOut) {
      if (hasVideo) result("result-camera", measured.frames >= FRAMES_NEEDED, t(measured.frames >= FRAMES_NEEDED ? "camera_works" : "no_echo"));
      if (hasAudio) result("result-microphone", measured.audioPackets > 0, t(measured.audioPackets > 0 ? "microphone_works" : "no_echo"));
      const connected = measured.connected && (measured.frames > 0 || measured.audioPackets > 0);
      finish(
        connected && hasVideo && hasAudio && videoOk && audioOk,
        connected
          ? t("connection_works", { rtt: measured.rtt === null ? "–" : Math.round(measured.rtt * 1000), frames: measured.frames })
          : t("connection_failed"),
        connected,
      );
    }
  }, 1000);
}

function finish(allGood, connectionText, connected = false) {
  result("result-connection", connected, connectionText);
  summary(allGood);
  status(t("done"));
  end();
  const button = $("start-test");
  button.disabled = false;
  button.textContent = t("again");
}

async function measure(pc) {
  const report = await pc.getStats();
  let frames = 0;
  let audioPackets = 0;
  let rtt = null;
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
    if (s.type === "inbound-rtp" && s.kind === "audio") audioPackets += s.packetsReceived || 0;
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && s.currentRoundTripTime !== undefined) {
      rtt = s.currentRoundTripTime;
    }
  });
  return { frames, audioPackets, rtt, connected: pc.connectionState === "connected" };
}

$("test").hidden = false;
if (webrtcSupported()) {
  $("start-test").addEventListener("click", start);
} else {
  $("start-test").disabled = true;
  status(t("no_webrtc"));
}
window.addEventListener("pagehide", end);
