// End-to-end walk through the portal and the console in a real Chromium against a fresh
// server: a streamer signs up and fills in the profile and schedule, an admin approves them,
// a player finds them by filter, books, pays in the payment sandbox, both meet from "my
// orders" and see each other's video, the player reviews; an agent generates card keys; the
// audit page lists the admin actions. Screenshots of the main pages at desktop and phone
// width are written to e2e/screenshots/.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import zlib from 'node:zlib';
import {
  startServer, launchBrowser, rest, signInPage, waitInRoom, waitForMedia, diagnostics, repoRoot,
} from '../lib/harness.js';

let server;
let browser;
const pages = [];
const shotsDir = join(repoRoot, 'e2e', 'screenshots');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const password = 'correct-horse-9';
const stamp = Date.now();

async function page(name, contextOptions) {
  const p = await browser.newPage(server.url, name, contextOptions);
  pages.push(p);
  return p;
}

/**
 * Saves the page at desktop and phone width, then restores the desktop size. A screenshot is
 * an artefact, not a check: one that cannot be taken in 15 s is reported and skipped.
 */
async function shoot(p, name) {
  mkdirSync(shotsDir, { recursive: true });
  for (const [size, suffix] of [[DESKTOP, 'desktop'], [PHONE, 'phone']]) {
    await p.setViewportSize(size);
    await p.waitForTimeout(150);
    await p.screenshot({ path: join(shotsDir, `${name}-${suffix}.png`), fullPage: true, timeout: 15000 })
      .catch((e) => console.error(`screenshot ${name}-${suffix}: ${e.message.split('\n')[0]}`));
  }
  await p.setViewportSize(DESKTOP);
}

/** A small PNG (a coloured square) built here, so the test needs no fixture file. */
function png(w = 64, hgt = 64) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(hgt, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  const raw = Buffer.alloc((w * 3 + 1) * hgt);
  for (let y = 0; y < hgt; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = 99 + x; raw[o + 1] = 102; raw[o + 2] = 241 - y;
    }
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Presses Pay on the payment sandbox's checkout page. */
async function payInSandbox(href) {
  assert.match(href, /\/pay\//);
  const checkout = await browser.browser.newPage();
  try {
    await checkout.goto(href);
    await checkout.click('button:has-text("Pay")');
    await checkout.waitForSelector('#status:not(:has-text("pending"))', { timeout: 10000 }).catch(() => {});
  } finally {
    await checkout.close();
  }
}

async function registerInBrowser(p, name, email, role) {
  await p.goto('/register');
  await p.fill('#register-name', name);
  await p.fill('#register-email', email);
  await p.fill('#register-password', password);
  await p.selectOption('#register-role', role);
  await p.click('#register-submit');
  await p.waitForSelector('#who-name', { timeout: 15000 });
}

async function signInBrowser(p, email, next) {
  await p.goto(`/login?next=${encodeURIComponent(next)}`);
  await p.fill('#signin-email', email);
  await p.fill('#signin-password', password);
  await p.click('#signin-submit');
  await p.waitForURL((u) => u.pathname === next.split('?')[0], { timeout: 15000 });
  await p.waitForSelector('#who-name');
}

function withDiagnostics(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      mkdirSync(shotsDir, { recursive: true });
      for (const [i, p] of pages.entries()) {
        // Bounded, so that a failure reports its own error rather than the test's timeout.
        await p.screenshot({ path: join(shotsDir, `failure-${i}.png`), timeout: 5000 }).catch(() => {});
        e.message += `\n[page ${i}] ${p.url()}: ${(await p.textContent('body', { timeout: 2000 }).catch(() => '')).slice(0, 400)}`;
      }
      e.message += `\n--- diagnostics ---\n${diagnostics(server, pages)}`;
      throw e;
    }
  };
}

const state = {};

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  state.adminEmail = `ada-${stamp}@example.test`;
  server.cli(['user', 'create', '--email', state.adminEmail, '--password', password, '--name', 'Ada Admin', '--admin']);
  state.adminTokens = await rest(server.url, 'POST', '/auth/login', { email: state.adminEmail, password });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

