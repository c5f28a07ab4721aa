// The join screen: who you are, camera and microphone preview with device pickers and mute
// toggles, and the meeting password when one is needed — all set before entering the room.

import { h, clear, field, announce } from './dom.js';
import { api, errorText, tokenExpiring, ApiError } from './api.js';
import { auth, prefs } from './store.js';
import { getCamera, getMicrophone, listDevices, levelMeter, stopTrack } from './devices.js';
import { Room } from './room.js';

/** Makes sure this tab has a token; a guest gets one under the given name. */
async function ensureAuth(name) {
  const a = auth.get();
  if (a && !a.guest) return a.user;
  if (a && a.guest && a.access_token && !tokenExpiring(a.access_token)) return a.user;
  if (!name) throw new ApiError(400, 'name_required', 'Enter your name to join.');
  return api.guest(name);
}

async function lookup(code, name) {
  try {
    return await api.meetingByCode(code);
  } catch (e) {
    if (e.status === 401) {
      const a = auth.get();
      if (a && a.guest) {
        auth.clear();
        await ensureAuth(name);
        return api.meetingByCode(code);
      }
    }
    throw e;
  }
}

/**
 * Joins the meeting with the given media, replacing the page with the room on success.
 * Throws an error carrying .code on failure (the room is disposed).
 */
async function enter(app, code, { name, password, media }) {
  await ensureAuth(name);
  const info = await lookup(code, name);
  if (info.status === 'ended' || info.status === 'cancelled') throw new ApiError(409, 'meeting_ended', 'This meeting has ended.');
  // A password-protected meeting still lets its creator and invited accounts (a booked
  // session's player) in without one: the server decides, and a refusal without a password
  // reads as "needs a password".
  const a = auth.get();
  const displayName = name || (a && a.user && a.user.display_name) || 'Guest';
  const room = new Room({ app, code, meetingId: info.id, title: info.title, displayName, password, media });
  try {
    await room.join();
  } catch (e) {
    // The join screen keeps its preview tracks for the next try.
    room.dispose(true);
    if (room.terminal) return;
    if (e && e.code === 'wrong_password' && !password) throw new ApiError(403, 'password_required', 'This meeting needs a password.');
    throw e;
  }
}

/** /m/CODE?name=…&autojoin=1: straight in with the default devices. */
export async function autoJoin(app, code, { name, password }) {
  clear(app).append(h('section', { class: 'card narrow' }, h('p', { class: 'loading', role: 'status', text: `Joining ${code}…` })));
  const [mic, cam] = await Promise.all([getMicrophone(null), getCamera(null)]);
  const media = { micTrack: mic.track, camTrack: cam.track, micOn: !!mic.track, camOn: !!cam.track };
  try {
    await enter(app, code, { name, password, media });
  } catch (e) {
    stopTrack(mic.track);
    stopTrack(cam.track);
    renderJoin(app, code, { error: e, name, needPassword: e.code === 'wrong_password' || e.code === 'password_required' });
  }
}

