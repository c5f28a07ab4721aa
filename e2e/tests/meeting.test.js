// End-to-end tests of the browser client against a real onstage binary and a real Chromium
// with fake camera and microphone. One server and one browser serve every test in this file.

import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, makeUser, makeMeeting, signInPage, waitInRoom, waitForMedia,
  inboundStats, diagnostics, sleep, rest,
} from '../lib/harness.js';

let server;
let browser;
let pages = [];

async function page(name) {
  const p = await browser.newPage(server.url, name);
  pages.push(p);
  return p;
}

/** A guest joining through the join screen. */
async function joinAsGuest(p, code, name) {
  await p.goto(`/m/${code}`);
  await p.fill('#join-name', name);
  await p.click('#join-button');
  return waitInRoom(p);
}

/** A signed-in host (tokens from the REST API) entering its meeting through the join screen. */
async function joinAsHost(p, tokens, code) {
  await signInPage(p, tokens);
  await p.goto(`/m/${code}`);
  await p.click('#join-button');
  return waitInRoom(p);
}

async function sendChat(p, text, toName) {
  if (!(await p.isVisible('#chat-input'))) await p.click('#ctl-chat');
  if (toName) await p.selectOption('#chat-to', { label: `${toName} (private)` });
  else await p.selectOption('#chat-to', '');
  await p.fill('#chat-input', text);
  await p.press('#chat-input', 'Enter');
  await p.waitForFunction(() => document.getElementById('chat-input').value === '');
}

async function waitChat(p, text, timeout = 10000) {
  await p.waitForFunction((t) => [...document.querySelectorAll('#chat-list .msg-text')].some((e) => e.textContent === t), text, { timeout });
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

afterEach(async () => {
  for (const p of pages) await p.context().close().catch(() => {});
  pages = [];
});

function withDiagnostics(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      e.message += `\n--- diagnostics ---\n${diagnostics(server, pages)}`;
      throw e;
    }
  };
}

