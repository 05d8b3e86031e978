// The video room: pre-join (preview, devices, level, name), the waiting room, the call, and
// for hosts the side panel. Signaling follows docs/signaling.md.

import { CallHelp } from "./callhelp.js";
import { DocumentsPanel } from "./documents.js";
import { HostPanel } from "./host.js";
import { LevelMeter, LocalMedia, webrtcSupported } from "./media.js";
import { NewSession, PeerLink } from "./peer.js";
import { DraftSender, LiveDrafts } from "./rtt.js";
import { Signaling } from "./signaling.js";
import { Stage } from "./stage.js";
import { loadTexts, readConfig } from "./texts.js";

const config = readConfig("room-config");
const t = loadTexts("room-texts");
const $ = (id) => document.getElementById(id);
const isHost = config.role === "host";
const SECTIONS = ["prejoin", "waiting", "call", "ended"];
const STATS_INTERVAL_MS = 2000;
const REJOIN_GRACE_MS = 20000;

const local = new LocalMedia();
const links = new Map();
const departed = new Map(); // id -> {link, timer}: left, but may come back with an ICE restart
const stage = new Stage($("stage"), $("alone"), t);
const callHelp = new CallHelp({
  links,
  send: (message) => signaling && signaling.send(message),
  announce: (text) => announce(text),
  t,
  isHost,
  box: $("call-help"),
  text: $("call-help-text"),
  retry: $("call-retry"),
  changed: () => connectionChanged(),
});
let signaling = null;
let me = null;
let iceServers = [];
let inCall = false;
let host = null;
let statsTimer = null;
const documentsPanel = $("documents")
  ? new DocumentsPanel({
      listUrl: config.documentsUrl,
      uploadUrl: config.uploadUrl,
      send: (message) => signaling && signaling.send(message),
    })
  : null;

function announce(text) {
  const status = $("status");
  // The same text twice in a row would not be read again.
  status.textContent = status.textContent === text ? `${text}\u00a0` : text;
}

function showAlert(text) {
  $("alert").textContent = text || "";
  $("alert").hidden = !text;
}

function show(section, focus) {
  for (const id of SECTIONS) $(id).hidden = id !== section;
  if (focus) $(focus).focus();
}

// -- before joining ---------------------------------------------------------------------------

const meter = new LevelMeter((level) => {
  const word = level < 10 ? "level_silent" : level < 35 ? "level_quiet" : level < 80 ? "level_good" : "level_loud";
  $("level-bar").style.width = `${level}%`;
  const meterElement = $("level");
  const rounded = String(Math.round(level / 10) * 10);
  if (meterElement.getAttribute("aria-valuenow") !== rounded) {
    meterElement.setAttribute("aria-valuenow", rounded);
    meterElement.setAttribute("aria-valuetext", t(word));
    $("level-text").textContent = t(word);
  }
});

async function fillDevices() {
  let devices;
  try {
    devices = await local.devices();
  } catch {
    devices = { audio: [], video: [] };
  }
  for (const [kind, selectId, none] of [
    ["video", "camera-select", "camera_none"],
    ["audio", "microphone-select", "microphone_none"],
  ]) {
    const select = $(selectId);
    const current = local.currentDevice(kind);
    const options = devices[kind].map((device, index) => {
      const option = new Option(device.label || t("device_unnamed", { number: index + 1 }), device.deviceId);
      option.selected = device.deviceId === current;
      return option;
    });
    if (!options.length) options.push(new Option(t(none), ""));
    select.replaceChildren(...options);
    select.disabled = !devices[kind].length;
  }
}

function showPreview() {
  const hasVideo = Boolean(local.track("video"));
  // A video element waiting for a stream that never brings a picture would hold up the
  // page's load event for good.
  const stream = hasVideo ? local.cameraStream : null;
  for (const id of ["preview", "self-view"]) {
    $(id).srcObject = stream;
    $(id).hidden = !hasVideo;
  }
  $("preview-off").hidden = hasVideo;
}

local.onTrackChange((kind, track) => {
  showPreview();
  if (kind === "audio" && !inCall) meter.attach(track);
  for (const link of links.values()) link.replaceTrack(kind, track);
});

for (const [selectId, kind] of [
  ["camera-select", "video"],
  ["microphone-select", "audio"],
]) {
  $(selectId).addEventListener("change", async (event) => {
    try {
      await local.useDevice(kind, event.target.value);
      showAlert("");
    } catch (problem) {
      showAlert(t(problem.key || "media_error"));
    }
  });
}

