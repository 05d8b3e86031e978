// Debian's Firefox ESR through puppeteer-core over WebDriver BiDi (a stock Firefox needs no
// patched build), with the office clock of tests/office_clock.py in every page.
import puppeteer from 'puppeteer-core';

export const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';

const PREFS = {
  // Tab reaches links and buttons as well as form fields, whatever the platform's default.
  'accessibility.tabfocus': 7,
  // Fake camera and microphone, and no prompt: no permission prompt for them, and no picker
  // for getDisplayMedia either (Firefox then shares the whole screen, the Xvfb display).
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // Host candidates as plain addresses, not mDNS names sent to the local network.
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  // Nothing in the background: tests stay on loopback.
  'network.dns.disableIPv6': true,
  'app.update.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
};

// The server runs on the office clock; the page's Date is moved by the same offset, so the
// scripts agree with it (Firefox has no clock control over BiDi, unlike Playwright's clock).
function moveTheClock(offset) {
  const RealDate = Date;
  const now = () => RealDate.now() + offset;
  class OfficeDate extends RealDate {
    constructor(...args) {
      if (args.length) super(...args);
      else super(now());
    }
    static now() {
      return now();
    }
  }
  globalThis.Date = OfficeDate;
}

export async function launch({ lang = 'de', headless = true, prefs = {}, env } = {}) {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless,
    env: env || process.env,
    extraPrefsFirefox: {
      ...PREFS,
      'intl.accept_languages': lang === 'de' ? 'de-DE,de' : 'en-GB,en',
      ...prefs,
    },
  });
}

// A page on the office clock (officeNow: its epoch milliseconds, or null for the real time)
// whose script errors are collected in `problems`.
export async function officePage(browser, officeNow, problems) {
  const page = await browser.newPage();
  page.setDefaultTimeout(15000);
  if (officeNow) {
    await page.evaluateOnNewDocument(moveTheClock, officeNow - Date.now());
  }
  page.on('pageerror', (error) => problems.push(`script error: ${error.message || error}`));
  return page;
}

// The script's only argument is a JSON object; its answer is one JSON line on stdout.
export function argument() {
  return JSON.parse(process.argv[2]);
}

export async function answer(work) {
  try {
    console.log(JSON.stringify(await work()));
  } catch (error) {
    console.error(error.stack || String(error));
    process.exit(1);
  }
}
