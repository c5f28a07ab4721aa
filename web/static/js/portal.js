// The portal: the streamer catalogue, a streamer's page with free slots and booking, the
// caller's orders (pay, join, cancel, review), and the account pages (sign in, register,
// password reset, email verification). Everything goes through the REST API (docs/api.md).

import { h, clear, field, toast } from './dom.js';
import { request, idempotencyKey, errorText } from './api.js';
import {
  shell, loading, empty, failure, errText, money, dateTime, viewerZone, pill, qs, hasRole,
} from './ui.js';
import { authSection } from './home.js';

// ---- catalogue -----------------------------------------------------------------------------

const SORTS = [['rating', 'Best rated'], ['popular', 'Most popular'], ['price', 'Lowest price'], ['new', 'Newest']];

function stars(rating, count) {
  const r = Number(rating) || 0;
  return h('span', { class: 'rating', 'aria-label': `Rated ${r.toFixed(1)} of 5 from ${count} reviews` },
    h('span', { class: 'stars', 'aria-hidden': 'true', text: '★'.repeat(Math.round(r)) + '☆'.repeat(5 - Math.round(r)) }),
    h('span', { class: 'muted small', text: count ? ` ${r.toFixed(1)} (${count})` : ' no reviews yet' }));
}

function avatar(url, name, cls = 'card-photo') {
  if (url) return h('img', { class: cls, src: url, alt: `Photo of ${name}`, loading: 'lazy' });
  return h('div', { class: `${cls} photo-none`, 'aria-hidden': 'true', text: (name || '?').slice(0, 1).toUpperCase() });
}

/** Counts a click on a sponsored card with its served token (once; the server refuses replays). */
function countAdClick(token) {
  try {
    fetch('/api/v1/ads/click', { method: 'POST', keepalive: true, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) }).catch(() => {});
  } catch { /* counting never blocks the visit */ }
}

function streamerCard(c) {
  return h('li', { class: `streamer-card ${c.sponsored ? 'sponsored' : ''}`, dataset: { id: c.id, sponsored: c.sponsored ? 'true' : 'false' } },
    h('a', {
      href: `/streamers/${encodeURIComponent(c.id)}`, class: 'streamer-link',
      onclick: c.sponsored && c.ad_token ? () => countAdClick(c.ad_token) : null,
    },
      avatar(c.avatar, c.display_name),
      h('div', { class: 'streamer-body' },
        c.sponsored ? h('span', { class: 'badge-sponsored', text: 'Sponsored' }) : null,
        h('h3', { class: 'streamer-name', text: c.display_name }),
        h('p', { class: 'muted small', text: [c.city, (c.languages || []).join(', ')].filter(Boolean).join(' · ') }),
        h('p', { class: 'tags' }, (c.games || []).slice(0, 4).map((g) => h('span', { class: 'tag', text: g }))),
        stars(c.rating, c.review_count),
        h('p', { class: 'price', text: `${money(c.price_per_hour, c.currency)} / hour` }),
        h('p', { class: 'muted small', text: c.next_free_slot ? `Next free: ${dateTime(c.next_free_slot)}` : 'No free time in the next 14 days' }))));
}

