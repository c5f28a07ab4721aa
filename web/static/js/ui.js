// Shared pieces of the portal and the console: the page shell (header, navigation, who is
// signed in), loading / empty / error states, money and time formatting, and a table that
// pages on the server.

import { h, clear } from './dom.js';
import { api, request, errorText } from './api.js';
import { auth } from './store.js';

let meCache = null;

/** The signed-in user with roles and permissions (GET /users/me), or null. Cached per page. */
export async function me() {
  const a = auth.get();
  if (!a || !a.user || a.guest) return null;
  if (!meCache) {
    meCache = request('GET', '/users/me').catch((e) => {
      meCache = null;
      if (e.status === 401) { auth.clear(); return null; }
      throw e;
    });
  }
  return meCache;
}

/** True when the user holds the permission (any scope). */
export function can(user, permission) {
  return !!(user && (user.permissions || []).some((p) => p.permission === permission));
}

/** True when the account type or a granted role has this name. */
export function hasRole(user, role) {
  return !!(user && (user.role === role || (user.roles || []).includes(role)));
}

// The permissions that open the console, and the first page each opens.
export const CONSOLE_PERMS = ['streamers:approve', 'users:manage', 'roles:manage', 'audit:read', 'ads:packages',
  'cards:projects', 'cards:quota', 'cards:generate'];

export function consoleAllowed(user) {
  return CONSOLE_PERMS.some((p) => can(user, p)) || hasRole(user, 'agency');
}

/** The navigation of the portal; current marks the active link. */
function navLinks(user, current) {
  const links = [['/', 'Streamers', 'nav-catalogue']];
  if (user) {
    links.push(['/orders', 'My orders', 'nav-orders']);
    if (hasRole(user, 'streamer')) {
      links.push(['/me/profile', 'My profile', 'nav-profile'], ['/me/schedule', 'Schedule', 'nav-schedule'], ['/me/ads', 'My ads', 'nav-ads']);
    }
    links.push(['/meet', 'Meetings', 'nav-meet']);
    if (consoleAllowed(user)) links.push(['/admin', 'Console', 'nav-console']);
  }
  return links.map(([href, text, id]) => h('a', {
    href, id, text, class: 'nav-link', 'aria-current': current === href ? 'page' : null,
  }));
}

/**
 * Renders the page shell into app and returns the <main> element for the page's content.
 * title sets the document title; current is the active nav path.
 */
export async function shell(app, { title, current, wide = false } = {}) {
  let user = null;
  try { user = await me(); } catch { user = null; }
  const who = user
    ? h('div', { class: 'who' },
      h('span', { class: 'who-name', id: 'who-name', text: user.display_name }),
      h('button', {
        type: 'button', class: 'btn btn-ghost btn-small', id: 'signout', text: 'Sign out',
        onclick: async () => { await api.logout(); location.assign('/'); },
      }))
    : h('div', { class: 'who' },
      h('a', { class: 'btn btn-ghost btn-small', href: `/login?next=${encodeURIComponent(location.pathname + location.search)}`, id: 'nav-login', text: 'Sign in' }),
      h('a', { class: 'btn btn-primary btn-small', href: '/register', id: 'nav-register', text: 'Register' }));
  const nav = h('nav', { class: 'site-nav', 'aria-label': 'Main' }, navLinks(user, current));
  const header = h('header', { class: 'site-header portal-header' },
    h('a', { href: '/', class: 'brand', 'aria-label': 'onstage home' },
      h('img', { src: '/static/icon.svg', alt: '', width: '28', height: '28' }), 'onstage'),
    nav, who);
  const main = h('main', { class: `page ${wide ? 'page-wide' : ''}`, id: 'page' });
  clear(app).append(header, main);
  document.title = title ? `${title} · onstage` : 'onstage';
  return { main, user };
}

/** A loading line that screen readers announce. */
export function loading(text = 'Loading…') {
  return h('p', { class: 'loading state', role: 'status', text });
}

/** An empty state: a sentence and an optional action. */
export function empty(text, action) {
  return h('div', { class: 'empty state' }, h('p', { text }), action || null);
}

