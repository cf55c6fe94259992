// The console's pages in Debian's Chromium, driven by playwright-core, against
// the daemons tests/python/console_browser_test.py started. Each step is a
// person doing their job; a failed expectation stops the run (exit 1).
//
// Environment: CONSOLE_URL, WEB_MODULES (build/web/node_modules), SCREENSHOTS,
// TOKENS (JSON principal → token), FR_CUSTOMER (a customer of France).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.WEB_MODULES, 'noop.js'));
const { chromium, request } = require('playwright-core');

const url = process.env.CONSOLE_URL;
const tokens = JSON.parse(process.env.TOKENS);
const shots = process.env.SCREENSHOTS;
const timeout = 20000;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
context.setDefaultTimeout(timeout);
const page = await context.newPage();
let step = '';
let expectResourceErrors = false;
const consoleErrors = [];
page.on('console', (m) => {
  if (m.type() !== 'error') return;
  if (expectResourceErrors && m.text().startsWith('Failed to load resource')) return;
  consoleErrors.push(`${step}: ${m.text()}`);
});
page.on('pageerror', (e) => consoleErrors.push(`${step}: ${e.message}`));

async function run(name, fn) {
  step = name;
  const t = Date.now();
  try {
    await fn();
  } catch (e) {
    await page.screenshot({ path: path.join(shots, 'FAILED.png'), fullPage: true }).catch(() => {});
    console.error(`console_test: step "${name}" failed: ${e.stack || e}`);
    await browser.close();
    process.exit(1);
  }
  console.log(`ok ${name} (${Date.now() - t} ms)`);
}
// Screenshots (docs/console.md shows them): the window, or the whole page.
const shot = (name, fullPage = false) =>
  page.screenshot({ path: path.join(shots, `${name}.jpg`), type: 'jpeg', quality: 75, fullPage });
const text = (selector) => page.locator(selector).first().innerText();
async function signIn(principal) {
  await page.goto(url + '/');
  await page.fill('#token', tokens[principal]);
  await page.click('button[type=submit]');
  await page.locator('header .me', { hasText: principal }).waitFor();
}
async function signOut() {
  await page.goto(url + '/#/me');
  await page.click('text=Sign out');
  await page.locator('#token').waitFor();
}

let refined = null; // {id, label}
let second = null;
let sessionCookie = '';

await run('the sign-in page refuses an unknown token and says what to do', async () => {
  await page.goto(url + '/');
  await shot('sign-in');
  expectResourceErrors = true; // the refused sign-in is a 401 the browser logs
  await page.fill('#token', 'not-a-token');
  await page.click('button[type=submit]');
  const error = await text('.error');
  expectResourceErrors = false;
  assert.match(error, /not signed in|token is not known/i);
  assert.doesNotMatch(error, /\b401\b/, 'no raw status code');
});

await run('a rep signs in and sees her customers, in her country\'s labels', async () => {
  await signIn('anna.rep');
  await page.locator('#customers tbody tr').first().waitFor();
  const rows = await page.locator('#customers tbody tr').count();
  assert.ok(rows >= 20, `a page of customers (${rows})`);
  const territories = await page.locator('#customers tbody tr .sub').allInnerTexts();
  assert.ok(territories.every((t) => t.includes('DE-North')), 'only her territory');
  const labels = await page.locator('#customers tbody tr td:nth-child(2)').allInnerTexts();
  const german = ['Früher Anwender', 'Evidenzorientiert', 'Pragmatiker', 'Zugangsbeschränkt', 'Konservativ', 'Noch nicht profiliert'];
  assert.ok(labels.some((l) => german.some((g) => l.includes(g))), `local labels: ${labels.slice(0, 3)}`);
  sessionCookie = (await context.cookies()).find((c) => c.name === 'harmonia_session')?.value;
  assert.ok(sessionCookie, 'a session cookie');
  await shot('my-customers');
});

await run('she finds a customer by name and reads the explanation', async () => {
  const first = page.locator('#customers tbody tr').nth(3);
  const name = (await first.locator('td a').innerText()).trim();
  const word = name.split(/\s+/).pop();
  await page.fill('#search', word);
  await page.locator('#customers tbody tr a', { hasText: name }).first().waitFor();
  await page.locator('#customers tbody tr a', { hasText: name }).first().click();
  await page.locator('#segment-label').waitFor();
  await page.locator('text=What we know').waitFor();
  assert.ok(await page.locator('.score svg rect').count() > 0, 'score contributions drawn');
  assert.match(await text('#rule-fired'), /\S/);
  assert.match(await text('#policy'), /Quota left this cycle: .*DE-North/);
  refined = { id: decodeURIComponent(page.url().split('/').pop()), before: await text('#segment-label') };
  await shot('customer', true);
});

await run('she refines the customer with the keyboard only; it awaits approval', async () => {
  await page.locator('body').press('Tab'); // start from the top of the page
  let found = false;
  for (let i = 0; i < 300 && !found; i++) {
    found = await page.evaluate(() => document.activeElement?.id === 'refine-segment');
    if (!found) await page.keyboard.press('Tab');
  }
  assert.ok(found, 'the segment field is reachable with Tab');
  await page.keyboard.press('ArrowDown');
  refined.label = await page.$eval('#refine-segment', (s) => s.options[s.selectedIndex].text);
  assert.notEqual(refined.label, '', 'a new segment picked');
  await page.keyboard.press('Tab');
  await page.keyboard.type('2');
  await page.keyboard.press('Tab');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Tab');
  await page.keyboard.type('Joined the regional tumour board');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Submit refinement');
  await page.keyboard.press('Enter');
  await page.locator('#refine-result', { hasText: 'awaiting approval' }).waitFor();
  await shot('refine-submitted');
});

