// The room page before "Join": after the citizen's first gesture (typing the name), the
// microphone level meter moves with Firefox's fake microphone (a steady tone).
import { answer, argument, launch, officePage } from './firefox.mjs';

const args = argument();

// Every AudioContext the page makes, to act once the meter has one, as a citizen would.
const RECORD_AUDIO_CONTEXTS = () => {
  window.__audioContexts = [];
  const Original = window.AudioContext;
  window.AudioContext = function (...rest) {
    const context = new Original(...rest);
    window.__audioContexts.push(context);
    return context;
  };
  window.AudioContext.prototype = Original.prototype;
};

const LEVEL = () => Number(document.getElementById('level').getAttribute('aria-valuenow'));

await answer(async () => {
  const browser = await launch({ lang: 'en' });
  const problems = [];
  try {
    const page = await officePage(browser, args.officeNow, problems);
    await page.evaluateOnNewDocument(RECORD_AUDIO_CONTEXTS);
    await page.goto(args.guestUrl);
    await page.waitForSelector('#join:not([disabled])');
    // The gesture comes after the meter started listening: the order of a real visit.
    await page.waitForFunction(() => window.__audioContexts.length > 0);
    const stateBefore = await page.evaluate(() => window.__audioContexts.at(-1).state);
    await page.click('#display-name');
    await page.keyboard.type(args.name);
    let moved = true;
    try {
      await page.waitForFunction(LEVEL, { timeout: 10000 });
    } catch {
      moved = false;
    }
    return {
      moved,
      level: await page.evaluate(LEVEL),
      states: [stateBefore, await page.evaluate(() => window.__audioContexts.at(-1).state)],
      joinVisible: await page.$eval('#prejoin', (e) => !e.hidden),
      problems,
    };
  } finally {
    await browser.close();
  }
});
