// A streamer's own pages: the profile editor (with photo upload) and the weekly schedule
// editor with exceptions. Saving either sends the profile back to approval (docs/api.md).

import { h, clear, field, toast } from './dom.js';
import { request } from './api.js';
import { myAds } from './ads.js';
import { shell, loading, empty, failure, errText, pill, hasRole, minorUnits, viewerZone } from './ui.js';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const CURRENCIES = ['EUR', 'USD', 'GBP', 'CNY', 'JPY', 'KRW', 'BRL', 'INR'];

export async function renderMe(app, path) {
  const page = path === '/me/schedule' ? 'schedule' : path === '/me/ads' ? 'ads' : 'profile';
  const titles = { schedule: 'My schedule', ads: 'My ads', profile: 'My profile' };
  const { main, user } = await shell(app, { title: titles[page], current: `/me/${page}` });
  if (!user) {
    main.append(empty('Sign in to edit your profile.', h('a', { class: 'btn btn-primary', href: `/login?next=${encodeURIComponent(path)}`, text: 'Sign in' })));
    return;
  }
  if (!hasRole(user, 'streamer')) {
    main.append(empty('Only streamer accounts have a profile and a schedule.', h('a', { class: 'btn', href: '/', text: 'Back to the catalogue' })));
    return;
  }
  if (page === 'schedule') await scheduleEditor(main);
  else if (page === 'ads') await myAds(main);
  else await profileEditor(main, user);
}

function splitList(text) {
  return String(text || '').split(',').map((s) => s.trim()).filter(Boolean);
}

async function upload(file) {
  return request('POST', '/uploads/images', file);
}

async function profileEditor(main, user) {
  main.append(h('h1', { text: 'My streamer profile' }));
  const box = h('div', {}, loading('Loading your profile…'));
  main.append(box);
  let p = null;
  try {
    p = await request('GET', '/streamers/profile');
  } catch (e) {
    if (e.code !== 'streamer_not_found' && e.status !== 404) {
      clear(box).append(failure(e, 'load your profile'));
      return;
    }
  }
  const status = p
    ? h('p', { id: 'profile-status' }, 'Status: ', pill(p.status, p.status === 'pending' ? 'waiting for approval' : p.status),
      p.reject_reason ? h('span', { class: 'muted', text: ` — ${p.reject_reason}` }) : null)
    : h('p', { id: 'profile-status', class: 'muted', text: 'You have no profile yet. Fill it in: an admin approves it before players can find you.' });
  const bio = h('textarea', { id: 'pf-bio', rows: '4', maxlength: '2000', value: p ? p.bio : '' });
  const city = h('input', { type: 'text', id: 'pf-city', value: p ? p.city : '', required: true });
  const games = h('input', { type: 'text', id: 'pf-games', value: p ? p.games.join(', ') : '' });
  const langs = h('input', { type: 'text', id: 'pf-languages', value: p ? p.languages.join(', ') : '' });
  const cur = p ? p.currency : 'EUR';
  const currency = h('select', { id: 'pf-currency' }, CURRENCIES.map((c) => h('option', { value: c, text: c, selected: c === cur })));
  const price = h('input', { type: 'number', id: 'pf-price', min: '0', step: '0.01', inputmode: 'decimal', value: p ? String(p.price_per_hour / 100) : '' });
  const zone = h('input', { type: 'text', id: 'pf-zone', value: p ? p.time_zone : viewerZone(), list: 'zones' });
  const zones = h('datalist', { id: 'zones' }, (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : []).map((z) => h('option', { value: z })));
  let photos = p ? [...p.photos] : [];
  const photoList = h('ul', { class: 'photo-list', id: 'pf-photos' });
  const drawPhotos = () => {
    clear(photoList).append(...photos.map((u, i) => h('li', { class: 'photo-item' },
      h('img', { src: u, alt: `Photo ${i + 1}`, class: 'photo-thumb' }),
      h('button', { type: 'button', class: 'btn btn-small btn-ghost', text: 'Remove', 'aria-label': `Remove photo ${i + 1}`, onclick: () => { photos.splice(i, 1); drawPhotos(); } }))));
    if (!photos.length) photoList.append(h('li', { class: 'muted small', text: 'No photos yet. The first one is your picture in the catalogue.' }));
  };
  drawPhotos();
  const fileInput = h('input', { type: 'file', id: 'pf-photo-file', accept: 'image/jpeg,image/png,image/webp' });
  const upErr = h('p', { class: 'error', role: 'alert' });
  fileInput.addEventListener('change', async () => {
    const f = fileInput.files && fileInput.files[0];
    if (!f) return;
    upErr.textContent = '';
    if (f.size > 2 * 1024 * 1024) { upErr.textContent = 'That image is over 2 MiB. Pick a smaller one.'; return; }
    fileInput.disabled = true;
    try {
      const r = await upload(f);
      photos.push(r.url);
      drawPhotos();
      toast('Photo uploaded. Save the profile to keep it.', 'success');
    } catch (e) {
      upErr.textContent = e.code === 'unsupported_image' ? 'Only JPEG, PNG and WebP images can be uploaded.' : errText(e);
    } finally {
      fileInput.disabled = false;
      fileInput.value = '';
    }
  });
  const err = h('p', { class: 'error', role: 'alert', id: 'pf-error' });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'pf-save', text: 'Save and send for approval' });
  const form = h('form', { class: 'card', novalidate: true, id: 'profile-form' },
    status,
    field('About me', bio).wrap,
    h('div', { class: 'row' }, field('City', city).wrap, field('Time zone', zone, 'An IANA name, e.g. Europe/Berlin').wrap), zones,
    h('div', { class: 'row' }, field('Games', games, 'Comma separated, e.g. Dota 2, Chess').wrap, field('Languages', langs, 'Comma separated, e.g. en, de').wrap),
    h('div', { class: 'row' }, field('Price per hour', price).wrap, field('Currency', currency).wrap),
    h('fieldset', {}, h('legend', { text: 'Photos' }), photoList, field('Add a photo (JPEG, PNG or WebP, up to 2 MiB)', fileInput).wrap, upErr),
    err, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const amount = minorUnits(price.value, currency.value);
    if (!city.value.trim()) { err.textContent = 'Enter your city.'; city.focus(); return; }
    if (!splitList(games.value).length) { err.textContent = 'Name at least one game.'; games.focus(); return; }
    if (!splitList(langs.value).length) { err.textContent = 'Name at least one language.'; langs.focus(); return; }
    if (!Number.isFinite(amount)) { err.textContent = 'Enter a price.'; price.focus(); return; }
    btn.disabled = true;
    try {
      const saved = await request('PUT', '/streamers/profile', {
        bio: bio.value.trim(), city: city.value.trim(), games: splitList(games.value), languages: splitList(langs.value),
        price_per_hour: amount, currency: currency.value, time_zone: zone.value.trim(), photos,
      });
      status.replaceChildren('Status: ', pill(saved.status, 'waiting for approval'));
      toast('Saved. An admin will review your profile.', 'success');
    } catch (x) {
      err.textContent = errText(x);
    } finally {
      btn.disabled = false;
    }
  });
  clear(box).append(form, h('p', {}, h('a', { href: '/me/schedule', text: 'Edit your weekly schedule →' })));
  void user;
}

