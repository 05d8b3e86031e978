// The citizen's side of a call, in Firefox: join through the guest link, wait to be let in,
// see the host's camera, share the screen. Prints one JSON line per event; after "sharing" it
// keeps sharing until a line arrives on stdin, then answers the bytes its connections moved.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { argument, launch, officePage } from './firefox.mjs';

const args = argument();
const say = (event) => console.log(JSON.stringify(event));

const RECORD_PEER_CONNECTIONS = () => {
  window.__peerConnections = [];
  const Original = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...rest) {
    const pc = new Original(...rest);
    window.__peerConnections.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
};

// The bytes moved by every open connection, by direction and kind, and the candidate types.
const TRAFFIC = async () => {
  const traffic = { inbound: { audio: 0, video: 0 }, outbound: { audio: 0, video: 0 }, candidates: [] };
  for (const pc of window.__peerConnections) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp') traffic.inbound[s.kind] += s.bytesReceived;
      if (s.type === 'outbound-rtp') traffic.outbound[s.kind] += s.bytesSent;
      if (s.type === 'local-candidate') traffic.candidates.push(`${s.candidateType} ${s.address}`);
    });
  }
  return traffic;
};

const STATE = readFileSync(new URL('../call_state.js', import.meta.url), 'utf8');

const PLAYING = (selector) => {
  const video = document.querySelector(selector);
  return Boolean(video && video.videoWidth > 0 && video.currentTime > 0);
};

const stdin = createInterface({ input: process.stdin });
const released = new Promise((resolve) => {
  stdin.once('line', resolve);
  stdin.once('close', resolve);
});

const browser = await launch({ lang: 'en', headless: false });
const problems = [];
try {
  const page = await officePage(browser, args.officeNow, problems);
  page.setDefaultTimeout(60000);
  await page.evaluateOnNewDocument(RECORD_PEER_CONNECTIONS);
  await page.goto(args.guestUrl);
  await page.waitForSelector('#join:not([disabled])');
  await page.$eval('#display-name', (e) => { e.value = ''; });
  await page.type('#display-name', args.name);
  await page.click('#join');
  say({ event: 'knocking' });
  await page.waitForSelector('#call:not([hidden])');
  await page.waitForFunction(PLAYING, {}, "#stage video[data-kind='camera']");
  say({ event: 'in the call', userAgent: await browser.userAgent() });
  await page.click('#toggle-screen');
  await page.waitForSelector('#toggle-screen[aria-pressed="true"]');
  await page.waitForFunction(PLAYING, {}, '#self-screen');
  say({ event: 'sharing' });
  await released;
  say({ event: 'done', traffic: await page.evaluate(TRAFFIC), problems });
} catch (error) {
  console.error(error.stack || String(error));
  const page = (await browser.pages()).at(-1);
  console.error(`the citizen's side: ${JSON.stringify(await page.evaluate(`(${STATE})()`).catch(String))}`);
  process.exitCode = 1;
} finally {
  stdin.close();
  await browser.close();
}