/** Renders the join screen. opts: {error, name, needPassword}. */
export function renderJoin(app, code, opts = {}) {
  const p = prefs.get();
  const a = auth.get();
  const signedIn = a && !a.guest && a.user;
  const st = {
    micOn: p.micOn !== false,
    camOn: p.camOn !== false,
    micTrack: null,
    camTrack: null,
    stopMeter: null,
    busy: false,
    needPassword: !!opts.needPassword,
    info: null,
    starting: Promise.resolve(),
  };

  const title = h('h1', { id: 'join-title', text: 'Join meeting' });
  const sub = h('p', { class: 'muted', text: `Meeting code ${code}` });
  const video = h('video', { class: 'preview-video mirror', autoplay: true, playsinline: true, muted: true, 'aria-label': 'Your camera preview' });
  const camOff = h('div', { class: 'preview-off', text: 'Camera is off' });
  const meterFill = h('span', { class: 'meter-fill' });
  const meter = h('div', { class: 'meter', role: 'meter', 'aria-label': 'Microphone level', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, meterFill);

  const micBtn = h('button', { type: 'button', class: 'btn toggle', id: 'join-mic' });
  const camBtn = h('button', { type: 'button', class: 'btn toggle', id: 'join-cam' });
  const micSel = h('select', { id: 'join-mic-select' });
  const camSel = h('select', { id: 'join-cam-select' });
  const spkSel = h('select', { id: 'join-speaker-select' });

  const nameInput = h('input', { id: 'join-name', type: 'text', autocomplete: 'name', maxlength: '64', required: true, value: opts.name || (a && a.user && a.user.display_name) || '' });
  const pwInput = h('input', { id: 'join-password', type: 'password', autocomplete: 'off', maxlength: '128' });
  const pwField = field('Meeting password', pwInput);
  const errorBox = h('p', { id: 'join-error', class: 'error', role: 'alert' });
  const joinBtn = h('button', { type: 'submit', class: 'btn btn-primary btn-large', id: 'join-button', text: 'Join now' });

  function showError(e) {
    if (!e) { errorBox.textContent = ''; return; }
    let text;
    if (e.code === 'password_required') text = 'This meeting needs a password.';
    else if (e.code === 'name_required') text = 'Enter your name to join.';
    else if (e.code === 'forbidden') text = 'This meeting is private. Sign in with an invited account to join.';
    else text = errorText(e.code, e.message);
    errorBox.textContent = text;
    if (e.code === 'wrong_password' || e.code === 'password_required') {
      st.needPassword = true;
      pwField.wrap.hidden = false;
      pwInput.setAttribute('aria-invalid', 'true');
      pwInput.focus();
    }
  }

  function paintToggles() {
    micBtn.textContent = st.micOn ? 'Microphone on' : 'Microphone off';
    micBtn.setAttribute('aria-pressed', String(st.micOn));
    micBtn.classList.toggle('off', !st.micOn);
    camBtn.textContent = st.camOn ? 'Camera on' : 'Camera off';
    camBtn.setAttribute('aria-pressed', String(st.camOn));
    camBtn.classList.toggle('off', !st.camOn);
    camOff.hidden = st.camOn && !!st.camTrack;
  }

  async function fillDevices() {
    const d = await listDevices();
    const fill = (sel, list, chosen) => {
      clear(sel);
      if (!list.length) sel.append(h('option', { value: '', text: 'Default' }));
      for (const it of list) sel.append(h('option', { value: it.id, text: it.label, selected: it.id === chosen }));
    };
    fill(micSel, d.mics, st.micTrack ? st.micTrack.getSettings().deviceId : p.micId);
    fill(camSel, d.cams, st.camTrack ? st.camTrack.getSettings().deviceId : p.camId);
    fill(spkSel, d.speakers, p.speakerId);
    spkSel.closest('.field').hidden = !d.speakers.length || !('setSinkId' in HTMLMediaElement.prototype);
  }

  async function startMic() {
    if (st.stopMeter) { st.stopMeter(); st.stopMeter = null; }
    stopTrack(st.micTrack);
    st.micTrack = null;
    if (!st.micOn) { meterFill.style.width = '0%'; return; }
    const r = await getMicrophone(micSel.value || prefs.get().micId);
    if (r.error) { errorBox.textContent = r.error; st.micOn = false; paintToggles(); return; }
    st.micTrack = r.track;
    st.stopMeter = levelMeter(r.track, (v) => {
      const pct = Math.round(v * 100);
      meterFill.style.width = `${pct}%`;
      meter.setAttribute('aria-valuenow', String(pct));
    });
  }

  async function startCam() {
    stopTrack(st.camTrack);
    st.camTrack = null;
    video.srcObject = null;
    if (st.camOn) {
      const r = await getCamera(camSel.value || prefs.get().camId);
      if (r.error) { errorBox.textContent = r.error; st.camOn = false; }
      else {
        st.camTrack = r.track;
        video.srcObject = new MediaStream([r.track]);
      }
    }
    paintToggles();
  }

  micBtn.addEventListener('click', async () => {
    st.micOn = !st.micOn;
    prefs.update({ micOn: st.micOn });
    paintToggles();
    st.starting = startMic();
    await st.starting;
    announce(st.micOn ? 'Microphone on' : 'Microphone off');
  });
  camBtn.addEventListener('click', async () => {
    st.camOn = !st.camOn;
    prefs.update({ camOn: st.camOn });
    paintToggles();
    st.starting = startCam();
    await st.starting;
    announce(st.camOn ? 'Camera on' : 'Camera off');
  });
  micSel.addEventListener('change', () => { prefs.update({ micId: micSel.value }); startMic(); });
  camSel.addEventListener('change', () => { prefs.update({ camId: camSel.value }); startCam(); });
  spkSel.addEventListener('change', () => prefs.update({ speakerId: spkSel.value }));

  const form = h('form', { class: 'join-form', 'aria-labelledby': 'join-title', novalidate: true });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (st.busy) return;
    const name = nameInput.value.trim();
    if (!signedIn && !name) {
      showError({ code: 'name_required' });
      nameInput.setAttribute('aria-invalid', 'true');
      nameInput.focus();
      return;
    }
    st.busy = true;
    joinBtn.disabled = true;
    joinBtn.textContent = 'Joining…';
    showError(null);
    // Devices may still be starting (a fast click right after the page opened).
    await st.starting;
    if (st.stopMeter) { st.stopMeter(); st.stopMeter = null; }
    const media = { micTrack: st.micOn ? st.micTrack : null, camTrack: st.camOn ? st.camTrack : null, micOn: st.micOn && !!st.micTrack, camOn: st.camOn && !!st.camTrack };
    try {
      await enter(app, code, { name, password: pwInput.value, media });
    } catch (e) {
      st.busy = false;
      joinBtn.disabled = false;
      joinBtn.textContent = 'Join now';
      if (st.micTrack) st.stopMeter = levelMeter(st.micTrack, (v) => { meterFill.style.width = `${Math.round(v * 100)}%`; });
      showError(e);
    }
  });

  const whoFields = signedIn
    ? h('p', { class: 'muted' }, `Joining as ${a.user.display_name}. `, h('a', { href: '/', text: 'Not you?' }))
    : [field('Your name', nameInput).wrap,
      h('p', { class: 'muted small' }, 'Have an account? ', h('a', { href: `/login?next=${encodeURIComponent('/m/' + code)}`, text: 'Sign in' }))];

  pwField.wrap.hidden = !st.needPassword;
  form.append(
    ...[].concat(whoFields),
    pwField.wrap,
    h('fieldset', { class: 'devices' },
      h('legend', { text: 'Devices' }),
      field('Microphone', micSel).wrap,
      field('Camera', camSel).wrap,
      field('Speaker', spkSel).wrap),
    errorBox,
    joinBtn,
  );

  clear(app).append(h('main', { class: 'join-layout' },
    h('section', { class: 'preview card', 'aria-label': 'Preview' },
      h('div', { class: 'preview-frame' }, video, camOff),
      h('div', { class: 'preview-controls' }, micBtn, camBtn),
      meter),
    h('section', { class: 'card join-card' }, title, sub, form)));

  paintToggles();
  if (opts.error) showError(opts.error);
  else (signedIn ? joinBtn : nameInput).focus();

  // Show the meeting's title and whether it needs a password, when this tab has a token.
  if (a && a.access_token) {
    api.meetingByCode(code).then((info) => {
      st.info = info;
      title.textContent = info.title ? `Join “${info.title}”` : 'Join meeting';
      document.title = `${info.title || code} · onstage`;
      if (info.has_password) { st.needPassword = true; pwField.wrap.hidden = false; }
      if (info.status === 'ended' || info.status === 'cancelled') showError({ code: 'meeting_ended' });
    }).catch((e) => { if (e.code === 'not_found') showError(e); });
  }

  st.starting = Promise.all([startMic(), startCam()]).then(fillDevices).catch(() => {});
}