function timeInput(value, label) {
  return h('input', { type: 'time', value: value || '', step: '300', 'aria-label': label, required: true });
}

async function scheduleEditor(main) {
  main.append(h('h1', { text: 'My weekly schedule' }));
  const box = h('div', {}, loading('Loading your schedule…'));
  main.append(box);
  let sc;
  try {
    sc = await request('GET', '/streamers/schedule');
  } catch (e) {
    clear(box).append(e.code === 'profile_missing'
      ? empty('Save your profile first: the schedule uses its time zone.', h('a', { class: 'btn btn-primary', href: '/me/profile', text: 'Edit profile' }))
      : failure(e, 'load your schedule'));
    return;
  }
  const weekly = DAYS.map(() => []);
  for (const r of sc.weekly || []) weekly[r.weekday].push({ start: r.start, end: r.end === '24:00' ? '24:00' : r.end });
  const exceptions = [...(sc.exceptions || [])];

  const weekEl = h('div', { class: 'week', id: 'week' });
  function drawWeek() {
    clear(weekEl);
    DAYS.forEach((day, d) => {
      const rows = weekly[d].map((r, i) => {
        const allDay = r.end === '24:00';
        const s = timeInput(r.start, `${day} from`);
        const e = timeInput(allDay ? '23:59' : r.end, `${day} until`);
        s.addEventListener('change', () => { r.start = s.value; });
        e.addEventListener('change', () => { r.end = e.value === '23:59' ? '24:00' : e.value; });
        return h('div', { class: 'range' }, s, h('span', { text: '–' }), e,
          h('button', { type: 'button', class: 'btn btn-small btn-ghost', text: 'Remove', 'aria-label': `Remove ${day} ${r.start}`, onclick: () => { weekly[d].splice(i, 1); drawWeek(); } }));
      });
      weekEl.append(h('div', { class: 'week-day', dataset: { day: String(d) } },
        h('h3', { class: 'week-name', text: day }),
        h('div', { class: 'ranges' }, rows.length ? rows : h('span', { class: 'muted small', text: 'Off' })),
        h('div', { class: 'range-add' },
          h('button', { type: 'button', class: 'btn btn-small', id: `add-${d}`, text: 'Add hours', onclick: () => { weekly[d].push({ start: '18:00', end: '22:00' }); drawWeek(); } }),
          h('button', { type: 'button', class: 'btn btn-small btn-ghost', id: `allday-${d}`, text: 'All day', onclick: () => { weekly[d] = [{ start: '00:00', end: '24:00' }]; drawWeek(); } }))));
    });
  }
  drawWeek();

  const excEl = h('ul', { class: 'exceptions', id: 'exceptions' });
  function drawExceptions() {
    clear(excEl);
    if (!exceptions.length) excEl.append(h('li', { class: 'muted small', text: 'No exceptions. Add a day off or extra hours on a date.' }));
    exceptions.forEach((x, i) => {
      excEl.append(h('li', { class: 'exception' },
        h('span', { text: `${x.date}: ${x.available ? 'extra hours' : 'off'}${x.start ? ` ${x.start}–${x.end}` : x.available ? '' : ' all day'}` }),
        h('button', { type: 'button', class: 'btn btn-small btn-ghost', text: 'Remove', onclick: () => { exceptions.splice(i, 1); drawExceptions(); } })));
    });
  }
  drawExceptions();
  const exDate = h('input', { type: 'date', id: 'ex-date' });
  const exKind = h('select', { id: 'ex-kind' }, h('option', { value: 'off', text: 'Day off' }), h('option', { value: 'partoff', text: 'Off for some hours' }), h('option', { value: 'extra', text: 'Extra hours' }));
  const exStart = h('input', { type: 'time', id: 'ex-start', value: '10:00', step: '300' });
  const exEnd = h('input', { type: 'time', id: 'ex-end', value: '12:00', step: '300' });
  const exErr = h('p', { class: 'error', role: 'alert' });
  const addEx = h('button', {
    type: 'button', class: 'btn btn-small', id: 'ex-add', text: 'Add exception',
    onclick: () => {
      exErr.textContent = '';
      if (!exDate.value) { exErr.textContent = 'Pick a date.'; return; }
      const x = { date: exDate.value, available: exKind.value === 'extra' };
      if (exKind.value !== 'off') {
        if (!exStart.value || !exEnd.value || exStart.value >= exEnd.value) { exErr.textContent = 'The hours must end after they start.'; return; }
        x.start = exStart.value;
        x.end = exEnd.value;
      }
      exceptions.push(x);
      drawExceptions();
    },
  });
  const notice = h('input', { type: 'number', id: 'sc-notice', min: '0', max: '10080', value: String(sc.min_notice_minutes || 0) });
  const buffer = h('input', { type: 'number', id: 'sc-buffer', min: '0', max: '240', value: String(sc.buffer_minutes || 0) });
  const cap = h('input', { type: 'number', id: 'sc-cap', min: '0', max: '96', value: String(sc.max_per_day || 0) });
  const err = h('p', { class: 'error', role: 'alert', id: 'sc-error' });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'sc-save', text: 'Save schedule' });
  const form = h('form', { class: 'card', novalidate: true, id: 'schedule-form' },
    h('p', { class: 'muted', text: `Hours are in your profile's time zone, ${sc.time_zone || 'UTC'}.` }),
    weekEl,
    h('fieldset', {}, h('legend', { text: 'Exceptions' }), excEl,
      h('div', { class: 'row exception-add' }, field('Date', exDate).wrap, field('Kind', exKind).wrap, field('From', exStart).wrap, field('Until', exEnd).wrap), exErr, addEx),
    h('div', { class: 'row' }, field('Minimum notice (minutes)', notice).wrap, field('Break between bookings (minutes)', buffer).wrap, field('Bookings per day (0 = no cap)', cap).wrap),
    err, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const flat = [];
    weekly.forEach((rs, d) => rs.forEach((r) => flat.push({ weekday: d, start: r.start, end: r.end })));
    if (flat.some((r) => !r.start || !r.end || (r.end !== '24:00' && r.end <= r.start))) {
      err.textContent = 'Every range must end after it starts.';
      return;
    }
    btn.disabled = true;
    try {
      await request('PUT', '/streamers/schedule', {
        weekly: flat, exceptions, min_notice_minutes: Number(notice.value) || 0, buffer_minutes: Number(buffer.value) || 0, max_per_day: Number(cap.value) || 0,
      });
      toast('Schedule saved.', 'success');
      err.className = 'ok';
      err.textContent = 'Saved.';
    } catch (x) {
      err.className = 'error';
      err.textContent = x.code === 'schedule_conflict'
        ? `${errText({ code: x.code })} Orders: ${Object.keys(x.fields || {}).join(', ')}`
        : errText(x);
    } finally {
      btn.disabled = false;
    }
  });
  clear(box).append(form);
}
