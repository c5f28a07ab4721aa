// REST client for /api/v1 (docs/api.md): bearer auth, one refresh-and-retry on 401, and errors
// turned into ApiError {status, code, message, fields}.

import { auth } from './store.js';

export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || 'error';
    this.fields = fields || null;
  }
}

let refreshing = null;

/** Decodes a JWT's payload without verifying it (only to read exp). */
export function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return null;
  }
}

/** True when the token is missing or expires within marginSeconds. */
export function tokenExpiring(token, marginSeconds = 60) {
  if (!token) return true;
  const c = tokenClaims(token);
  if (!c || typeof c.exp !== 'number') return false;
  return c.exp * 1000 - Date.now() < marginSeconds * 1000;
}

async function rawRequest(method, path, body, token, extra) {
  const headers = { Accept: 'application/json', ...(extra || {}) };
  const binary = body instanceof Blob;
  if (body !== undefined && !binary) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined || binary ? body : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
  }
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText, err.fields);
  }
  return data;
}

/** Refreshes a signed-in user's tokens; returns the new access token or null. */
export async function refreshAuth() {
  const a = auth.get();
  if (!a || a.guest || !a.refresh_token) return null;
  if (!refreshing) {
    refreshing = rawRequest('POST', '/auth/refresh', { refresh_token: a.refresh_token })
      .then((t) => {
        auth.set({ access_token: t.access_token, refresh_token: t.refresh_token, user: t.user || a.user, guest: false });
        return t.access_token;
      })
      .catch((e) => {
        if (e.status === 401) auth.clear();
        return null;
      })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** Returns a usable access token, refreshing it first when it is about to expire. */
export async function accessToken() {
  const a = auth.get();
  if (!a) return null;
  if (a.access_token && !tokenExpiring(a.access_token)) return a.access_token;
  if (!a.guest) {
    const t = await refreshAuth();
    if (t) return t;
  }
  return a.access_token || null;
}

export async function request(method, path, body, { anonymous = false, headers } = {}) {
  const token = anonymous ? null : await accessToken();
  try {
    return await rawRequest(method, path, body, token, headers);
  } catch (e) {
    if (e.status === 401 && !anonymous && token) {
      const fresh = await refreshAuth();
      if (fresh) return rawRequest(method, path, body, fresh, headers);
    }
    throw e;
  }
}

/** A fresh Idempotency-Key for one user action (a retry of the same action reuses it). */
export function idempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `k-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

/** GETs a file with the caller's token; resolves with {blob, name}. */
export async function download(path) {
  const token = await accessToken();
  const res = await fetch(`/api/v1${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!res.ok) {
    let err = {};
    try { err = (await res.json()).error || {}; } catch { /* not JSON */ }
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText, err.fields);
  }
  const cd = res.headers.get('Content-Disposition') || '';
  const m = cd.match(/filename="?([^";]+)"?/);
  return { blob: await res.blob(), name: m ? m[1] : 'download' };
}

export const api = {
  register: (b) => request('POST', '/auth/register', b, { anonymous: true }),
  async login(email, password, captchaToken) {
    const body = { email, password };
    if (captchaToken) body.captcha_token = captchaToken;
    const t = await request('POST', '/auth/login', body, { anonymous: true });
    auth.set({ access_token: t.access_token, refresh_token: t.refresh_token, user: t.user, guest: false });
    return t.user;
  },
  async guest(displayName) {
    const t = await request('POST', '/auth/guest', { display_name: displayName }, { anonymous: true });
    auth.set({ access_token: t.access_token, user: t.user, guest: true });
    return t.user;
  },
  async logout() {
    const a = auth.get();
    auth.clear();
    if (a && a.refresh_token) {
      try { await rawRequest('POST', '/auth/logout', { refresh_token: a.refresh_token }); } catch { /* already gone */ }
    }
  },
  me: () => request('GET', '/users/me'),
  createMeeting: (b) => request('POST', '/meetings', b),
  meetingByCode: (code) => request('GET', `/meetings/code/${encodeURIComponent(code)}`),
  meeting: (id) => request('GET', `/meetings/${encodeURIComponent(id)}`),
  myMeetings: () => request('GET', '/meetings?page_size=20&only_joined=false'),
};

/** Human text for an error code from REST or signaling. */
export function errorText(code, fallback) {
  switch (code) {
    case 'wrong_password': return 'The meeting password is incorrect.';
    case 'captcha_required': return 'Please confirm you are human, then sign in again.';
    case 'account_disabled': return 'This account is locked. Ask an administrator to unlock it.';
    case 'meeting_full': return 'This meeting is full. Try again later.';
    case 'meeting_ended': return 'This meeting has ended.';
    case 'kicked': return 'You were removed from this meeting and cannot rejoin.';
    case 'not_found': return 'No meeting was found with that code.';
    case 'forbidden': return fallback || 'You are not allowed to do that.';
    case 'invalid_credentials': return 'The email or password is incorrect.';
    case 'account_locked': return 'Too many failed sign-ins. Try again in 15 minutes.';
    case 'email_taken': return 'An account with that email already exists.';
    case 'rate_limited': return 'Too many requests. Please wait a moment.';
    case 'already_joined': return 'You are already in this meeting in another tab or window.';
    case 'unauthorized': return 'Your session has expired. Please sign in again.';
    case 'card_required': return 'This meeting needs a card key to join.';
    case 'network': return fallback || 'Cannot reach the server.';
    case 'slot_unavailable': return 'That time was just taken or is no longer bookable. Pick another slot.';
    case 'hold_expired': return 'The 15-minute hold on this booking ran out. Book the slot again.';
    case 'already_paid': return 'This order is already paid.';
    case 'cancel_too_late': return 'A paid booking can only be cancelled until 24 hours before it starts.';
    case 'order_not_completed': return 'You can review the session once it has taken place.';
    case 'already_reviewed': return 'You have already reviewed this session.';
    case 'not_a_player': return 'Only player accounts can book sessions.';
    case 'not_a_streamer': return 'Only streamer accounts have a streamer profile.';
    case 'schedule_conflict': return 'This schedule would drop time that is already booked. Keep those hours or cancel the orders first.';
    case 'profile_missing': return 'Save your profile first; the schedule uses its time zone.';
    case 'streamer_not_found': return fallback || 'No streamer profile yet.';
    case 'not_pending': return 'This profile was already decided.';
    case 'insufficient_quota': return 'Not enough quota for this. Ask for a recharge.';
    case 'project_not_granted': return 'This project is not granted to you (or the grant expired).';
    case 'key_not_active': return 'Only an active key bound to a device can be unbound.';
    case 'unbind_limit': return 'This key was unbound too often in the last 30 days.';
    case 'invalid_token': return 'This link is invalid or has expired. Ask for a new one.';
    case 'grant_beyond_own': return 'You can only grant permissions you hold yourself.';
    case 'last_super_admin': return 'The last super admin cannot be locked or lose the role.';
    case 'validation_failed': return fallback || 'Some fields need attention.';
    default: return fallback || 'Something went wrong. Please try again.';
  }
}