await run('she uploads a CSV and gets a result for every row', async () => {
  await page.goto(url + '/#/customers');
  await page.locator('#customers tbody tr').nth(6).waitFor();
  second = (await page.locator('#customers tbody tr').nth(6).locator('.sub').innerText()).split(' ')[0];
  await page.goto(url + '/#/upload');
  const csv = 'request_id,customer_id,therapy_area,segment,calls_delta,reason,comment,submitted_by\n' +
    `up-1,${second},oncology,conservative,,access_change,Formulary restriction,anna.rep\n` +
    `up-2,${second},oncology,conservative,,because,No such reason,anna.rep\n`;
  await page.setInputFiles('#csv', { name: 'refinements.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.locator('#upload-summary').waitFor();
  assert.match(await text('#upload-summary'), /2 rows: 1 submitted, 1 rejected/);
  assert.match(await text('#upload-results'), /not a refinement reason; expected one of/);
  await shot('upload');
});

await run('her refinements list both, awaiting approval', async () => {
  await page.goto(url + '/#/refinements');
  await page.locator('#my-refinements').waitFor();
  const t = await text('#my-refinements');
  assert.ok(t.includes(refined.id) && t.includes(second), t);
  assert.equal((t.match(/awaiting approval/g) || []).length, 2);
  await shot('my-refinements');
});

await run('a German rep cannot reach French customers by URL or API', async () => {
  expectResourceErrors = true; // the refused reads are 404s the browser logs
  await page.goto(url + `/#/customers/${encodeURIComponent(process.env.FR_CUSTOMER)}`);
  await page.locator('.error').waitFor();
  assert.match(await text('.error'), /Not found/);
  expectResourceErrors = false;
  await shot('fr-refused');
  const api = await context.request.post(url + '/api/harmonia.v1.CountryService/QueryAssignments', {
    headers: { 'Connect-Protocol-Version': '1', 'Content-Type': 'application/json' },
    data: { country: 'FR', therapy_area: 'oncology' },
  });
  assert.equal(api.status(), 403);
  assert.equal((await api.json()).code, 'permission_denied');
});

await run('signing out ends the session on the server', async () => {
  await signOut();
  const old = await request.newContext({ extraHTTPHeaders: { Cookie: `harmonia_session=${sessionCookie}` } });
  const r = await old.post(url + '/api/harmonia.v1.CountryService/ListCycles', {
    headers: { 'Connect-Protocol-Version': '1', 'Content-Type': 'application/json' },
    data: { country: 'DE', therapy_area: 'oncology' },
  });
  assert.equal(r.status(), 401);
  await old.dispose();
});

await run('country ops approves both in bulk from the inbox', async () => {
  await signIn('olaf.ops');
  await page.goto(url + '/#/inbox');
  await page.locator('#inbox tbody tr').first().waitFor();
  assert.equal(await page.locator('#inbox tbody tr').count(), 2);
  assert.match(await text('#inbox'), /DE-North/);
  await shot('inbox');
  await page.locator('#inbox thead input[type=checkbox]').check();
  await page.click('#approve');
  await page.locator('#decided', { hasText: '2 approved' }).waitFor();
  await page.locator('text=Nothing here.').waitFor();
});

await run('country ops runs a cycle and watches it finish', async () => {
  await page.goto(url + '/#/cycles');
  await page.locator('#cycles').waitFor();
  await page.click('#run');
  await page.locator('#run-done').waitFor({ timeout: 120000 });
  assert.match(await text('#run-done'), /Cycle \d+ committed/);
  await page.locator('#changes').waitFor();
  assert.match(await text('#changes'), /moved/);
  await shot('cycles');
});

await run('the quality report and the country file', async () => {
  await page.goto(url + '/#/report');
  await page.locator('.chart svg').first().waitFor();
  assert.ok(await page.locator('.chart svg rect').count() >= 5);
  await shot('report', true);
  await page.goto(url + '/#/country');
  await page.locator('#country-text').waitFor();
  const original = await page.inputValue('#country-text');
  await page.fill('#country-text', original.replace('tier_bands: broad', 'tier_bands: wide'));
  await page.click('#validate');
  await page.locator('#validation').waitFor();
  assert.match(await text('#validation'), /line \d+, column \d+: option 'tier_bands': 'wide' is not on the menu/);
  await shot('country-file');
  await signOut();
});

await run('the rep sees the refined assignment after the cycle', async () => {
  await signIn('anna.rep');
  await page.goto(url + `/#/customers/${encodeURIComponent(refined.id)}`);
  await page.locator('#segment-label').waitFor();
  assert.equal(await text('#segment-label'), refined.label);
  assert.match(await text('#refinement'), /applied, approved by olaf\.ops/);
  await shot('customer-refined');
  await signOut();
});

await run('global ops reads the cross-market report', async () => {
  await signIn('ops@hq');
  await page.goto(url + '/#/markets');
  await page.locator('#markets tbody tr').nth(1).waitFor();
  assert.match(await text('#markets'), /DE[\s\S]*FR/);
  await shot('markets');
  // Diabetes assigns with a typing tool: its provenance is shown.
  await page.locator('#markets-ta').fill('diabetes');
  await page.locator('#markets-ta').press('Tab');
  await page.locator('#typing-tool').waitFor();
  assert.match(await text('#typing-tool'), /^Typing tool from Type 2 diabetes .*: 2000 respondents, fielded 2026-11-01; accuracy 94\.0%$/);
  await shot('markets-typing-tool');
});

await browser.close();
assert.deepEqual(consoleErrors, [], 'no errors in the browser console');
console.log('console_test: every step passed');
