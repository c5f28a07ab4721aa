// The sign-in form shows the human verification widget when the server asks for it (after
// three failed logins for the account), and signs in with the widget's token. The widget's
// script is served by the test in place of the provider's, and a local server stands in for
// the provider's siteverify endpoint.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, launchBrowser, makeUser, rest } from '../lib/harness.js';

let server;
let browser;
let verify;
const seen = [];

const fakeWidget = `window.turnstile = { render(el, o) {
  const b = document.createElement('button');
  b.type = 'button'; b.id = 'fake-captcha'; b.textContent = 'I am human (' + o.sitekey + ')';
  b.addEventListener('click', () => o.callback('human-token'));
  el.append(b);
} };`;

before(async () => {
  verify = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      seen.push(form.get('response'));
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ success: form.get('secret') === 's3cret' && form.get('response') === 'human-token' }));
    });
  });
  await new Promise((r) => verify.listen(0, '127.0.0.1', r));
  server = await startServer({
    ONSTAGE_AUTH_CAPTCHA_PROVIDER: 'turnstile',
    ONSTAGE_AUTH_CAPTCHA_VERIFY_URL: `http://127.0.0.1:${verify.address().port}/siteverify`,
    ONSTAGE_AUTH_CAPTCHA_SITE_KEY: 'site-1',
    ONSTAGE_AUTH_CAPTCHA_SECRET: 's3cret',
  });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (verify) verify.close();
});

describe('human verification on sign-in', () => {
  it('shows the widget after three failures and signs in with its token', async () => {
    const user = await makeUser(server.url, 'Vera');
    for (let i = 0; i < 3; i++) {
      await rest(server.url, 'POST', '/auth/login', { email: user.email, password: 'wrong-password' }).catch(() => {});
    }
    const page = await browser.newPage(server.url, 'vera');
    await page.context().route('https://challenges.cloudflare.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/javascript', body: fakeWidget }));
    await page.goto('/login');
    await page.fill('#signin-email', user.email);
    await page.fill('#signin-password', user.password);
    await page.click('#signin-submit');
    try {
      await page.waitForSelector('#fake-captcha', { timeout: 10000 });
    } catch (e) {
      const shown = await page.textContent('#panel-signin').catch(() => '?');
      throw new Error(`${e.message}\nform: ${shown}\nconsole:\n${page.consoleLog.join('\n')}\nserver:\n${server.logs().slice(-3000)}`);
    }
    assert.match(await page.textContent('#fake-captcha'), /site-1/);
    await page.click('#fake-captcha');
    await page.click('#signin-submit');
    await page.waitForFunction(() => {
      const a = sessionStorage.getItem('onstage.auth');
      return a && JSON.parse(a).access_token;
    }, null, { timeout: 10000 });
    assert.ok(seen.includes('human-token'), `siteverify saw ${JSON.stringify(seen)}`);
  });
});
