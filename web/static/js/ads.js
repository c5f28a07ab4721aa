// Ads in the browser (docs/api.md, Ads): the console's package editor, the agency pages
// (import with the per-row report, sub-accounts, their ads with toggles) and a streamer's own
// ads (buy, pay in the checkout, pause/resume, impressions and clicks per day).

import { h, clear, field, toast } from './dom.js';
import { request, idempotencyKey, accessToken } from './api.js';
import { loading, empty, failure, errText, money, dateTime, pill, pagedTable, qs, minorUnits } from './ui.js';
import { dailyBars, lastDays } from './charts.js';

const PLACEMENTS = [['catalogue_top', 'Top of the catalogue'], ['search', 'Search results'], ['lobby', 'Lobby']];
const placementName = (p) => (PLACEMENTS.find(([v]) => v === p) || [p, p])[1];

function notAvailable(e) {
  return e && e.status === 404 && e.code === 'not_found' ? empty('Ads are not available on this server.') : null;
}

function timeLeft(ad) {
  if (ad.status === 'active' && ad.ends_at) {
    const s = Math.max(0, (new Date(ad.ends_at).getTime() - Date.now()) / 1000);
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h left, until ${dateTime(ad.ends_at)}`;
  }
  if (ad.status === 'paused') return `${Math.floor(ad.remaining_seconds / 86400)} d ${Math.floor((ad.remaining_seconds % 86400) / 3600)} h left (paused)`;
  return '';
}

/** Impressions and clicks per day of one ad, as a chart. */
export async function adChart(ad) {
  const st = await request('GET', `/ads/${encodeURIComponent(ad.id)}/stats`);
  const imp = {};
  const clk = {};
  for (const d of st.days || []) { imp[d.date] = d.impressions; clk[d.date] = d.clicks; }
  return dailyBars({
    id: `chart-ad-${ad.id}`,
    title: `${placementName(ad.placement)} ad: ${st.impressions} impressions, ${st.clicks} clicks${st.bot_impressions ? ` (robots: ${st.bot_impressions} views, ${st.bot_clicks} clicks, not counted)` : ''}`,
    days: lastDays(14),
    series: [{ name: 'impressions', values: imp }, { name: 'clicks', values: clk }],
  });
}

// ---- console: packages -------------------------------------------------------------------------

export async function adPackages(body) {
  const list = h('div', { id: 'packages-list' });
  async function load() {
    clear(list).append(loading());
    try {
      const r = await request('GET', '/ads/packages');
      const items = r.items || [];
      clear(list).append(items.length ? h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, ['Package', 'Placement', 'Days', 'Price', ''].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, items.map((p) => h('tr', {},
          h('td', { 'data-label': 'Package', text: p.name }), h('td', { 'data-label': 'Placement', text: placementName(p.placement) }),
          h('td', { 'data-label': 'Days', text: String(p.duration_days) }), h('td', { 'data-label': 'Price', text: money(p.price, p.currency) }),
          h('td', {}, h('button', {
            type: 'button', class: 'btn btn-small btn-ghost', text: 'Stop selling',
            onclick: async () => {
              try {
                await request('PUT', `/ads/packages/${encodeURIComponent(p.id)}`, { name: p.name, placement: p.placement, duration_days: p.duration_days, price: p.price, currency: p.currency, active: false });
                toast('The package is off sale; sold ads keep running.', 'success');
                load();
              } catch (e) { toast(errText(e), 'error'); }
            },
          })))))) : empty('No packages on sale.'));
    } catch (e) { clear(list).append(notAvailable(e) || failure(e, 'load the packages')); }
  }
  const name = h('input', { type: 'text', id: 'pk-name', maxlength: '100' });
  const placement = h('select', { id: 'pk-placement' }, PLACEMENTS.map(([v, t]) => h('option', { value: v, text: t })));
  const price = h('input', { type: 'number', id: 'pk-price', min: '0', step: '0.01', value: '10' });
  const currency = h('input', { type: 'text', id: 'pk-currency', value: 'EUR', maxlength: '3' });
  const days = h('input', { type: 'number', id: 'pk-days', min: '1', max: '366', value: '7' });
  const err = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'card', novalidate: true, id: 'package-form' }, h('h2', { text: 'New ad package' }),
    h('div', { class: 'row' }, field('Name', name).wrap, field('Placement', placement).wrap),
    h('div', { class: 'row' }, field('Price', price).wrap, field('Currency', currency).wrap, field('Days', days).wrap), err,
    h('button', { type: 'submit', class: 'btn btn-primary', id: 'pk-create', text: 'Create package' }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const cur = currency.value.trim().toUpperCase();
    try {
      await request('POST', '/ads/packages', { name: name.value.trim(), placement: placement.value, duration_days: Number(days.value), price: minorUnits(price.value, cur), currency: cur, active: true });
      toast('Package created.', 'success');
      load();
    } catch (x) { err.textContent = errText(x); }
  });
  body.append(form, list);
  await load();
}

// ---- buying and paying ---------------------------------------------------------------------------

function payBox(ad, onPaid) {
  const out = h('div', { class: 'order-extra' });
  const key = idempotencyKey();
  const btn = h('button', { type: 'button', class: 'btn btn-primary btn-small', id: `ad-pay-${ad.id}`, text: 'Pay now' });
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      const p = await request('POST', '/payments', { ad_id: ad.id }, { headers: { 'Idempotency-Key': key } });
      if (p.checkout_url) {
        clear(out).append(h('p', {}, h('a', { href: p.checkout_url, target: '_blank', rel: 'noopener', class: 'btn btn-small', id: `ad-checkout-${ad.id}`, text: 'Open checkout' }),
          ' This page updates once the payment arrives.'));
        window.open(p.checkout_url, '_blank', 'noopener');
      }
      onPaid();
    } catch (e) {
      toast(errText(e), 'error');
      btn.disabled = false;
    }
  });
  return h('div', {}, btn, out);
}

function adsTable(ads, { toggle, pay, charts }) {
  return h('ul', { class: 'order-list', id: 'ads-list' }, ads.map((ad) => {
    const chartBox = h('div', { class: 'order-extra' });
    const actions = h('div', { class: 'order-actions' });
    if (ad.status === 'pending_payment' && pay) actions.append(pay(ad));
    if (ad.status === 'active' || ad.status === 'paused') {
      actions.append(h('button', {
        type: 'button', class: 'btn btn-small', id: `ad-toggle-${ad.id}`, text: ad.status === 'active' ? 'Pause' : 'Resume',
        onclick: async (e) => {
          e.currentTarget.disabled = true;
          try { await toggle(ad, ad.status !== 'active'); } catch (x) { toast(errText(x), 'error'); e.currentTarget.disabled = false; }
        },
      }));
    }
    if (charts && ad.status !== 'pending_payment' && ad.status !== 'canceled') {
      actions.append(h('button', {
        type: 'button', class: 'btn btn-small btn-ghost', text: 'Stats',
        onclick: async () => { clear(chartBox).append(loading()); try { clear(chartBox).append(await adChart(ad)); } catch (x) { clear(chartBox).append(failure(x, 'load the stats')); } },
      }));
    }
    return h('li', { class: `order ad-${ad.status}`, id: `ad-${ad.id}`, dataset: { status: ad.status } },
      h('div', { class: 'order-main' },
        h('p', { class: 'order-title' }, `${placementName(ad.placement)} · ${Math.round(ad.duration_seconds / 86400)} days `, pill(ad.status)),
        h('p', { class: 'muted small', text: [money(ad.price, ad.currency), timeLeft(ad), ad.owner_name || ''].filter(Boolean).join(' · ') })),
      actions, chartBox);
  }));
}

/** A streamer's own ads at /me/ads. */
export async function myAds(main) {
  main.append(h('h1', { text: 'My ads' }), h('p', { class: 'muted', text: 'A sponsored card puts you first in the catalogue for the days you buy. Paused days are not used up.' }));
  const shop = h('section', { class: 'card', id: 'ad-shop', 'aria-labelledby': 'shop-title' }, h('h2', { id: 'shop-title', text: 'Buy an ad' }), loading());
  const mine = h('section', { class: 'card', id: 'my-ads', 'aria-labelledby': 'mine-title' }, h('h2', { id: 'mine-title', text: 'Your ads' }));
  const mineBody = h('div', {}, loading());
  mine.append(mineBody);
  main.append(shop, mine);
  let timer = null;
  async function drawMine() {
    clearTimeout(timer);
    try {
      const r = await request('GET', '/ads?page_size=50');
      const items = r.items || [];
      clear(mineBody).append(items.length ? adsTable(items, {
        toggle: async (ad, active) => { await request('PUT', `/ads/${encodeURIComponent(ad.id)}/toggle`, { active }); drawMine(); },
        pay: (ad) => payBox(ad, () => { timer = setTimeout(drawMine, 1500); }),
        charts: true,
      }) : empty('You have no ads yet.'));
      if (items.some((a) => a.status === 'pending_payment')) timer = setTimeout(drawMine, 3000);
    } catch (e) { clear(mineBody).append(notAvailable(e) || failure(e, 'load your ads')); }
  }
  try {
    const r = await request('GET', '/ads/packages');
    const items = r.items || [];
    const key = idempotencyKey();
    shop.lastChild.replaceWith(items.length ? h('ul', { class: 'order-list', id: 'packages' }, items.map((p) => h('li', { class: 'order' },
      h('div', { class: 'order-main' }, h('p', { class: 'order-title', text: p.name }),
        h('p', { class: 'muted small', text: `${placementName(p.placement)} · ${p.duration_days} days · ${money(p.price, p.currency)}` })),
      h('div', { class: 'order-actions' }, h('button', {
        type: 'button', class: 'btn btn-primary btn-small', id: `buy-${p.id}`, text: 'Buy',
        onclick: async (e) => {
          e.currentTarget.disabled = true;
          try {
            await request('POST', '/ads/purchase', { package_id: p.id }, { headers: { 'Idempotency-Key': `${key}-${p.id}` } });
            toast('Ad ordered. Pay for it to go live.', 'success');
            drawMine();
          } catch (x) { toast(errText(x), 'error'); }
          e.currentTarget.disabled = false;
        },
      }))))) : empty('No ad packages are on sale right now.'));
  } catch (e) { shop.lastChild.replaceWith(notAvailable(e) || failure(e, 'load the packages')); }
  await drawMine();
}

// ---- agency --------------------------------------------------------------------------------------

export async function agency(body) {
  // Import: a dry run first shows every problem by row; then the real import.
  const file = h('input', { type: 'file', id: 'imp-file', accept: '.csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' });
  const report = h('div', { id: 'imp-report', 'aria-live': 'polite' });
  const send = async (dry) => {
    const f = file.files && file.files[0];
    if (!f) { clear(report).append(h('p', { class: 'error', text: 'Choose a CSV or XLSX file first.' })); return; }
    clear(report).append(loading(dry ? 'Checking the file…' : 'Importing…'));
    const form = new FormData();
    form.append('file', f);
    const token = await accessToken();
    let res;
    let data = null;
    try {
      res = await fetch(`/api/v1/agency/import${dry ? '?dry_run=1' : ''}`, { method: 'POST', body: form, headers: token ? { Authorization: `Bearer ${token}` } : {} });
      data = await res.json().catch(() => null);
    } catch {
      clear(report).append(failure({ code: 'network' }, 'send the file'));
      return;
    }
    if (res.status === 422 && data && data.errors) {
      clear(report).append(h('p', { class: 'error', text: `Nothing was imported: ${data.errors.length} problem${data.errors.length === 1 ? '' : 's'}.` }),
        h('table', { class: 'table', id: 'imp-errors' }, h('thead', {}, h('tr', {}, ['Row', 'Column', 'Problem'].map((t) => h('th', { scope: 'col', text: t })))),
          h('tbody', {}, data.errors.map((x) => h('tr', {}, h('td', { text: x.row ? String(x.row) : 'file' }), h('td', { text: x.column || '' }), h('td', { text: String(x.code).replace(/_/g, ' ') }))))));
      return;
    }
    if (!res.ok) {
      const err = (data && data.error) || {};
      clear(report).append(failure({ code: err.code, message: err.message }, 'import the file'));
      return;
    }
    clear(report).append(h('p', { class: 'ok', role: 'status', id: 'imp-done', text: data.dry_run ? `All ${data.valid} rows are valid. Import them when ready.` : `Imported ${data.created} sub-accounts; each is mailed a link to choose a password.` }));
    if (!data.dry_run) subs.reload();
  };
  body.append(h('section', { class: 'card', 'aria-labelledby': 'imp-title' }, h('h2', { id: 'imp-title', text: 'Import streamers' }),
    h('p', { class: 'muted small', text: 'A CSV or XLSX file whose first row is: email, display_name, city, games (games separated by ; or |). All rows are created, or none.' }),
    field('File', file).wrap,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'btn', id: 'imp-check', text: 'Check the file', onclick: () => send(true) }),
      h('button', { type: 'button', class: 'btn btn-primary', id: 'imp-submit', text: 'Import', onclick: () => send(false) })),
    report));

  const subs = pagedTable({
    id: 'subs-table',
    caption: 'Sub-accounts',
    load: (q) => request('GET', `/agency/sub-accounts${qs(q)}`),
    emptyText: 'No sub-accounts yet. Import a file to create them.',
    columns: [
      { label: 'Name', render: (u) => h('span', {}, h('strong', { text: u.display_name }), h('br'), h('span', { class: 'muted small', text: u.email })) },
      { label: 'City', key: 'city' },
      { label: 'Games', render: (u) => (u.games || []).join(', ') },
      { label: 'Verified', render: (u) => (u.email_verified ? 'yes' : 'not yet') },
    ],
  });
  body.append(h('h2', { text: 'Sub-accounts' }), subs.el);

  const adsBox = h('div', { id: 'agency-ads' }, loading());
  const buyBox = h('div', { id: 'agency-buy' });
  body.append(h('h2', { text: 'Their ads' }), buyBox, adsBox);
  // Buying for a sub-account: the agency pays, the sub-account's card is the one shown.
  (async () => {
    try {
      const [pk, sa] = await Promise.all([request('GET', '/ads/packages'), request('GET', '/agency/sub-accounts?page_size=100')]);
      if (!(pk.items || []).length || !(sa.items || []).length) return;
      const who = h('select', { id: 'ab-sub' }, sa.items.map((u) => h('option', { value: u.id, text: `${u.display_name} (${u.email})` })));
      const what = h('select', { id: 'ab-package' }, pk.items.map((p) => h('option', { value: p.id, text: `${p.name}: ${placementName(p.placement)}, ${p.duration_days} days, ${money(p.price, p.currency)}` })));
      const err = h('p', { class: 'error', role: 'alert' });
      const key = idempotencyKey();
      const form = h('form', { class: 'card', novalidate: true, id: 'agency-buy-form' }, h('h3', { text: 'Buy an ad for a sub-account' }),
        h('div', { class: 'row' }, field('Sub-account', who).wrap, field('Package', what).wrap), err,
        h('button', { type: 'submit', class: 'btn btn-primary', id: 'ab-submit', text: 'Order the ad' }));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        err.textContent = '';
        try {
          await request('POST', '/agency/ads/purchase', { sub_account_id: who.value, package_id: what.value }, { headers: { 'Idempotency-Key': `${key}-${who.value}-${what.value}` } });
          toast('Ad ordered. Pay for it to go live.', 'success');
          drawAds();
        } catch (x) { err.textContent = errText(x); }
      });
      buyBox.append(form);
    } catch { /* without packages or sub-accounts there is nothing to buy */ }
  })();
  async function drawAds() {
    try {
      const r = await request('GET', '/ads?page_size=100');
      const items = r.items || [];
      clear(adsBox).append(items.length ? adsTable(items, {
        toggle: async (ad, active) => { await request('PUT', `/agency/ads/${encodeURIComponent(ad.id)}/toggle`, { active }); drawAds(); },
        pay: (ad) => payBox(ad, () => setTimeout(drawAds, 2000)),
        charts: true,
      }) : empty('No ads yet.'));
    } catch (e) { clear(adsBox).append(notAvailable(e) || failure(e, 'load the ads')); }
  }
  await Promise.all([subs.reload({}), drawAds()]);
}