/** An error in words. */
export function failure(e, what) {
  const msg = errorText(e && e.code, e && e.message);
  return h('div', { class: 'failure state', role: 'alert' },
    h('p', {}, h('strong', { text: what ? `Could not ${what}. ` : '' }), msg));
}

/** Field errors of a 400 as one sentence. */
export function fieldErrors(e) {
  if (!e || !e.fields) return '';
  return Object.entries(e.fields).map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`).join('; ');
}

export function errText(e) {
  return fieldErrors(e) || errorText(e && e.code, e && e.message);
}

/** Formats minor units with the currency's own number of digits. */
export function money(amount, currency) {
  try {
    const f = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    const digits = f.resolvedOptions().maximumFractionDigits;
    return f.format(Number(amount) / 10 ** digits);
  } catch {
    return `${(Number(amount) / 100).toFixed(2)} ${currency}`;
  }
}

/** Minor units from a decimal string in a currency. */
export function minorUnits(text, currency) {
  let digits = 2;
  try { digits = new Intl.NumberFormat(undefined, { style: 'currency', currency }).resolvedOptions().maximumFractionDigits; } catch { /* default */ }
  const n = Number(String(text).replace(',', '.'));
  if (!Number.isFinite(n) || n < 0) return NaN;
  return Math.round(n * 10 ** digits);
}

export function dateTime(iso, opts) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString([], opts || { dateStyle: 'medium', timeStyle: 'short' });
}

export const viewerZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A status pill with a class per status. */
export function pill(status, text) {
  return h('span', { class: `pill pill-${String(status).replace(/[^a-z_]/g, '')}`, text: text || String(status).replace(/_/g, ' ') });
}

/**
 * A table paged on the server. columns: [{key, label, render?(row), sort?: value}]. load(query)
 * gets {page, page_size, sort?} and resolves with {items, total, page, page_size}. Returns
 * {el, reload(extra)}; extra is merged into the query (filters).
 */
export function pagedTable({ id, columns, load, pageSize = 20, emptyText = 'Nothing here yet.', caption }) {
  const el = h('div', { class: 'table-wrap', id });
  let page = 1;
  let sort = '';
  let filters = {};
  async function draw() {
    clear(el).append(loading());
    let res;
    try {
      res = await load({ ...filters, page, page_size: pageSize, ...(sort ? { sort } : {}) });
    } catch (e) {
      clear(el).append(failure(e, 'load this list'));
      return;
    }
    const items = res.items || [];
    if (!items.length) {
      clear(el).append(empty(emptyText));
      return;
    }
    const head = h('tr', {}, columns.map((c) => {
      if (!c.sort) return h('th', { scope: 'col', text: c.label });
      const active = sort === c.sort;
      return h('th', { scope: 'col', 'aria-sort': active ? 'descending' : 'none' },
        h('button', {
          type: 'button', class: 'th-sort', text: `${c.label}${active ? ' ▾' : ''}`,
          onclick: () => { sort = active ? '' : c.sort; page = 1; draw(); },
        }));
    }));
    const rows = items.map((row) => h('tr', {}, columns.map((c) => {
      const v = c.render ? c.render(row) : row[c.key];
      return h('td', { 'data-label': c.label }, v === undefined || v === null ? '' : v);
    })));
    const total = res.total ?? items.length;
    const pages = Math.max(1, Math.ceil(total / (res.page_size || pageSize)));
    const pager = h('div', { class: 'pager' },
      h('button', { type: 'button', class: 'btn btn-small', text: 'Previous', disabled: page <= 1, onclick: () => { page -= 1; draw(); } }),
      h('span', { class: 'muted small', text: `Page ${page} of ${pages} · ${total} in all` }),
      h('button', { type: 'button', class: 'btn btn-small', text: 'Next', disabled: page >= pages, onclick: () => { page += 1; draw(); } }));
    clear(el).append(h('table', { class: 'table' }, caption ? h('caption', { class: 'sr-only', text: caption }) : null,
      h('thead', {}, head), h('tbody', {}, rows)), pager);
  }
  return {
    el,
    reload(extra) {
      if (extra) { filters = extra; page = 1; }
      return draw();
    },
  };
}

/** Builds a query string from an object, leaving out empty values. */
export function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj || {})) if (v !== '' && v !== null && v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}
