// Test harness: builds and runs the onstage binary on a free loopback port with a throwaway
// data directory, launches Debian's Chromium through playwright-core with fake media devices,
// and offers small helpers over the REST API and the client's window.onstage debug hook.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--autoplay-policy=no-user-gesture-required',
];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

let builtBinary = null;

/** Builds ./cmd/onstage once per process into a temporary directory. */
export function buildServer() {
  if (builtBinary) return builtBinary;
  const dir = mkdtempSync(join(tmpdir(), 'onstage-e2e-bin-'));
  const out = join(dir, 'onstage');
  execFileSync('go', ['build', '-o', out, './cmd/onstage'], { cwd: repoRoot, stdio: 'inherit' });
  builtBinary = out;
  return out;
}

/**
 * Starts a server; returns {url, stop(), logs()}. extraEnv adds ONSTAGE_* settings.
 * The server runs from a fresh data directory that is removed on stop.
 */
export async function startServer(extraEnv = {}) {
  const bin = buildServer();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'onstage-e2e-data-'));
  const logPath = join(dataDir, 'server.log');
  const log = createWriteStream(logPath);
  // The public URL is the server itself: mailed links and the payment sandbox's checkout
  // page and webhooks point there.
  const env = {
    ...process.env,
    ONSTAGE_HTTP_ADDR: `127.0.0.1:${port}`,
    ONSTAGE_HTTP_PUBLIC_URL: `http://127.0.0.1:${port}`,
    ONSTAGE_DATA_DIR: dataDir,
    ...extraEnv,
  };
  const child = spawn(bin, [], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk) => {
    log.write(chunk);
    tail = (tail + chunk.toString()).slice(-20000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  for (;;) {
    if (exited) throw new Error(`server exited early (${JSON.stringify(exited)}):\n${tail}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server not ready after 30 s:\n${tail}`);
    }
    await sleep(200);
  }

  return {
    url,
    logs: () => tail,
    /** Runs the binary's command line against this server's data (e.g. user create --admin). */
    cli(args) {
      return execFileSync(bin, args, { cwd: dataDir, env, encoding: 'utf8' });
    },
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const t0 = Date.now();
        while (!exited && Date.now() - t0 < 5000) await sleep(50);
        if (!exited) child.kill('SIGKILL');
      }
      log.end();
      if (!process.env.ONSTAGE_E2E_KEEP) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Launches Chromium with a fresh profile; returns {browser, newPage(), close()}. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}. Install it with: apt-get update && apt-get install -y chromium`);
  }
  // playwright-core starts Chromium with a fresh temporary --user-data-dir of its own (it
  // refuses one in args); every page below gets its own context, so storage is never shared.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  const contexts = [];
  return {
    browser,
    /** A page in its own context (own storage), with camera and microphone allowed. */
    async newPage(baseURL, name = 'page', contextOptions = {}) {
      const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 }, permissions: ['camera', 'microphone'], ...contextOptions });
      contexts.push(context);
      const page = await context.newPage();
      page.consoleLog = [];
      page.on('console', (m) => page.consoleLog.push(`[${name}] ${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => page.consoleLog.push(`[${name}] pageerror: ${e.message}`));
      return page;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close().catch(() => {});
    },
  };
}

// ---- REST helpers --------------------------------------------------------------------------

export async function rest(base, method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!res.ok) {
    const err = new Error(`${method} ${path}: ${res.status} ${text}`);
    err.status = res.status;
    err.data = data;
    throw err;
  }
  return data;
}

let userSeq = 0;

/** Registers a streamer and logs in; returns the token pair (with .user). */
export async function makeUser(base, name = 'Host') {
  userSeq += 1;
  const email = `${name.toLowerCase().replace(/\W/g, '')}-${process.pid}-${Date.now()}-${userSeq}@example.test`;
  const password = 'correct-horse-9';
  await rest(base, 'POST', '/auth/register', { email, password, display_name: name, role: 'streamer' });
  const tokens = await rest(base, 'POST', '/auth/login', { email, password });
  return { ...tokens, email, password };
}

export async function makeMeeting(base, token, extra = {}) {
  return rest(base, 'POST', '/meetings', {
    title: 'E2E meeting',
    start_time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    duration_minutes: 60,
    is_public: true,
    ...extra,
  }, token);
}

/** Puts a signed-in user's tokens into a page's sessionStorage before its scripts run. */
export async function signInPage(page, tokens) {
  const value = JSON.stringify({ access_token: tokens.access_token, refresh_token: tokens.refresh_token, user: tokens.user, guest: false });
  await page.addInitScript((v) => {
    if (!sessionStorage.getItem('onstage.auth')) sessionStorage.setItem('onstage.auth', v);
  }, value);
}

// ---- page helpers --------------------------------------------------------------------------

/** Waits until the page shows the meeting room and has a participant id. */
export async function waitInRoom(page, timeout = 20000) {
  await page.waitForFunction(() => !!(window.onstage && window.onstage.participantId && document.getElementById('room')), null, { timeout });
  return page.evaluate(() => window.onstage.participantId);
}

/** Reads inbound-rtp totals from the page's subscriber connection. */
export async function inboundStats(page) {
  return page.evaluate(async () => {
    const pc = window.onstage && window.onstage.subscriber;
    const out = { framesDecoded: 0, videoPackets: 0, audioPackets: 0, audioBytes: 0 };
    if (!pc) return out;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        out.framesDecoded += s.framesDecoded || 0;
        out.videoPackets += s.packetsReceived || 0;
      } else if (s.kind === 'audio') {
        out.audioPackets += s.packetsReceived || 0;
        out.audioBytes += s.bytesReceived || 0;
      }
    });
    return out;
  });
}

/** Waits until video frames are decoding (and rising) and audio packets arrive on a page. */
export async function waitForMedia(page, { timeout = 10000 } = {}) {
  const deadline = Date.now() + timeout;
  let first = null;
  let last = null;
  while (Date.now() < deadline) {
    last = await inboundStats(page);
    if (!first && last.framesDecoded > 0 && last.audioPackets > 0) first = last;
    else if (first && last.framesDecoded > first.framesDecoded && last.audioPackets > first.audioPackets) return last;
    await sleep(250);
  }
  throw new Error(`no media within ${timeout} ms: ${JSON.stringify(last)}`);
}

/** Dumps console output of pages and the server's log tail, for a failing test. */
export function diagnostics(server, pages) {
  const parts = [];
  for (const p of pages) if (p && p.consoleLog) parts.push(p.consoleLog.slice(-60).join('\n'));
  if (server) parts.push('--- server log tail ---\n' + server.logs().slice(-6000));
  return parts.join('\n');
}
