// The booking flow of test_booking_flow.py in Firefox, keys only: start page -> concern ->
// channel -> some weeks ahead -> the first time -> details -> confirmation.
import { answer, argument, launch, officePage } from './firefox.mjs';

const MAX_TABS = 150;
const args = argument();

function focused(page) {
  return page.evaluate(() => {
    const e = document.activeElement;
    return {
      tag: e.tagName.toLowerCase(), id: e.id || '', type: e.type || '',
      href: e.getAttribute('href') || '', text: (e.innerText || '').trim(),
      cls: e.className || '',
    };
  });
}

async function tabTo(page, match, { backwards = false } = {}) {
  for (let i = 0; i < MAX_TABS; i++) {
    if (backwards) await page.keyboard.down('Shift');
    await page.keyboard.press('Tab');
    if (backwards) await page.keyboard.up('Shift');
    const element = await focused(page);
    if (match(element)) return element;
  }
  throw new Error(`the keyboard never reached the element on ${page.url()}`);
}

async function pressAndWait(page, key = 'Enter') {
  await Promise.all([page.waitForNavigation(), page.keyboard.press(key)]);
}

const text = (page, selector) => page.$eval(selector, (e) => e.innerText);

async function book(page) {
  const steps = [];
  await page.goto(`${args.baseUrl}/`);
  steps.push(await text(page, '.steps__count'));
  const href = await page.evaluate((concern) => {
    for (const card of document.querySelectorAll('.concern')) {
      if (card.querySelector('h2, h3')?.innerText.trim() === concern) {
        return card.querySelector('a').getAttribute('href');
      }
    }
    return null;
  }, args.concern);
  if (!href) throw new Error(`no concern ${args.concern}`);
  await tabTo(page, (e) => e.href === href);
  await pressAndWait(page);

  await tabTo(page, (e) => e.type === 'radio');
  // Arrow keys move through a radio group and select; Space selects the focused one.
  for (let i = 0; i < 3 && (await focused(page)).id !== `channel-${args.channel}`; i++) {
    await page.keyboard.press('ArrowDown');
  }
  await page.keyboard.press(' ');
  const channelChecked = await page.$eval(`#channel-${args.channel}`, (e) => e.checked);
  await tabTo(page, (e) => e.tag === 'button');
  await pressAndWait(page);

  steps.push(await text(page, '.steps__count'));
  for (let i = 0; i < args.weeksAhead; i++) {
    await tabTo(page, (e) => e.text.startsWith(args.nextWeek));
    await pressAndWait(page);
  }
  await tabTo(page, (e) => e.cls === 'slot');
  await pressAndWait(page);

  steps.push(await text(page, '.steps__count'));
  await tabTo(page, (e) => e.id === 'field-name');
  await page.keyboard.type('Erika Mustermann');
  await page.keyboard.press('Tab');
  const afterName = (await focused(page)).id;
  await page.keyboard.type(args.email);
  await page.keyboard.press('Tab');
  await page.keyboard.type('0391 123456');
  await tabTo(page, (e) => e.id === 'field-consent');
  await page.keyboard.press(' ');
  const consentChecked = await page.$eval('#field-consent', (e) => e.checked);
  // Back up to an earlier field and forward again: Shift+Tab works too.
  await tabTo(page, (e) => e.id === 'field-notes', { backwards: true });
  await page.keyboard.type('Bitte mit Unterlagen.');
  await tabTo(page, (e) => e.text.startsWith(args.book));
  await pressAndWait(page);

  steps.push(await text(page, '.steps__count'));
  return {
    steps,
    channelChecked,
    afterName,
    consentChecked,
    heading: await text(page, 'h1'),
    reference: await text(page, '.reference--large'),
    main: await text(page, 'main'),
  };
}

await answer(async () => {
  const browser = await launch({ lang: args.lang });
  const problems = [];
  try {
    const page = await officePage(browser, args.officeNow, problems);
    return { ...(await book(page)), problems, userAgent: await browser.userAgent() };
  } finally {
    await browser.close();
  }
});
