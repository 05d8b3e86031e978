// A page's calls, for the message of a failed test: each recorded connection's states and
// counters, and the state of every video. One expression, evaluated by Playwright (Chromium)
// and by puppeteer (Firefox); the page must record its connections in window.__peerConnections.
async () => {
  const connections = [];
  for (const pc of window.__peerConnections) {
    const stats = [];
    (await pc.getStats()).forEach((s) => {
      if (['inbound-rtp', 'outbound-rtp', 'candidate-pair'].includes(s.type)) {
        const { type, kind, bytesReceived, bytesSent, framesDecoded, state, nominated } = s;
        stats.push({ type, kind, bytesReceived, bytesSent, framesDecoded, state, nominated });
      }
    });
    connections.push({
      connection: pc.connectionState,
      ice: pc.iceConnectionState,
      signaling: pc.signalingState,
      transceivers: pc.getTransceivers().map((t) => ({
        mid: t.mid,
        direction: t.currentDirection,
        track: t.receiver.track && `${t.receiver.track.kind} ${t.receiver.track.readyState} muted=${t.receiver.track.muted}`,
      })),
      stats,
    });
  }
  const videos = [...document.querySelectorAll('video')].map((v) => ({
    id: v.id || `${v.dataset.peer}/${v.dataset.kind}`,
    paused: v.paused,
    readyState: v.readyState,
    width: v.videoWidth,
    time: v.currentTime,
    error: v.error && v.error.message,
    tracks: v.srcObject ? v.srcObject.getTracks().map((t) => `${t.kind} ${t.readyState} muted=${t.muted}`) : null,
  }));
  return { connections, videos };
}