describe('onstage browser client', { concurrency: false }, () => {
  it('host and guest see and hear each other', { timeout: 120000 }, withDiagnostics(async () => {
    // The host registers, signs in and creates the meeting through the home page.
    const host = await page('host');
    await host.goto('/meet');
    await host.click('#tab-register');
    const email = `host-${Date.now()}@example.test`;
    await host.fill('#register-name', 'Hana Host');
    await host.fill('#register-email', email);
    await host.fill('#register-password', 'correct-horse-9');
    await host.selectOption('#register-role', 'streamer');
    await host.click('#register-submit');
    await host.waitForSelector('#create-title', { timeout: 15000 });
    await host.fill('#create-title', 'Two-way video');
    await host.click('#create-submit');
    const code = (await host.textContent('#created-code', { timeout: 15000 })).trim();
    assert.match(code, /^[A-Z0-9]{4,16}$/);
    await host.click('#start-meeting');
    await host.waitForSelector('#join-button');
    await host.click('#join-button');
    const hostId = await waitInRoom(host);

    const guest = await page('guest');
    const guestId = await joinAsGuest(guest, code, 'Gina Guest');
    assert.notEqual(hostId, guestId);

    // Each side decodes the other's video and receives audio, within 10 s.
    const [hs, gs] = await Promise.all([waitForMedia(host, { timeout: 10000 }), waitForMedia(guest, { timeout: 10000 })]);
    assert.ok(hs.framesDecoded > 0 && hs.audioPackets > 0);
    assert.ok(gs.framesDecoded > 0 && gs.audioPackets > 0);

    // Names are on the tiles.
    await host.waitForFunction(() => document.getElementById('grid').textContent.includes('Gina Guest'));
    await guest.waitForFunction(() => document.getElementById('grid').textContent.includes('Hana Host'));
    // The host's tile says it is the host.
    await guest.waitForFunction(() => [...document.querySelectorAll('.tile-role')].some((e) => e.textContent === 'Host'));

    // Screen share: its own source, shown large on the other side, gone when stopped.
    await host.click('#ctl-screen');
    await guest.waitForFunction(() => {
      const v = document.querySelector('#stage .tile-screen video');
      return v && !document.getElementById('stage').hidden && v.videoWidth > 0;
    }, null, { timeout: 15000 });
    const screenTrack = await guest.evaluate(() => window.onstage.tracks.find((t) => t.source === 'screen'));
    assert.equal(screenTrack.kind, 'video');
    assert.equal(await host.getAttribute('#ctl-screen', 'aria-pressed'), 'true');
    await host.click('#ctl-screen');
    await guest.waitForFunction(() => document.getElementById('stage').hidden, null, { timeout: 15000 });
  }));

  it('chat goes both ways, privately too, and a late joiner gets the history', { timeout: 120000 }, withDiagnostics(async () => {
    const owner = await makeUser(server.url, 'Chat Host');
    const m = await makeMeeting(server.url, owner.access_token, { title: 'Chat' });
    const host = await page('host');
    const guest = await page('guest');
    await joinAsHost(host, owner, m.code);
    await joinAsGuest(guest, m.code, 'Gus');

    await sendChat(host, 'hello from the host');
    await waitChat(guest, 'hello from the host');
    await sendChat(guest, 'hi host, guest here');
    await waitChat(host, 'hi host, guest here');
    await sendChat(host, 'just for you, Gus', 'Gus');
    await waitChat(guest, 'just for you, Gus');
    assert.ok(await guest.isVisible('text=Private to you'));

    // The guest's panel is closed: a new message raises the unread count.
    await guest.click('#ctl-chat');
    await sendChat(host, 'are you there?');
    await guest.waitForFunction(() => document.getElementById('unread').textContent === '1' && !document.getElementById('unread').hidden);
    assert.equal(await guest.getAttribute('#ctl-chat', 'aria-label'), 'Chat, 1 unread');

    // A third participant joins late by link and sees the public history, not the private one.
    const late = await page('late');
    await late.goto(`/m/${m.code}?name=Lena&autojoin=1`);
    await waitInRoom(late);
    await waitChat(late, 'hello from the host');
    await waitChat(late, 'hi host, guest here');
    await waitChat(late, 'are you there?');
    const lateTexts = await late.$$eval('#chat-list .msg-text', (els) => els.map((e) => e.textContent));
    assert.ok(!lateTexts.includes('just for you, Gus'), 'a private message leaked into history');
    assert.equal(await late.getAttribute('#chat-list', 'aria-live'), 'polite');
  }));

  it('the host mutes the guest, then ends the meeting for everyone', { timeout: 120000 }, withDiagnostics(async () => {
    const owner = await makeUser(server.url, 'Mod Host');
    const m = await makeMeeting(server.url, owner.access_token, { title: 'Moderated' });
    const host = await page('host');
    const guest = await page('guest');
    await joinAsHost(host, owner, m.code);
    const guestId = await joinAsGuest(guest, m.code, 'Mia');
    assert.equal(await guest.getAttribute('#ctl-mic', 'aria-pressed'), 'true');

    await host.click('#ctl-people');
    const row = host.locator(`#people-list li[data-pid="${guestId}"]`);
    await row.locator('summary').click();
    await row.getByRole('button', { name: 'Mute', exact: true }).click();

    // The guest's microphone is off, its button says so, and it was told who did it.
    await guest.waitForFunction(() => document.getElementById('ctl-mic').getAttribute('aria-pressed') === 'false', null, { timeout: 10000 });
    assert.equal(await guest.getAttribute('#ctl-mic', 'aria-label'), 'Unmute microphone');
    await guest.waitForSelector('.toast:has-text("muted your microphone")');
    const enabled = await guest.evaluate(() => window.onstage.room.local.micTrack.enabled);
    assert.equal(enabled, false);
    // The host sees the guest as muted.
    await host.waitForFunction((id) => {
      const t = document.querySelector(`.tile[data-pid="${id}"][data-source="camera"]`);
      return t && t.classList.contains('mic-muted');
    }, guestId, { timeout: 10000 });

    // A second guest is removed and told so.
    const kim = await page('kim');
    const kimId = await joinAsGuest(kim, m.code, 'Kim');
    const kimRow = host.locator(`#people-list li[data-pid="${kimId}"]`);
    await kimRow.waitFor();
    await kimRow.locator('summary').click();
    await kimRow.getByRole('button', { name: 'Remove', exact: true }).click();
    await host.click('dialog button:has-text("Remove")');
    await kim.waitForSelector('#end-title:has-text("You were removed")', { timeout: 10000 });
    await host.waitForFunction((id) => !document.querySelector(`#people-list li[data-pid="${id}"]`), kimId, { timeout: 10000 });

    // End the meeting from the leave dialog.
    await host.click('#ctl-leave');
    await host.click('dialog button:has-text("End meeting for all")');
    for (const p of [host, guest]) {
      await p.waitForSelector('#end-title:has-text("The meeting has ended")', { timeout: 10000 });
    }
    // Reloading after the end does not bring anyone back in.
    await guest.reload();
    await guest.waitForSelector('#join-button');
  }));

  it('explains a wrong password and a full meeting', { timeout: 120000 }, withDiagnostics(async () => {
    const owner = await makeUser(server.url, 'Gate Host');
    const locked = await makeMeeting(server.url, owner.access_token, { title: 'Locked', password: 'sesame-42' });
    const guest = await page('guest');
    await guest.goto(`/m/${locked.code}?name=Wanda&autojoin=1`);
    await guest.waitForSelector('#join-password', { state: 'visible', timeout: 15000 });
    await guest.waitForSelector('#join-error:has-text("needs a password")');
    await guest.fill('#join-password', 'not-it');
    await guest.click('#join-button');
    await guest.waitForSelector('#join-error:has-text("password is incorrect")', { timeout: 10000 });
    await guest.fill('#join-password', 'sesame-42');
    await guest.click('#join-button');
    await waitInRoom(guest);

    const small = await makeMeeting(server.url, owner.access_token, { title: 'Small', max_participants: 2 });
    const host = await page('host');
    const g1 = await page('g1');
    const g2 = await page('g2');
    await joinAsHost(host, owner, small.code);
    await joinAsGuest(g1, small.code, 'First');
    await g2.goto(`/m/${small.code}`);
    await g2.fill('#join-name', 'Third');
    await g2.click('#join-button');
    await g2.waitForSelector('#join-error:has-text("This meeting is full")', { timeout: 10000 });
    assert.equal(await g2.evaluate(() => !!document.getElementById('room')), false);
  }));

  it('a reload or a dropped socket comes back as the same participant', { timeout: 150000 }, withDiagnostics(async () => {
    const owner = await makeUser(server.url, 'Stay Host');
    const m = await makeMeeting(server.url, owner.access_token, { title: 'Sticky' });
    const host = await page('host');
    const guest = await page('guest');
    await joinAsHost(host, owner, m.code);
    const guestId = await joinAsGuest(guest, m.code, 'Rita');
    await waitForMedia(host, { timeout: 10000 });
    await sendChat(host, 'before reload');
    await waitChat(guest, 'before reload');

    let left = 0;
    await host.exposeFunction('__countLeft', () => { left += 1; });
    await host.evaluate(() => {
      const n = document.getElementById('announcer');
      new MutationObserver(() => { if (/Rita left/.test(n.textContent)) window.__countLeft(); }).observe(n, { childList: true, characterData: true, subtree: true });
    });

    // A dropped socket: the banner shows, the page resumes on the same peer connections, and
    // chat sent meanwhile arrives.
    await guest.evaluate(() => window.onstage.dropSocket());
    await guest.waitForSelector('#reconnecting', { state: 'visible', timeout: 5000 });
    await sendChat(host, 'while you were away');
    await guest.waitForSelector('#reconnecting', { state: 'hidden', timeout: 15000 });
    await waitChat(guest, 'while you were away');
    assert.equal(await guest.evaluate(() => window.onstage.participantId), guestId);
    let before = await inboundStats(guest);
    await sleep(2000);
    let after = await inboundStats(guest);
    assert.ok(after.framesDecoded > before.framesDecoded, 'media stopped after a socket drop');

    // Reload: same participant id, chat history restored, nobody saw the guest leave.
    await guest.reload();
    const again = await waitInRoom(guest);
    assert.equal(again, guestId);
    await waitChat(guest, 'before reload');
    await sendChat(host, 'after reload');
    await waitChat(guest, 'after reload');
    const ids = await host.evaluate(() => window.onstage.participants.map((p) => p.participant_id).sort());
    assert.deepEqual(ids, [await host.evaluate(() => window.onstage.participantId), guestId].sort());
    assert.equal(left, 0, 'the host saw the guest leave');
  }));

  it('media flows again after a reload, on the page\'s new peer connections', { timeout: 120000 }, withDiagnostics(async () => {
    const owner = await makeUser(server.url, 'Media Host');
    const m = await makeMeeting(server.url, owner.access_token, { title: 'Reload media' });
    const host = await page('host');
    const guest = await page('guest');
    await joinAsHost(host, owner, m.code);
    const guestId = await joinAsGuest(guest, m.code, 'Remy');
    await waitForMedia(host, { timeout: 10000 });
    await waitForMedia(guest, { timeout: 10000 });

    await guest.reload();
    assert.equal(await waitInRoom(guest), guestId);
    await waitForMedia(guest, { timeout: 15000 });
    const before = await inboundStats(host);
    await sleep(3000);
    const after = await inboundStats(host);
    assert.ok(after.framesDecoded > before.framesDecoded, `host stopped decoding the guest after its reload: ${JSON.stringify({ before, after })}`);
  }));

  it('a page whose login is signed out elsewhere is told so and does not retry', { timeout: 60000 }, withDiagnostics(async () => {
    const owner = await makeUser(server.url, 'Gone Host');
    const m = await makeMeeting(server.url, owner.access_token, { title: 'Signed out' });
    const host = await page('host');
    await joinAsHost(host, owner, m.code);
    // Another device signs this login out: the server closes the page's socket (4401).
    await rest(server.url, 'POST', '/auth/logout', { refresh_token: owner.refresh_token });
    await host.waitForSelector('#end-title:has-text("You were signed out")', { timeout: 20000 });
    assert.equal(await host.evaluate(() => sessionStorage.getItem('onstage.auth')), null);
  }));
});