async function prepare() {
  $("room").hidden = false;
  if (!webrtcSupported()) {
    showAlert(t("no_webrtc"));
    $("prejoin").hidden = true;
    return;
  }
  announce(t("loading"));
  try {
    await local.start();
    announce(t("ready"));
  } catch (problem) {
    showAlert(t(problem.key || "media_error"));
    announce(t("ready_no_media"));
  }
  showPreview();
  meter.attach(local.track("audio"));
  await fillDevices();
}

// Browsers (Firefox above all) keep an AudioContext made without a user gesture suspended, and
// the level meter would stay at 0 until "Join": any click or key press before that resumes it.
for (const type of ["pointerdown", "keydown"]) {
  document.addEventListener(type, () => meter.resume(), { capture: true });
}

// -- joining ----------------------------------------------------------------------------------

$("join").addEventListener("click", () => {
  $("join").disabled = true;
  meter.resume();
  announce(t("joining"));
  signaling = new Signaling({
    ticketUrl: config.ticketUrl,
    path: config.signalingPath,
    name: isHost ? "" : $("display-name").value.trim(),
    handlers: { message: onMessage, state: onState, notOpen: onNotOpen, ended: onEnded },
  });
  signaling.start();
});

function onState(state) {
  if (state === "reconnecting") {
    announce(t(inCall ? "reconnecting" : "unreachable"));
    $("connection-state").textContent = t("state_interrupted");
  }
}

function onNotOpen(detail) {
  announce(`${detail} ${t("not_open_retry")}`);
}

function onEnded(textKey) {
  clearInterval(statsTimer);
  for (const link of links.values()) link.close();
  links.clear();
  for (const { link, timer } of departed.values()) {
    clearTimeout(timer);
    link.close();
  }
  departed.clear();
  callHelp.clear();
  stage.clear();
  local.stop();
  meter.stop();
  $("ended-message").textContent = t(textKey);
  $("rejoin").hidden = !["ended_left", "ended_replaced"].includes(textKey);
  showAlert("");
  show("ended", "ended-heading");
  announce(t(textKey));
}

$("rejoin").addEventListener("click", () => location.reload());
for (const button of document.querySelectorAll('[data-action="leave"]')) {
  button.addEventListener("click", () => (signaling ? signaling.leave() : onEnded("ended_left")));
}

function onMessage(message) {
  switch (message.type) {
    case "welcome":
      me = { id: message.id, role: message.role, name: message.name };
      iceServers = message.ice_servers || [];
      if (host) host.welcome(message);
      if (message.state === "waiting") {
        // Back in the waiting room after a reconnect (the server forgot the admission).
        for (const link of links.values()) link.close();
        links.clear();
        stage.clear();
        inCall = false;
        show("waiting", "waiting-heading");
        announce(t("waiting"));
      } else {
        enterCall(message.participants || []);
        if (documentsPanel) documentsPanel.entered(message.document);
      }
      // Back after a reconnect: the drafts shown may have been sent or dropped meanwhile.
      drafts.clear();
      if (message.state === "inside") draftSender.resend();
      break;
    case "admitted":
      iceServers = message.ice_servers || [];
      announce(t("admitted"));
      enterCall(message.participants || []);
      if (documentsPanel) documentsPanel.entered(message.document);
      break;
    case "knock":
      if (host) host.knock(message.participant);
      break;
    case "waiting-left":
      if (host) host.waitingLeft(message.id);
      break;
    case "peer-joined":
      peerJoined(message.peer, message.polite);
      draftSender.resend();
      break;
    case "peer-left":
      peerLeft(message.id);
      drafts.remove(message.id);
      break;
    case "offer":
    case "answer":
      description(message);
      break;
    case "candidate": {
      const link = links.get(message.from);
      if (link) link.handleCandidate(message.candidate).catch(() => {});
      break;
    }
    case "media":
      mediaChanged(message);
      break;
    case "chat":
      chatReceived(message);
      break;
    case "typing":
      drafts.show(message.from, message.name, message.text);
      break;
    case "doc":
      if (documentsPanel) documentsPanel.received(message);
      break;
    case "media-failed":
      callHelp.reported(message.from);
      connectionChanged();
      break;
    case "error":
      console.warn("signaling error", message.code, message.message);
      break;
    default:
      break;
  }
}

// -- the call ---------------------------------------------------------------------------------

function createLink(peer, polite, initiator) {
  const link = new PeerLink({
    peer,
    polite,
    initiator,
    iceServers,
    iceTransportPolicy: config.iceTransportPolicy,
    local,
    send: (message) => signaling.send(message),
    events: {
      track: (l) => stage.update(l),
      state: (l) => {
        callHelp.linkChanged(l);
        connectionChanged();
      },
    },
  });
  links.set(peer.id, link);
  callHelp.watch(link);
  stage.update(link);
  connectionChanged();
  return link;
}

