// The giveaway panel in a real browser: the host starts a giveaway from the room, two guests
// press Enter, the host draws, and every page shows the winner.

import { it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, makeUser, makeMeeting, signInPage, waitInRoom, diagnostics, rest } from '../lib/harness.js';

let server;
let browser;
let pages = [];

async function page(name) {
  const p = await browser.newPage(server.url, name);
  pages.push(p);
  return p;
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

afterEach(async (t) => {
  if (t.passed === false) console.log(diagnostics(server, pages));
  pages = [];
});

it('runs a giveaway from start to winners', async () => {
  const host = await makeUser(server.url, 'Host');
  const m = await makeMeeting(server.url, host.access_token);

  const hp = await page('host');
  await signInPage(hp, host);
  await hp.goto(`/m/${m.code}`);
  await hp.click('#join-button');
  await waitInRoom(hp);

  const guests = [];
  for (const name of ['Kimberly', 'Oliver']) {
    const p = await page(name);
    await p.goto(`/m/${m.code}`);
    await p.fill('#join-name', name);
    await p.click('#join-button');
    await waitInRoom(p);
    guests.push(p);
  }

  await hp.click('#giveaway-new');
  await hp.fill('#giveaway-form input[name=title]', 'Launch party');
  await hp.fill('#giveaway-form input[name=prize]', 'Signed poster');
  await hp.fill('#giveaway-form input[name=seconds]', '120');
  await hp.click('#giveaway-start');

  for (const p of guests) {
    await p.waitForSelector('#giveaway-enter:not([disabled])', { timeout: 10000 });
    const left = await p.textContent('#giveaway-countdown');
    assert.match(left, /^[0-2]:\d\d$/);
    await p.click('#giveaway-enter');
    await p.waitForFunction(() => /Entered · #\d/.test(document.getElementById('giveaway-enter').textContent), null, { timeout: 10000 });
  }

  // The masked list over REST shows both entries.
  const list = await rest(server.url, 'GET', `/meetings/${m.id}/giveaways`, undefined, host.access_token);
  const g = list.items[0];
  const entries = await rest(server.url, 'GET', `/meetings/${m.id}/giveaways/${g.id}/entries`, undefined, host.access_token);
  assert.equal(entries.total, 2);
  assert.deepEqual(entries.items.map((e) => e.name).sort(), ['Ki**', 'Ol**']);

  await hp.click('#giveaway-draw');
  const winners = [];
  for (const p of [hp, ...guests]) {
    await p.waitForSelector('#giveaway-winners li', { timeout: 10000 });
    winners.push(await p.textContent('#giveaway-winners li'));
  }
  assert.ok(/^#[12] (Ki|Ol)\*\*$/.test(winners[0]), winners[0]);
  assert.ok(winners.every((w) => w === winners[0]), JSON.stringify(winners));
});
