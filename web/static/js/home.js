// The home page: sign in, register or continue as a guest; then create a meeting or join one
// by code or link.

import { h, clear, field, toast } from './dom.js';
import { api, errorText } from './api.js';
import { auth } from './store.js';

/** Extracts a meeting code from a code or a pasted link (…/m/CODE). */
export function parseCode(text) {
  const s = String(text || '').trim();
  const m = s.match(/\/m\/([A-Za-z0-9_-]+)/);
  if (m) return m[1].toUpperCase();
  if (/^[A-Za-z0-9]{4,16}$/.test(s)) return s.toUpperCase();
  return null;
}

function localInputValue(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function goTo(path) {
  location.assign(path);
}

function afterAuth() {
  const next = new URLSearchParams(location.search).get('next');
  if (next && /^\/(?![/\\])[^\s\\]*$/.test(next)) goTo(next);
  else renderHome(document.getElementById('app'));
}

function fieldErrors(e) {
  if (!e.fields) return '';
  return Object.entries(e.fields).map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`).join('; ');
}

/**
 * The sign-in / register / guest tabs. initial picks the first tab, guest:false leaves the
 * guest tab out, onDone runs after a successful sign-in or registration.
 */
export function authSection({ initial = 'signin', guest = true, onDone = afterAuth } = {}) {
  const tabs = guest ? ['signin', 'register', 'guest'] : ['signin', 'register'];
  const labels = { signin: 'Sign in', register: 'Register', guest: 'Continue as guest' };
  let current = 'signin';
  const tabButtons = {};
  const panels = {};
  const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'How to continue' });
  const body = h('div', { class: 'tab-panels' });

  function select(name, focus) {
    current = name;
    for (const t of tabs) {
      tabButtons[t].setAttribute('aria-selected', String(t === name));
      tabButtons[t].tabIndex = t === name ? 0 : -1;
      panels[t].hidden = t !== name;
    }
    if (focus) tabButtons[name].focus();
  }

  for (const t of tabs) {
    const b = h('button', { type: 'button', role: 'tab', id: `tab-${t}`, 'aria-controls': `panel-${t}`, class: 'tab', text: labels[t] });
    b.addEventListener('click', () => select(t, false));
    b.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(current);
      if (e.key === 'ArrowRight') { e.preventDefault(); select(tabs[(i + 1) % tabs.length], true); }
      if (e.key === 'ArrowLeft') { e.preventDefault(); select(tabs[(i + tabs.length - 1) % tabs.length], true); }
    });
    tabButtons[t] = b;
    tablist.append(b);
  }

  // Sign in.
  {
    const email = h('input', { type: 'email', id: 'signin-email', autocomplete: 'email', required: true });
    const pw = h('input', { type: 'password', id: 'signin-password', autocomplete: 'current-password', required: true });
    const err = h('p', { class: 'error', role: 'alert' });
    // The human verification widget, shown when the server asks for it (captcha_required).
    const captcha = h('div', { id: 'signin-captcha', hidden: true });
    let captchaToken = '';
    const btn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'signin-submit', text: 'Sign in' });
    const form = h('form', { novalidate: true }, field('Email', email).wrap, field('Password', pw).wrap, captcha, err, btn);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      btn.disabled = true;
      try {
        await api.login(email.value.trim(), pw.value, captchaToken);
        onDone();
      } catch (x) {
        err.textContent = errorText(x.code, x.message);
        if (x.code === 'captcha_required' && x.fields && x.fields.site_key) {
          captchaToken = '';
          showCaptcha(captcha, x.fields.provider, x.fields.site_key, (t) => { captchaToken = t; })
            .catch(() => { err.textContent = 'The verification widget could not be loaded.'; });
        }
      } finally {
        btn.disabled = false;
      }
    });
    panels.signin = h('div', { role: 'tabpanel', id: 'panel-signin', 'aria-labelledby': 'tab-signin' }, form);
  }

  // Register.
  {
    const name = h('input', { type: 'text', id: 'register-name', autocomplete: 'name', required: true, maxlength: '64' });
    const email = h('input', { type: 'email', id: 'register-email', autocomplete: 'email', required: true });
    const pw = h('input', { type: 'password', id: 'register-password', autocomplete: 'new-password', required: true, minlength: '8' });
    const role = h('select', { id: 'register-role' },
      h('option', { value: 'streamer', text: 'Streamer — I host sessions' }),
      h('option', { value: 'player', text: 'Player — I book sessions' }),
      h('option', { value: 'agency', text: 'Agency' }));
    const err = h('p', { class: 'error', role: 'alert' });
    const btn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'register-submit', text: 'Create account' });
    const form = h('form', { novalidate: true },
      field('Display name', name).wrap, field('Email', email).wrap,
      field('Password', pw, 'At least 8 characters.').wrap, field('Account type', role).wrap, err, btn);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      if (pw.value.length < 8) { err.textContent = 'The password needs at least 8 characters.'; pw.focus(); return; }
      btn.disabled = true;
      try {
        const body = { email: email.value.trim(), password: pw.value, display_name: name.value.trim() };
        if (role.value) body.role = role.value;
        await api.register(body);
        await api.login(body.email, body.password);
        toast('Welcome to onstage!', 'success');
        onDone();
      } catch (x) {
        err.textContent = fieldErrors(x) || errorText(x.code, x.message);
      } finally {
        btn.disabled = false;
      }
    });
    panels.register = h('div', { role: 'tabpanel', id: 'panel-register', 'aria-labelledby': 'tab-register' }, form);
  }

  // Guest.
  if (guest) {
    const name = h('input', { type: 'text', id: 'guest-name', autocomplete: 'name', required: true, maxlength: '64' });
    const err = h('p', { class: 'error', role: 'alert' });
    const btn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'guest-submit', text: 'Continue' });
    const form = h('form', { novalidate: true }, field('Your name', name, 'Guests can join public meetings.').wrap, err, btn);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      if (!name.value.trim()) { err.textContent = 'Enter your name.'; name.focus(); return; }
      btn.disabled = true;
      try {
        await api.guest(name.value.trim());
        afterAuth();
      } catch (x) {
        err.textContent = errorText(x.code, x.message);
      } finally {
        btn.disabled = false;
      }
    });
    panels.guest = h('div', { role: 'tabpanel', id: 'panel-guest', 'aria-labelledby': 'tab-guest' }, form);
  }

  for (const t of tabs) body.append(panels[t]);
  select(tabs.includes(initial) ? initial : 'signin', false);
  return h('section', { class: 'card', 'aria-labelledby': 'auth-title' },
    h('h2', { id: 'auth-title', text: 'Get started' }), tablist, body);
}

function joinSection() {
  const code = h('input', { type: 'text', id: 'join-code', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', required: true });
  const err = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { novalidate: true, class: 'inline-form' },
    field('Meeting code or link', code, 'For example K7MPQ2').wrap,
    h('button', { type: 'submit', class: 'btn btn-primary', id: 'join-code-submit', text: 'Join' }), err);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const c = parseCode(code.value);
    if (!c) { err.textContent = 'Enter a six-character code or a meeting link.'; code.focus(); return; }
    goTo(`/m/${encodeURIComponent(c)}`);
  });
  return h('section', { class: 'card', 'aria-labelledby': 'join-title-home' },
    h('h2', { id: 'join-title-home', text: 'Join a meeting' }), form);
}

function createSection() {
  const now = new Date(Date.now() + 60_000);
  const title = h('input', { type: 'text', id: 'create-title', required: true, maxlength: '200' });
  const start = h('input', { type: 'datetime-local', id: 'create-start', value: localInputValue(now), required: true });
  const duration = h('input', { type: 'number', id: 'create-duration', min: '1', max: '480', value: '60', required: true });
  const password = h('input', { type: 'password', id: 'create-password', autocomplete: 'new-password', maxlength: '128' });
  const max = h('input', { type: 'number', id: 'create-max', min: '2', max: '1000', value: '100' });
  const isPublic = h('input', { type: 'checkbox', id: 'create-public', checked: true });
  const recording = h('input', { type: 'checkbox', id: 'create-recording' });
  const err = h('p', { class: 'error', role: 'alert' });
  const result = h('div', { class: 'created', id: 'created', 'aria-live': 'polite' });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'create-submit', text: 'Create meeting' });
  const check = (input, label) => h('div', { class: 'check' }, input, h('label', { for: input.id, text: label }));
  const form = h('form', { novalidate: true },
    field('Title', title).wrap,
    h('div', { class: 'row' }, field('Starts', start).wrap, field('Duration (minutes)', duration).wrap),
    h('div', { class: 'row' }, field('Password (optional)', password).wrap, field('Max participants', max).wrap),
    check(isPublic, 'Public — guests with the link can join'),
    check(recording, 'Record this meeting'),
    err, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!title.value.trim()) { err.textContent = 'Give the meeting a title.'; title.focus(); return; }
    const startDate = new Date(start.value);
    if (Number.isNaN(startDate.getTime())) { err.textContent = 'Choose a start time.'; start.focus(); return; }
    const body = {
      title: title.value.trim(),
      start_time: startDate.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      duration_minutes: Number(duration.value) || 60,
      is_public: isPublic.checked,
      recording_enabled: recording.checked,
    };
    if (password.value) body.password = password.value;
    if (max.value) body.max_participants = Number(max.value);
    btn.disabled = true;
    try {
      const m = await api.createMeeting(body);
      const link = `${location.origin}/m/${encodeURIComponent(m.code)}`;
      const copy = h('button', { type: 'button', class: 'btn', text: 'Copy link' });
      copy.addEventListener('click', async () => {
        try { await navigator.clipboard.writeText(link); toast('Link copied.', 'success'); } catch { toast(link, 'info', 10000); }
      });
      clear(result).append(
        h('p', {}, 'Created ', h('strong', { text: m.title }), '. Code ', h('strong', { class: 'code', id: 'created-code', text: m.code })),
        h('p', { class: 'link' }, h('a', { href: `/m/${encodeURIComponent(m.code)}`, id: 'created-link', text: link })),
        h('div', { class: 'actions' },
          h('a', { class: 'btn btn-primary', href: `/m/${encodeURIComponent(m.code)}`, id: 'start-meeting', text: 'Start now' }), copy));
      result.querySelector('#start-meeting').focus();
    } catch (x) {
      err.textContent = fieldErrors(x) || errorText(x.code, x.message);
    } finally {
      btn.disabled = false;
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'create-title-h' },
    h('h2', { id: 'create-title-h', text: 'Create a meeting' }), form, result);
}

function meetingsSection() {
  const list = h('ul', { class: 'meeting-list' });
  const sec = h('section', { class: 'card', 'aria-labelledby': 'mine-title', hidden: true },
    h('h2', { id: 'mine-title', text: 'Your meetings' }), list);
  api.myMeetings().then((res) => {
    const items = (res && res.items) || [];
    const open = items.filter((m) => m.status === 'scheduled' || m.status === 'live');
    if (!open.length) return;
    for (const m of open) {
      list.append(h('li', {},
        h('a', { href: `/m/${encodeURIComponent(m.code)}`, text: m.title }),
        h('span', { class: 'muted small', text: ` ${m.code} · ${m.status_text || m.status} · ${new Date(m.start_time).toLocaleString()}` })));
    }
    sec.hidden = false;
  }).catch(() => {});
  return sec;
}

export function renderHome(app) {
  const a = auth.get();
  const signedIn = a && a.user;
  const header = h('header', { class: 'site-header' },
    h('a', { href: '/', class: 'brand', 'aria-label': 'onstage home' }, h('img', { src: '/static/icon.svg', alt: '', width: '28', height: '28' }), 'onstage'),
    signedIn ? h('div', { class: 'who' },
      h('span', { text: `${a.user.display_name}${a.guest ? ' (guest)' : ''}` }),
      h('button', {
        type: 'button',
        class: 'btn btn-ghost',
        id: 'signout',
        text: 'Sign out',
        onclick: async () => { await api.logout(); renderHome(app); },
      })) : null);

  const sections = [];
  if (!signedIn) {
    sections.push(h('div', { class: 'hero' },
      h('h1', { text: 'Meet live, right in your browser' }),
      h('p', { class: 'muted', text: 'Host a session or join one with a six-character code. No installs.' })));
    sections.push(h('div', { class: 'columns' }, authSection(), joinSection()));
  } else {
    sections.push(h('div', { class: 'hero' }, h('h1', { text: `Hello, ${a.user.display_name}` })));
    const cols = [joinSection()];
    if (!a.guest) cols.unshift(createSection());
    sections.push(h('div', { class: 'columns' }, cols));
    if (!a.guest) sections.push(meetingsSection());
  }
  clear(app).append(header, h('main', { class: 'home', id: 'home' }, sections));
  document.title = 'onstage';
}

// The verification widgets' scripts; all three render with render(element, {sitekey, callback}).
const captchaScripts = {
  turnstile: ['https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit', 'turnstile'],
  hcaptcha: ['https://js.hcaptcha.com/1/api.js?render=explicit', 'hcaptcha'],
  recaptcha: ['https://www.google.com/recaptcha/api.js?render=explicit', 'grecaptcha'],
};

/** Loads the provider's widget once and renders it into el; onToken gets each new token. */
async function showCaptcha(el, provider, siteKey, onToken) {
  const entry = captchaScripts[provider];
  if (!entry) throw new Error(`unknown verification provider ${provider}`);
  const [src, global] = entry;
  if (!window[global]) {
    await new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.async = true;
      s.onload = resolve;
      s.onerror = reject;
      document.head.append(s);
    });
  }
  // The script may define render a moment after it loads; wait for it, bounded.
  for (let i = 0; i < 50 && !(window[global] && window[global].render); i++) await new Promise((r) => setTimeout(r, 100));
  const lib = window[global];
  if (!lib || !lib.render) throw new Error('verification widget did not load');
  el.hidden = false;
  el.replaceChildren();
  lib.render(el, { sitekey: siteKey, callback: onToken, 'expired-callback': () => onToken('') });
}
