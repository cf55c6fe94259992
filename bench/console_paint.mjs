// First meaningful paint of "my customers" (bench/console_bench.sh): a rep,
// signed in, opens the console's address; the time from the navigation's
// start to the first row of her customers on screen, in Debian's Chromium.
// First with nothing cached, then RUNS times more in a new tab each (the
// browser's cache kept, as for a person coming back). Prints one JSON line.
//
// Environment: CONSOLE_URL, WEB_MODULES, TOKEN, RUNS (default 10).
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.WEB_MODULES, 'noop.js'));
const { chromium } = require('playwright-core');
const url = process.env.CONSOLE_URL;
const runs = Number(process.env.RUNS || 10);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
const signIn = await context.request.post(url + '/auth/sign-in', { data: { token: process.env.TOKEN } });
if (!signIn.ok()) throw new Error(`sign-in: ${signIn.status()}`);
const times = [];
let cold = 0;
for (let i = 0; i < runs + 1; i++) {
  const page = await context.newPage();
  await page.goto(url + '/#/customers', { waitUntil: 'commit' });
  // Checked at every animation frame, in the page: the time (since the
  // navigation started) of the first frame that shows a customer.
  const ms = await (await page.waitForFunction(
    () => document.querySelector('#customers tbody tr') && performance.now(),
    null, { polling: 'raf', timeout: 30000 })).jsonValue();
  if (i === 0 && process.env.TRACE) {
    console.error(JSON.stringify(await page.evaluate(() => performance.getEntries().map((e) => ({
      name: e.name.replace(location.origin, ''), type: e.entryType, start: Math.round(e.startTime),
      end: Math.round(e.startTime + e.duration),
    })))));
  }
  if (i === 0) cold = ms; // the first visit: nothing cached yet
  else times.push(ms);
  await page.close();
}
await browser.close();
times.sort((a, b) => a - b);
console.log(JSON.stringify({
  first_visit_ms: Math.round(cold), runs, median_ms: Math.round(times[Math.floor(runs / 2)]),
  max_ms: Math.round(times[runs - 1]),
}));
