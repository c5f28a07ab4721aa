// Per-tab persistence. Everything a reload needs to come back as the same participant lives in
// sessionStorage (one browser tab = one participant); only device preferences and a signed-in
// user's refresh token are shared across tabs through localStorage.

const AUTH = 'onstage.auth';
const SESSION = 'onstage.session';
const PREFS = 'onstage.prefs';
const REFRESH = 'onstage.refresh';

function read(storage, key) {
  try {
    const raw = storage.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function write(storage, key, value) {
  try {
    if (value === null || value === undefined) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage may be full or disabled; the client still works without persistence.
  }
}

/** Auth: {access_token, refresh_token?, user, guest}. */
export const auth = {
  get() {
    const a = read(sessionStorage, AUTH);
    if (a) return a;
    const r = read(localStorage, REFRESH);
    return r ? { access_token: '', refresh_token: r.refresh_token, user: r.user, guest: false } : null;
  },
  set(a) {
    write(sessionStorage, AUTH, a);
    if (a && !a.guest && a.refresh_token) write(localStorage, REFRESH, { refresh_token: a.refresh_token, user: a.user });
  },
  clear() {
    write(sessionStorage, AUTH, null);
    write(localStorage, REFRESH, null);
  },
};

/**
 * The live meeting session of this tab: {meeting_id, code, participant_id, resume_token,
 * last_seq, display_name, password}. Written on join, updated as chat arrives, removed on
 * leave, end or kick.
 */
export const session = {
  get() { return read(sessionStorage, SESSION); },
  set(s) { write(sessionStorage, SESSION, s); },
  update(patch) {
    const s = read(sessionStorage, SESSION);
    if (s) write(sessionStorage, SESSION, { ...s, ...patch });
  },
  clear() { write(sessionStorage, SESSION, null); },
};

/** Device preferences: {micId, camId, speakerId, micOn, camOn}. */
export const prefs = {
  get() { return read(localStorage, PREFS) || {}; },
  update(patch) { write(localStorage, PREFS, { ...prefs.get(), ...patch }); },
};