describe('portal and console', { concurrency: false }, () => {
  it('a streamer signs up and fills in the profile and the schedule', { timeout: 90000 }, withDiagnostics(async () => {
    const st = await page('streamer');
    state.streamer = st;
    state.streamerEmail = `sara-${stamp}@example.test`;
    await registerInBrowser(st, 'Sara Streams', state.streamerEmail, 'streamer');

    await st.goto('/me/profile');
    await st.waitForSelector('#profile-form');
    await st.fill('#pf-bio', 'Support main. Patient coach for new players.');
    await st.fill('#pf-city', 'Lisbon');
    await st.fill('#pf-games', 'Dota 2, Chess');
    await st.fill('#pf-languages', 'en, pt');
    await st.fill('#pf-price', '30');
    await st.selectOption('#pf-currency', 'EUR');
    await st.fill('#pf-zone', 'UTC');
    await st.setInputFiles('#pf-photo-file', { name: 'me.png', mimeType: 'image/png', buffer: png() });
    await st.waitForSelector('#pf-photos img.photo-thumb');
    await st.click('#pf-save');
    await st.waitForFunction(() => document.getElementById('profile-status').textContent.includes('waiting for approval'));
    await shoot(st, 'profile-editor');

    await st.goto('/me/schedule');
    await st.waitForSelector('#schedule-form');
    for (let d = 0; d < 7; d++) await st.click(`#allday-${d}`);
    await st.fill('#sc-notice', '0');
    await st.fill('#sc-buffer', '0');
    await st.fill('#sc-cap', '0');
    await st.fill('#ex-date', new Date(Date.now() + 10 * 86400000).toISOString().slice(0, 10));
    await st.selectOption('#ex-kind', 'off');
    await st.click('#ex-add');
    await st.click('#sc-save');
    await st.waitForFunction(() => document.getElementById('sc-error').textContent === 'Saved.');
    await shoot(st, 'schedule-editor');
    const sched = await st.evaluate(async () => {
      const a = JSON.parse(sessionStorage.getItem('onstage.auth'));
      const r = await fetch('/api/v1/streamers/schedule', { headers: { Authorization: `Bearer ${a.access_token}` } });
      return r.json();
    });
    assert.equal(sched.weekly.length, 7);
    assert.equal(sched.exceptions.length, 1);
  }));

  it('an admin approves the streamer in the console', { timeout: 60000 }, withDiagnostics(async () => {
    const ad = await page('admin');
    state.admin = ad;
    await signInBrowser(ad, state.adminEmail, '/admin/approvals');
    const item = ad.locator('.appr-item', { hasText: 'Sara Streams' });
    await item.click();
    await ad.waitForSelector('#approve-button');
    await ad.waitForFunction(() => document.getElementById('appr-detail').textContent.includes('Lisbon'));
    await shoot(ad, 'console-approvals');
    state.streamerId = await item.getAttribute('data-id');
    await ad.click('#approve-button');
    await ad.waitForSelector('#appr-done');
    const r = await rest(server.url, 'GET', `/streamers/${state.streamerId}`);
    assert.equal(r.display_name, 'Sara Streams');
  }));

  it('a player finds the streamer by filter, books and pays in the sandbox', { timeout: 150000 }, withDiagnostics(async () => {
    // A person's browser: a headless one names itself a robot, and robots' ad views are
    // counted apart from people's.
    const pl = await page('player', { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36' });
    state.player = pl;
    await registerInBrowser(pl, 'Pete Player', `pete-${stamp}@example.test`, 'player');
    await pl.goto('/');
    await pl.fill('#f-city', 'lisbon');
    await pl.fill('#f-game', 'dota 2');
    await pl.fill('#f-max', '50');
    await Promise.all([pl.waitForURL(/city=lisbon/), pl.click('#f-submit')]);
    await pl.waitForSelector('#streamer-list');
    assert.match(await pl.textContent('#streamer-list'), /Sara Streams/);
    await shoot(pl, 'catalogue');
    // A filter that excludes her.
    await pl.goto('/?city=porto');
    await pl.waitForSelector('#results .empty');

    await pl.goto(`/streamers/${state.streamerId}`);
    await pl.waitForSelector('#calendar .slot');
    await shoot(pl, 'streamer-page');
    await Promise.all([pl.waitForURL(/duration=15/), pl.selectOption('#slot-duration', '15')]);
    await pl.waitForSelector('#calendar .slot');
    await pl.click('#calendar .slot >> nth=0');
    await pl.click('#book-button');
    await pl.waitForURL(/\/orders\?pay=/);
    const orderId = new URL(pl.url()).searchParams.get('pay');
    state.orderId = orderId;
    await pl.waitForSelector(`#pay-${orderId}`);
    // The app opens the checkout in a new tab and also shows its link (a blocked pop-up still
    // leaves the link); the test follows the link in a page of its own.
    await pl.click(`#pay-${orderId}`);
    await payInSandbox(await pl.getAttribute(`#checkout-${orderId}`, 'href'));
    await pl.waitForSelector(`#order-${orderId}[data-status=paid]`, { timeout: 30000 });
    await pl.waitForSelector(`#join-${orderId}`);
    await shoot(pl, 'my-orders');
  }));

  it('both join the meeting from "my orders" and see each other', { timeout: 120000 }, withDiagnostics(async () => {
    const { streamer: st, player: pl, orderId } = state;
    await st.goto('/orders');
    await st.waitForSelector(`#join-${orderId}`);
    await st.click(`#join-${orderId}`);
    await st.waitForSelector('#join-button');
    await st.click('#join-button');
    await waitInRoom(st);
    await pl.goto('/orders');
    await pl.click(`#join-${orderId}`);
    await pl.waitForSelector('#join-button');
    await pl.click('#join-button');
    await waitInRoom(pl);
    const [a, b] = await Promise.all([waitForMedia(st, { timeout: 15000 }), waitForMedia(pl, { timeout: 15000 })]);
    assert.ok(a.framesDecoded > 0 && b.framesDecoded > 0);
    await st.waitForFunction(() => document.getElementById('grid').textContent.includes('Pete Player'));
    await pl.waitForFunction(() => document.getElementById('grid').textContent.includes('Sara Streams'));
    // The streamer (host) ends the session; the order completes.
    await st.click('#ctl-leave');
    await st.click('dialog [data-value=end]');
    await st.waitForSelector('#end-title', { timeout: 15000 });
  }));

  it('the player reviews the session', { timeout: 60000 }, withDiagnostics(async () => {
    const { player: pl, orderId } = state;
    await pl.goto(`/orders?review=${orderId}`);
    await pl.waitForSelector(`#order-${orderId}[data-status=completed]`, { timeout: 30000 }).catch(async () => {
      // The order completes when the meeting's end event is handled; look again.
      await pl.reload();
      await pl.waitForSelector(`#order-${orderId}[data-status=completed]`, { timeout: 20000 });
    });
    await pl.selectOption(`#rating-${orderId}`, '5');
    await pl.fill(`#comment-${orderId}`, 'Great coach, learned a lot!');
    await pl.click(`#review-submit-${orderId}`);
    await pl.waitForFunction((id) => !document.getElementById(`review-submit-${id}`), orderId);
    await pl.goto(`/streamers/${state.streamerId}`);
    await pl.waitForFunction(() => {
      const r = document.getElementById('reviews');
      return r && r.textContent.includes('Great coach');
    });
  }));

  it('an admin creates an ad package and the streamer\'s ad shows as sponsored', { timeout: 120000 }, withDiagnostics(async (t) => {
    const probe = await fetch(`${server.url}/api/v1/ads/packages`);
    if (probe.status === 404) {
      t.skip('this server has no ads API');
      return;
    }
    const ad = state.admin;
    await ad.goto('/admin/ads');
    await ad.fill('#pk-name', 'Front page week');
    await ad.selectOption('#pk-placement', 'search');
    await ad.fill('#pk-price', '5');
    await ad.fill('#pk-currency', 'EUR');
    await ad.fill('#pk-days', '7');
    await ad.click('#pk-create');
    await ad.waitForFunction(() => document.getElementById('packages-list').textContent.includes('Front page week'));

    // The streamer buys it and pays in the sandbox.
    const st = state.streamer;
    await st.goto('/me/ads');
    await st.locator('#packages li', { hasText: 'Front page week' }).locator('button').click();
    await st.waitForSelector('#ads-list [data-status=pending_payment] button:has-text("Pay now")');
    await st.click('#ads-list button:has-text("Pay now")');
    await st.waitForSelector('#ads-list a:has-text("Open checkout")');
    await payInSandbox(await st.getAttribute('#ads-list a:has-text("Open checkout")', 'href'));
    await st.waitForSelector('#ads-list [data-status=active]', { timeout: 30000 });

    // A player's filtered search shows her card first, marked sponsored; a click is counted.
    const pl = state.player;
    await pl.goto('/?game=chess');
    await pl.waitForSelector('#streamer-list .streamer-card[data-sponsored=true]', { timeout: 15000 });
    const first = pl.locator('#streamer-list .streamer-card').first();
    assert.equal(await first.getAttribute('data-sponsored'), 'true');
    assert.match(await first.textContent(), /Sponsored/);
    assert.match(await first.textContent(), /Sara Streams/);
    await shoot(pl, 'catalogue-sponsored');
    await Promise.all([pl.waitForURL(/\/streamers\//), first.locator('a').click()]);
    // Counts reach the stats within a flush or two: ask again until they show.
    await st.goto('/me/ads');
    const deadline = Date.now() + 20000;
    for (;;) {
      await st.click('#ads-list button:has-text("Stats")');
      await st.waitForSelector('#ads-list figure figcaption');
      const caption = await st.textContent('#ads-list figure figcaption');
      if (/[1-9]\d* impressions, [1-9]\d* clicks/.test(caption)) break;
      if (Date.now() > deadline) throw new Error(`ad stats never counted: ${caption}`);
      await st.waitForTimeout(1000);
    }
    await shoot(st, 'my-ads');
  }));

  it('an agency imports streamers from a file and sees the per-row report', { timeout: 60000 }, withDiagnostics(async (t) => {
    const probe = await fetch(`${server.url}/api/v1/ads/packages`);
    if (probe.status === 404) {
      t.skip('this server has no ads API');
      return;
    }
    const ag = await page('agency');
    await registerInBrowser(ag, 'Ana Agency', `ana-${stamp}@example.test`, 'agency');
    await ag.goto('/admin/agency');
    const bad = `email,display_name,city,games\nkim-${stamp}@example.test,Kim,Seoul,StarCraft\nnot-an-email,Lee,Busan,Go\n`;
    await ag.setInputFiles('#imp-file', { name: 'streamers.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
    await ag.click('#imp-check');
    await ag.waitForSelector('#imp-errors');
    const report = await ag.textContent('#imp-errors');
    assert.match(report, /3/, report);
    assert.match(report, /email/, report);
    const good = `email,display_name,city,games\nkim-${stamp}@example.test,Kim,Seoul,StarCraft\nlee-${stamp}@example.test,Lee,Busan,Go;Chess\n`;
    await ag.setInputFiles('#imp-file', { name: 'streamers.csv', mimeType: 'text/csv', buffer: Buffer.from(good) });
    await ag.click('#imp-submit');
    await ag.waitForSelector('#imp-done');
    assert.match(await ag.textContent('#imp-done'), /Imported 2/);
    await ag.waitForFunction(() => /Kim[\s\S]*Lee|Lee[\s\S]*Kim/.test(document.getElementById('subs-table').textContent));
    // The admin's package (previous test) is on sale: the agency orders it for Kim.
    await ag.reload();
    await ag.waitForSelector('#agency-buy-form');
    await ag.click('#ab-submit');
    await ag.waitForSelector('#agency-ads [data-status=pending_payment]');
    assert.match(await ag.textContent('#agency-ads'), /Pay now/);
    await shoot(ag, 'console-agency');
  }));

  it('an agent generates keys and sees them in the table', { timeout: 90000 }, withDiagnostics(async () => {
    const ad = state.admin;
    const agentEmail = `alex-${stamp}@example.test`;
    const agent = await rest(server.url, 'POST', '/auth/register', { email: agentEmail, password, display_name: 'Alex Agent' });
    // The admin makes the user an agent in the users page.
    await ad.goto('/admin/users');
    await ad.fill('#u-q', 'alex');
    await ad.click('#u-search');
    await ad.waitForFunction(() => document.getElementById('users-table').textContent.includes('Alex Agent'));
    await ad.selectOption('#users-table .grant-role', 'agent');
    await ad.waitForFunction(() => document.getElementById('users-table').textContent.includes('agent'));

    await ad.goto('/admin/projects');
    await ad.fill('#pr-name', 'Desktop app');
    await ad.fill('#pr-price', '1');
    await ad.click('#pr-create');
    await ad.waitForSelector('#project-secret');
    assert.match(await ad.textContent('#project-secret'), /^sk_[0-9a-f]{64}$/);
    await shoot(ad, 'console-card-projects');
    await ad.click('#secret-done');
    assert.equal(await ad.locator('#project-secret').count(), 0);

    await ad.goto('/admin/grants');
    await ad.waitForSelector('#gr-project option', { state: 'attached' });
    await ad.fill('#gr-agent', agent.id);
    await ad.click('#gr-submit');
    await ad.waitForFunction(() => document.getElementById('grants-list').textContent.includes('Desktop app'));

    await ad.goto('/admin/quota');
    await ad.fill('#rc-user', agent.id);
    await ad.fill('#rc-amount', '1000');
    await ad.click('#rc-submit');
    await ad.waitForFunction(() => document.getElementById('rc-done').textContent.includes('Recharged 1000'));

    const ag = await page('agent');
    await signInBrowser(ag, agentEmail, '/admin/quota');
    await ag.waitForFunction(() => document.getElementById('ledger-table').textContent.includes('recharge')
      && document.getElementById('quota-balance').textContent.includes('1000'));
    await ag.goto('/admin/keys');
    await ag.waitForSelector('#batch-form');
    await ag.fill('#kb-count', '5');
    await ag.fill('#kb-days', '30');
    await ag.click('#kb-submit');
    await ag.waitForSelector('#batch-done');
    await ag.waitForFunction(() => document.querySelectorAll('#keys-table .card-key').length === 5);
    const keys = await ag.$$eval('#keys-table .card-key', (els) => els.map((e) => e.textContent));
    for (const k of keys) assert.match(k, /^[2-9A-HJ-NP-Z]{5}(-[2-9A-HJ-NP-Z]{5}){3}$/);
    // Search narrows the table to one key.
    await ag.fill('#k-q', keys[0].slice(0, 11));
    await ag.click('#k-search');
    await ag.waitForFunction(() => document.querySelectorAll('#keys-table .card-key').length === 1);
    await ag.fill('#k-q', '');
    await ag.click('#k-search');
    await ag.waitForFunction(() => document.querySelectorAll('#keys-table .card-key').length === 5);
    await shoot(ag, 'console-card-keys');
    await ag.goto('/admin/stats');
    await ag.waitForSelector('#chart-key-status svg rect');
    await shoot(ag, 'console-charts');
  }));

  it('the audit page lists the admin actions and the chain checks out', { timeout: 60000 }, withDiagnostics(async () => {
    const ad = state.admin;
    await ad.goto('/admin/audit');
    await ad.waitForSelector('#audit-table table');
    const text = await ad.textContent('#audit-table');
    for (const op of ['streamer:approve', 'permission:assign']) assert.ok(text.includes(op), `audit lacks ${op}: ${text.slice(0, 2000)}`);
    await ad.fill('#a-operation', 'streamer:approve');
    await ad.click('#a-filter');
    await ad.waitForFunction(() => {
      const ops = [...document.querySelectorAll('#audit-table .op')].map((e) => e.textContent);
      return ops.length > 0 && ops.every((o) => o === 'streamer:approve');
    });
    await ad.click('#chain-check');
    await ad.waitForFunction(() => document.getElementById('chain-result').textContent.includes('intact'));
    await shoot(ad, 'console-audit');
  }));
});