function enterCall(participants) {
  const again = inCall;
  inCall = true;
  $("call-devices").append($("device-settings"));
  meter.stop(); // the meter is part of the check before joining
  show("call", again ? null : "call-heading");
  announce(again ? t("reconnected") : t(isHost ? "host_inside" : "inside"));
  const present = new Set(participants.map((p) => p.id));
  for (const [id, link] of links) {
    if (!present.has(id)) {
      link.close();
      links.delete(id);
      stage.remove(id);
    }
  }
  // We are the newcomer: we offer to everyone; links that survived a reconnect restart ICE.
  for (const participant of participants) {
    const link = links.get(participant.id);
    if (link) {
      link.polite = participant.polite;
      link.restartIce();
    } else {
      createLink(participant, participant.polite, true);
    }
  }
  sendMedia();
  connectionChanged();
  clearInterval(statsTimer);
  statsTimer = setInterval(measureQuality, STATS_INTERVAL_MS);
}

function peerJoined(peer, polite) {
  if (host) host.joined(peer);
  let link = links.get(peer.id);
  const wasInside = Boolean(link);
  const kept = departed.get(peer.id);
  if (!link && kept) {
    clearTimeout(kept.timer);
    departed.delete(peer.id);
    link = kept.link;
    links.set(peer.id, link);
  }
  if (!link || link.state === "failed" || link.state === "closed") {
    if (link) {
      link.close();
      stage.remove(peer.id);
    }
    createLink(peer, polite, false);
  } else {
    // It only reconnected its signaling: it restarts ICE on the connection we still have,
    // or, if it started afresh, its offer says so and we follow (see `description`).
    link.polite = polite;
    link.name = peer.name;
    if (peer.media) link.media = peer.media;
    stage.update(link);
  }
  if (!wasInside) announce(t("peer_joined", { name: peer.name }));
  connectionChanged();
}

function peerLeft(id) {
  const link = links.get(id);
  if (host) host.left(id);
  if (!link) return;
  links.delete(id);
  stage.remove(id);
  announce(t("peer_left", { name: link.name }));
  if (link.state === "connected") {
    // Perhaps only its signaling dropped while media still flows: keep the connection for a
    // while, so that it can come back with an ICE restart instead of starting over.
    const timer = setTimeout(() => {
      departed.delete(id);
      link.close();
    }, REJOIN_GRACE_MS);
    departed.set(id, { link, timer });
  } else {
    link.close();
  }
  connectionChanged();
}

async function description(message) {
  let link = links.get(message.from);
  if (!link) return;
  try {
    await link.handleDescription(message.type, message.sdp);
  } catch (error) {
    // The other side started a new connection (a reload), or its description does not fit
    // ours: start afresh with it. After an answer we offer anew; an offer we answer.
    if (!(error instanceof NewSession)) console.warn("description failed, starting afresh", error);
    const peer = { id: link.id, name: link.name, role: link.role, media: link.media };
    link.close();
    stage.remove(link.id);
    link = createLink(peer, link.polite, message.type === "answer");
    if (message.type === "offer") await link.handleDescription("offer", message.sdp).catch(() => {});
  }
}

function mediaChanged(message) {
  const link = links.get(message.from);
  if (!link) return;
  // A peer that has not told its media state yet (the server sends `media: {}` until the
  // first update) counts as not sharing: its first update is no news unless it shares.
  const wasSharing = Boolean(link.media && link.media.screen);
  link.media = { audio: message.audio, video: message.video, screen: message.screen };
  stage.update(link);
  if (Boolean(message.screen) !== wasSharing) {
    announce(t(message.screen ? "peer_screen" : "peer_screen_stopped", { name: link.name }));
  }
}

function sendMedia() {
  if (!signaling) return;
  signaling.send({
    type: "media",
    audio: Boolean(local.track("audio")) && local.audioEnabled,
    video: Boolean(local.track("video")) && local.videoEnabled,
    screen: Boolean(local.screenTrack),
  });
}

function connectionChanged() {
  const states = [...links.values()].map((l) => l.state);
  let key = "state_connecting";
  if (!states.length) key = "state_alone";
  else if (states.every((s) => s === "connected")) key = "state_connected";
  else if (states.includes("failed")) key = "state_failed";
  else if (states.includes("disconnected")) key = "state_interrupted";
  $("connection-state").textContent = t(key);
  callHelp.update();
}