export async function renderCatalogue(app) {
  const { main } = await shell(app, { title: 'Find a streamer', current: '/' });
  const params = new URLSearchParams(location.search);
  const input = (name, label, attrs = {}) => field(label, h('input', { type: 'text', name, id: `f-${name}`, value: params.get(name) || '', ...attrs })).wrap;
  const sort = h('select', { name: 'sort', id: 'f-sort' }, h('option', { value: '', text: 'Recommended' }),
    SORTS.map(([v, t]) => h('option', { value: v, text: t, selected: params.get('sort') === v })));
  // Prices are typed in whole units and sent in minor units (cents).
  const form = h('form', { class: 'filters', method: 'get', action: '/', id: 'filters', role: 'search' },
    input('q', 'Search'),
    input('city', 'City'),
    input('game', 'Game'),
    input('language', 'Language'),
    input('min', 'Min price / hour', { type: 'number', min: '0', step: '1', inputmode: 'numeric' }),
    input('max', 'Max price / hour', { type: 'number', min: '0', step: '1', inputmode: 'numeric' }),
    field('Sort', sort).wrap,
    h('div', { class: 'filter-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'f-submit', text: 'Search' }),
      h('a', { href: '/', class: 'btn btn-ghost', text: 'Clear' })));
  const results = h('section', { class: 'results', 'aria-live': 'polite', id: 'results' });
  main.append(h('div', { class: 'hero' }, h('h1', { text: 'Play with a streamer' }),
    h('p', { class: 'muted', text: 'Book a private session, pay securely, and meet in your browser.' })),
  h('div', { class: 'catalogue' }, form, results));

  const page = Math.max(1, Number(params.get('page')) || 1);
  const query = {
    q: params.get('q'), city: params.get('city'), game: params.get('game'), language: params.get('language'),
    price_min: params.get('min') ? Math.round(Number(params.get('min')) * 100) : '',
    price_max: params.get('max') ? Math.round(Number(params.get('max')) * 100) : '',
    sort: params.get('sort'), page, page_size: 12,
  };
  results.append(loading('Loading streamers…'));
  let res;
  try {
    res = await request('GET', `/streamers${qs(query)}`, undefined, { anonymous: true });
  } catch (e) {
    clear(results).append(failure(e, 'load the streamers'));
    return;
  }
  const items = res.items || [];
  if (!items.length) {
    clear(results).append(empty('No streamer matches these filters yet.', h('a', { href: '/', class: 'btn', text: 'Show everyone' })));
    return;
  }
  const pages = Math.max(1, Math.ceil(res.total / res.page_size));
  const link = (p) => { const q = new URLSearchParams(location.search); q.set('page', String(p)); return `/?${q}`; };
  clear(results).append(...[
    h('p', { class: 'muted small', id: 'result-count', text: `${res.total} streamer${res.total === 1 ? '' : 's'}` }),
    h('ul', { class: 'streamer-grid', id: 'streamer-list' }, items.map(streamerCard)),
    pages > 1 ? h('nav', { class: 'pager', 'aria-label': 'Pages' },
      page > 1 ? h('a', { class: 'btn btn-small', href: link(page - 1), text: 'Previous' }) : null,
      h('span', { class: 'muted small', text: `Page ${page} of ${pages}` }),
      page < pages ? h('a', { class: 'btn btn-small', href: link(page + 1), text: 'Next' }) : null) : null].filter(Boolean));
}

// ---- streamer page -------------------------------------------------------------------------

/** Groups slots by the viewer's local day. */
function slotsByDay(slots) {
  const days = new Map();
  for (const s of slots) {
    const d = new Date(s.start);
    const key = d.toLocaleDateString([], { weekday: 'short', month: 'short', day: 'numeric' });
    if (!days.has(key)) days.set(key, []);
    days.get(key).push(s);
  }
  return days;
}

export async function renderStreamer(app, id) {
  const { main, user } = await shell(app, { title: 'Streamer', current: '' });
  main.append(loading('Loading the streamer…'));
  const params = new URLSearchParams(location.search);
  const duration = Number(params.get('duration')) || 60;
  let d;
  try {
    d = await request('GET', `/streamers/${encodeURIComponent(id)}?duration_minutes=${duration}`, undefined, { anonymous: !user });
  } catch (e) {
    clear(main).append(e.status === 404 ? empty('This streamer is not listed (or no longer).', h('a', { href: '/', class: 'btn', text: 'Back to the catalogue' })) : failure(e, 'load this streamer'));
    return;
  }
  document.title = `${d.display_name} · onstage`;
  const photos = (d.photos || []).length ? d.photos : [];
  const gallery = h('div', { class: 'gallery' }, photos.length
    ? photos.map((p, i) => h('img', { src: p, alt: `${d.display_name}, photo ${i + 1}`, class: 'gallery-photo' }))
    : avatar('', d.display_name, 'gallery-photo'));
  const info = h('div', { class: 'profile-info' },
    h('h1', { id: 'streamer-name', text: d.display_name }),
    stars(d.rating, d.review_count),
    h('p', { class: 'muted', text: [d.city, (d.languages || []).join(', ')].filter(Boolean).join(' · ') }),
    h('p', { class: 'tags' }, (d.games || []).map((g) => h('span', { class: 'tag', text: g }))),
    h('p', { class: 'price', text: `${money(d.price_per_hour, d.currency)} / hour` }),
    h('p', { class: 'bio', id: 'streamer-bio', text: d.bio || '' }));

  // Calendar of free slots, in the viewer's time zone.
  const durSel = h('select', { id: 'slot-duration' }, [15, 30, 60, 90, 120].map((m) => h('option', { value: String(m), text: `${m} minutes`, selected: m === duration })));
  durSel.addEventListener('change', () => { location.assign(`/streamers/${encodeURIComponent(id)}?duration=${durSel.value}`); });
  let chosen = null;
  const summary = h('p', { class: 'muted', id: 'slot-summary', text: 'Pick a time.' });
  const err = h('p', { class: 'error', role: 'alert' });
  const bookBtn = h('button', { type: 'button', class: 'btn btn-primary', id: 'book-button', text: 'Book and pay', disabled: true });
  const cal = h('div', { class: 'calendar', id: 'calendar' });
  const days = slotsByDay(d.free_slots || []);
  if (!days.size) cal.append(empty('No free time in the next 14 days. Check back later.'));
  for (const [day, slots] of days) {
    cal.append(h('div', { class: 'cal-day' }, h('h3', { class: 'cal-date', text: day }),
      h('div', { class: 'cal-slots' }, slots.map((s) => h('button', {
        type: 'button', class: 'slot', 'aria-pressed': 'false', dataset: { start: s.start },
        text: new Date(s.start).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
        onclick: (e) => {
          for (const b of cal.querySelectorAll('.slot[aria-pressed=true]')) b.setAttribute('aria-pressed', 'false');
          e.currentTarget.setAttribute('aria-pressed', 'true');
          chosen = s;
          const price = Math.ceil((d.price_per_hour * duration) / 60);
          summary.textContent = `${dateTime(s.start)} – ${new Date(s.end).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}, ${money(price, d.currency)}`;
          bookBtn.disabled = false;
        },
      })))));
  }
  const key = idempotencyKey();
  bookBtn.addEventListener('click', async () => {
    if (!chosen) return;
    if (!user) { location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`); return; }
    err.textContent = '';
    bookBtn.disabled = true;
    try {
      const order = await request('POST', '/orders', { streamer_id: id, start: chosen.start, duration_minutes: duration }, { headers: { 'Idempotency-Key': `${key}-${chosen.start}` } });
      location.assign(`/orders?pay=${encodeURIComponent(order.id)}`);
    } catch (e) {
      err.textContent = errText(e);
      bookBtn.disabled = false;
    }
  });
  const booking = h('section', { class: 'card booking', 'aria-labelledby': 'book-title' },
    h('h2', { id: 'book-title', text: 'Book a session' }),
    h('p', { class: 'muted small', text: `Times are shown in your time zone (${viewerZone()}). The streamer's is ${d.time_zone}.` }),
    field('Length', durSel).wrap, cal, summary, err,
    user && !hasRole(user, 'player') ? h('p', { class: 'muted small', text: 'Only player accounts can book.' }) : null,
    !user ? h('p', { class: 'muted small' }, h('a', { href: `/login?next=${encodeURIComponent(location.pathname)}`, text: 'Sign in' }), ' to book.') : null,
    bookBtn);

  const reviews = h('section', { class: 'card reviews', id: 'reviews', 'aria-labelledby': 'rev-title' },
    h('h2', { id: 'rev-title', text: 'Reviews' }),
    (d.recent_reviews || []).length
      ? h('ul', { class: 'review-list' }, d.recent_reviews.map((r) => h('li', { class: 'review' },
        h('p', {}, h('strong', { text: r.buyer_name }), ' ', h('span', { class: 'stars', text: '★'.repeat(r.rating) + '☆'.repeat(5 - r.rating), 'aria-label': `${r.rating} of 5` })),
        r.comment ? h('p', { text: r.comment }) : null,
        h('p', { class: 'muted small', text: dateTime(r.created_at) }))))
      : empty('No reviews yet.'));
  clear(main).append(h('div', { class: 'streamer-page' },
    h('div', { class: 'streamer-top' }, gallery, info), h('div', { class: 'columns' }, booking, reviews)));
}

// ---- orders --------------------------------------------------------------------------------

const nameCache = new Map();
async function streamerName(id) {
  if (!nameCache.has(id)) {
    nameCache.set(id, request('GET', `/streamers/${encodeURIComponent(id)}?duration_minutes=60`, undefined, { anonymous: true })
      .then((d) => d.display_name).catch(() => 'Streamer'));
  }
  return nameCache.get(id);
}

// The Join button opens 15 minutes before the start and stays until the end.
const JOIN_EARLY_MS = 15 * 60 * 1000;

function joinState(o) {
  const now = Date.now();
  const start = new Date(o.start).getTime();
  const end = new Date(o.end).getTime();
  if (now > end) return 'over';
  if (now < start - JOIN_EARLY_MS) return 'early';
  return 'open';
}

function reviewForm(o, onDone) {
  const rating = h('select', { id: `rating-${o.id}`, class: 'rating-select' }, [5, 4, 3, 2, 1].map((n) => h('option', { value: String(n), text: `${'★'.repeat(n)} (${n})` })));
  const comment = h('textarea', { id: `comment-${o.id}`, maxlength: '2000', rows: '3' });
  const err = h('p', { class: 'error', role: 'alert' });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', id: `review-submit-${o.id}`, text: 'Send review' });
  const form = h('form', { class: 'review-form', novalidate: true }, field('Rating', rating).wrap, field('Comment (optional)', comment).wrap, err, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    btn.disabled = true;
    err.textContent = '';
    try {
      await request('POST', '/reviews', { order_id: o.id, rating: Number(rating.value), comment: comment.value.trim() });
      toast('Thank you for the review!', 'success');
      onDone();
    } catch (x) {
      err.textContent = errText(x);
      btn.disabled = false;
    }
  });
  return form;
}

function orderRow(o, as, refresh, opts) {
  const other = h('span', { class: 'order-who', text: as === 'buyer' ? '…' : 'Player booking' });
  if (as === 'buyer') streamerName(o.streamer_id).then((n) => { other.textContent = n; });
  const actions = h('div', { class: 'order-actions' });
  const err = h('p', { class: 'error', role: 'alert' });
  const extra = h('div', { class: 'order-extra' });
  if (o.status === 'pending_payment' && as === 'buyer') {
    const pay = h('button', { type: 'button', class: 'btn btn-primary', id: `pay-${o.id}`, text: 'Pay now' });
    const key = idempotencyKey();
    pay.addEventListener('click', async () => {
      pay.disabled = true;
      err.textContent = '';
      try {
        const p = await request('POST', '/payments', { order_id: o.id }, { headers: { 'Idempotency-Key': key } });
        if (p.checkout_url) {
          clear(extra).append(h('p', {}, 'Finish paying on the checkout page: ',
            h('a', { href: p.checkout_url, target: '_blank', rel: 'noopener', id: `checkout-${o.id}`, class: 'btn btn-primary', text: 'Open checkout' })),
          h('p', { class: 'muted small', text: 'This page updates by itself once the payment arrives.' }));
          window.open(p.checkout_url, '_blank', 'noopener');
        }
        opts.poll();
      } catch (x) {
        err.textContent = errText(x);
        pay.disabled = false;
      }
    });
    actions.append(pay);
    if (opts.autoPay === o.id) setTimeout(() => pay.focus(), 0);
  }
  if (o.status === 'paid' && o.meeting_code) {
    const st = joinState(o);
    if (st === 'open') {
      actions.append(h('a', { class: 'btn btn-primary', id: `join-${o.id}`, href: `/m/${encodeURIComponent(o.meeting_code)}`, text: 'Join' }));
    } else if (st === 'early') {
      actions.append(h('button', { type: 'button', class: 'btn', disabled: true, id: `join-${o.id}`, text: `Join opens ${dateTime(new Date(new Date(o.start).getTime() - JOIN_EARLY_MS).toISOString())}` }));
    }
  }
  if (o.status === 'pending_payment' || o.status === 'paid') {
    actions.append(h('button', {
      type: 'button', class: 'btn btn-ghost', id: `cancel-${o.id}`, text: 'Cancel',
      onclick: async (e) => {
        e.currentTarget.disabled = true;
        try {
          await request('POST', `/orders/${encodeURIComponent(o.id)}/cancel`, { reason: 'cancelled in the portal' });
          toast('The booking is cancelled.', 'success');
          refresh();
        } catch (x) {
          err.textContent = errText(x);
          e.currentTarget.disabled = false;
        }
      },
    }));
  }
  if (o.status === 'completed' && as === 'buyer' && !opts.reviewed.has(o.id)) {
    extra.append(h('details', { class: 'review-box', open: opts.reviewOpen === o.id },
      h('summary', { id: `review-${o.id}`, text: 'Write a review' }), reviewForm(o, () => { opts.reviewed.add(o.id); refresh(); })));
  }
  return h('li', { class: `order order-${o.status}`, id: `order-${o.id}`, dataset: { status: o.status } },
    h('div', { class: 'order-main' },
      h('p', { class: 'order-title' }, other, ' ', pill(o.status)),
      h('p', { class: 'muted small', text: `${dateTime(o.start)} · ${o.duration_minutes} min · ${money(o.amount, o.currency)}${o.refunded ? ' · refunded' : ''}` }),
      o.hold_expires_at && o.status === 'pending_payment' ? h('p', { class: 'muted small', text: `Held until ${dateTime(o.hold_expires_at, { timeStyle: 'short' })}` }) : null,
      o.cancel_reason ? h('p', { class: 'muted small', text: `Reason: ${o.cancel_reason}` }) : null),
    actions, err, extra);
}

export async function renderOrders(app) {
  const { main, user } = await shell(app, { title: 'My orders', current: '/orders' });
  if (!user) {
    main.append(empty('Sign in to see your orders.', h('a', { class: 'btn btn-primary', href: '/login?next=/orders', text: 'Sign in' })));
    return;
  }
  const params = new URLSearchParams(location.search);
  const roles = [];
  if (hasRole(user, 'streamer')) roles.push('streamer');
  if (hasRole(user, 'player') || !roles.length) roles.unshift('buyer');
  const opts = { autoPay: params.get('pay'), reviewed: new Set(), reviewOpen: params.get('review'), poll: () => {} };
  const sections = {};
  let timer = null;
  async function draw() {
    let pending = false;
    for (const as of roles) {
      const list = sections[as];
      let res;
      try {
        res = await request('GET', `/orders?as=${as}&page_size=50`);
      } catch (e) {
        clear(list).append(failure(e, 'load your orders'));
        continue;
      }
      const items = res.items || [];
      if (items.some((o) => o.status === 'pending_payment')) pending = true;
      clear(list).append(items.length
        ? h('ul', { class: 'order-list' }, items.map((o) => orderRow(o, as, draw, opts)))
        : empty(as === 'buyer' ? 'No bookings yet.' : 'Nobody has booked you yet.', as === 'buyer' ? h('a', { href: '/', class: 'btn', text: 'Find a streamer' }) : null));
    }
    clearTimeout(timer);
    // While a payment is open, look again every few seconds: the webhook decides.
    if (pending) timer = setTimeout(draw, 3000);
  }
  opts.poll = () => { clearTimeout(timer); timer = setTimeout(draw, 1500); };
  for (const as of roles) {
    sections[as] = h('div', { id: `orders-${as}`, 'aria-live': 'polite' }, loading('Loading orders…'));
    main.append(h('section', { class: 'card', 'aria-labelledby': `h-${as}` },
      h('h2', { id: `h-${as}`, text: as === 'buyer' ? 'Sessions I booked' : 'Sessions booked with me' }), sections[as]));
  }
  main.prepend(h('h1', { text: 'My orders' }));
  await draw();
}

// ---- account pages -------------------------------------------------------------------------

function safeNext() {
  const next = new URLSearchParams(location.search).get('next') || '';
  return /^\/(?![/\\])[^\s\\]*$/.test(next) ? next : '/';
}

export async function renderLogin(app, tab) {
  const { main, user } = await shell(app, { title: tab === 'register' ? 'Register' : 'Sign in' });
  if (user) {
    main.append(h('section', { class: 'card narrow' }, h('p', { text: `You are signed in as ${user.display_name}.` }),
      h('a', { class: 'btn btn-primary', href: safeNext(), text: 'Continue' })));
    return;
  }
  const sec = authSection({ initial: tab || 'signin', guest: false, onDone: () => location.assign(safeNext()) });
  sec.classList.add('narrow');
  sec.append(h('p', { class: 'small' }, h('a', { href: '/forgot-password', id: 'forgot-link', text: 'Forgot your password?' })));
  main.append(sec);
}

export async function renderForgot(app) {
  const { main } = await shell(app, { title: 'Reset your password' });
  const email = h('input', { type: 'email', id: 'forgot-email', autocomplete: 'email', required: true });
  const msg = h('p', { role: 'status' });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'forgot-submit', text: 'Mail me a link' });
  const form = h('form', { novalidate: true }, field('Email', email).wrap, msg, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    btn.disabled = true;
    try {
      await request('POST', '/auth/password/forgot', { email: email.value.trim() }, { anonymous: true });
      msg.className = 'ok';
      msg.textContent = 'If an account has this email, a reset link is on its way. It works for an hour.';
    } catch (x) {
      msg.className = 'error';
      msg.textContent = errorText(x.code, x.message);
    } finally {
      btn.disabled = false;
    }
  });
  main.append(h('section', { class: 'card narrow' }, h('h1', { text: 'Forgot your password?' }), form));
}