async function measureQuality() {
  let worst = null;
  for (const link of links.values()) {
    if (link.state !== "connected") continue;
    let report;
    try {
      report = await link.stats();
    } catch {
      continue;
    }
    let rtt = null;
    let lost = 0;
    let received = 0;
    let fps = null;
    report.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && s.currentRoundTripTime !== undefined) {
        rtt = s.currentRoundTripTime;
      } else if (s.type === "inbound-rtp") {
        lost += s.packetsLost || 0;
        received += s.packetsReceived || 0;
        if (s.kind === "video" && s.framesPerSecond !== undefined) fps = Math.max(fps || 0, s.framesPerSecond);
      }
    });
    const before = link.counted || { lost: 0, received: 0 };
    link.counted = { lost, received };
    const newLost = Math.max(lost - before.lost, 0);
    const newReceived = Math.max(received - before.received, 0);
    const loss = newLost + newReceived > 0 ? newLost / (newLost + newReceived) : 0;
    const level =
      rtt !== null && rtt < 0.25 && loss < 0.02 && (fps === null || fps >= 15)
        ? 0
        : (rtt === null || rtt < 0.5) && loss < 0.08 && (fps === null || fps >= 8)
          ? 1
          : 2;
    if (!worst || level > worst.level) worst = { level, rtt, loss, fps };
  }
  const quality = $("quality");
  if (!worst) {
    quality.dataset.level = "unknown";
    quality.textContent = t("quality_unknown");
    return;
  }
  const name = ["good", "fair", "poor"][worst.level];
  quality.dataset.level = name;
  quality.textContent = `${t(`quality_${name}`)} (${t("quality_detail", {
    rtt: worst.rtt === null ? "–" : Math.round(worst.rtt * 1000),
    loss: Math.round(worst.loss * 1000) / 10,
    fps: worst.fps === null ? "–" : Math.round(worst.fps),
  })})`;
}

// -- controls ---------------------------------------------------------------------------------

function toggle(button, pressed) {
  button.setAttribute("aria-pressed", String(pressed));
}

$("toggle-microphone").addEventListener("click", (event) => {
  const enable = !local.audioEnabled;
  local.setEnabled("audio", enable);
  toggle(event.currentTarget, !enable);
  sendMedia();
});

$("toggle-camera").addEventListener("click", (event) => {
  const enable = !local.videoEnabled;
  local.setEnabled("video", enable);
  toggle(event.currentTarget, !enable);
  sendMedia();
});

async function startSharing() {
  if (!navigator.mediaDevices.getDisplayMedia) {
    announce(t("share_unsupported"));
    return;
  }
  let track;
  try {
    track = await local.startScreen(stopSharing);
  } catch (error) {
    // Cancelling the browser's picker is a choice, not a failure.
    if (error.name !== "NotAllowedError") announce(t("share_failed"));
    return;
  }
  for (const link of links.values()) link.setScreen(track);
  $("self-screen").srcObject = local.screenStream;
  $("self-screen").hidden = false;
  toggle($("toggle-screen"), true);
  sendMedia();
  announce(t("share_started"));
}

function stopSharing() {
  if (!local.screenTrack) return;
  local.stopScreen();
  for (const link of links.values()) link.setScreen(null);
  $("self-screen").srcObject = null;
  $("self-screen").hidden = true;
  toggle($("toggle-screen"), false);
  sendMedia();
  announce(t("share_stopped"));
}

$("toggle-screen").addEventListener("click", () => (local.screenTrack ? stopSharing() : startSharing()));

// -- chat -------------------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(config.language, { hour: "2-digit", minute: "2-digit" });
const drafts = new LiveDrafts($("live-text-list"), $("live-text-none"), loadTexts("live-text-texts"));
const draftSender = new DraftSender((message) => Boolean(signaling && signaling.send(message)));

function chatReceived(message) {
  const item = document.createElement("li");
  const meta = document.createElement("span");
  meta.className = "chat__meta";
  const name = me && message.from === me.id ? t("you") : message.name;
  meta.textContent = t("chat_from", { name, time: timeFormat.format(new Date(message.at)) });
  const text = document.createElement("span");
  text.className = "chat__text";
  text.textContent = message.text;
  item.append(meta, " ", text);
  drafts.remove(message.from); // committed: the message replaces the draft
  $("chat-log").append(item);
  item.scrollIntoView({ block: "nearest" });
}

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("chat-input");
  const text = input.value.trim();
  if (text && signaling && signaling.send({ type: "chat", text })) {
    input.value = "";
    draftSender.committed();
  }
});

$("chat-input").addEventListener("input", (event) => draftSender.update(event.currentTarget.value));

$("chat-input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("chat-form").requestSubmit();
  }
});

if (isHost) {
  host = new HostPanel({ t, send: (m) => signaling && signaling.send(m), announce, inviteUrl: config.inviteUrl });
}
prepare();