export async function renderReset(app) {
  const { main } = await shell(app, { title: 'Choose a new password' });
  const code = new URLSearchParams(location.search).get('code') || '';
  if (!code) {
    main.append(h('section', { class: 'card narrow' }, failure({ code: 'invalid_token' }),
      h('a', { href: '/forgot-password', text: 'Ask for a new link' })));
    return;
  }
  const pw = h('input', { type: 'password', id: 'reset-password', autocomplete: 'new-password', minlength: '8', required: true });
  const pw2 = h('input', { type: 'password', id: 'reset-password2', autocomplete: 'new-password', minlength: '8', required: true });
  const msg = h('p', { role: 'alert', class: 'error' });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'reset-submit', text: 'Set password' });
  const form = h('form', { novalidate: true }, field('New password', pw, 'At least 8 characters.').wrap, field('Repeat it', pw2).wrap, msg, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (pw.value.length < 8) { msg.textContent = 'The password needs at least 8 characters.'; return; }
    if (pw.value !== pw2.value) { msg.textContent = 'The two passwords differ.'; return; }
    btn.disabled = true;
    try {
      await request('POST', '/auth/password/reset', { token: code, password: pw.value }, { anonymous: true });
      clear(form).append(h('p', { class: 'ok', role: 'status', text: 'Your password is set. Sign in with it now.' }),
        h('a', { href: '/login', class: 'btn btn-primary', text: 'Sign in' }));
    } catch (x) {
      msg.textContent = errText(x);
      btn.disabled = false;
    }
  });
  main.append(h('section', { class: 'card narrow' }, h('h1', { text: 'Choose a new password' }), form));
}

export async function renderVerify(app) {
  const { main } = await shell(app, { title: 'Verify your email' });
  const code = new URLSearchParams(location.search).get('code') || '';
  const box = h('section', { class: 'card narrow', id: 'verify-box' }, h('h1', { text: 'Email verification' }), loading('Checking your link…'));
  main.append(box);
  try {
    if (!code) throw { code: 'invalid_token' };
    await request('GET', `/auth/verify?code=${encodeURIComponent(code)}`, undefined, { anonymous: true });
    box.lastChild.replaceWith(h('p', { class: 'ok', role: 'status', text: 'Thank you: your email address is verified.' }));
  } catch (e) {
    box.lastChild.replaceWith(failure(e, 'verify the address'));
  }
}
