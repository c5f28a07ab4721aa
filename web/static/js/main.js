// Entry point: picks the screen from the URL.
//   /                     the portal's streamer catalogue (portal.js)
//   /streamers/{id}       a streamer's page: photos, reviews, free slots, booking
//   /orders               the caller's orders: pay, join, cancel, review
//   /me/profile, /me/schedule   a streamer's profile and schedule editors (me.js)
//   /login, /register, /forgot-password, /reset-password, /verify-email   account pages
//   /admin/...            the console (admin.js), shown by permission
//   /meet                 meetings home (sign in, register, guest; create or join a meeting)
//   /m/{code}             join screen, or straight back into the room after a reload
//   /m/{code}?name=Ann&autojoin=1   joins at once as a guest named Ann with default devices

import { renderHome } from './home.js';
import { renderJoin, autoJoin } from './join.js';
import { Room } from './room.js';
import { session } from './store.js';
import { h, clear } from './dom.js';

const app = document.getElementById('app');

function meetingCode() {
  const m = location.pathname.match(/^\/m\/([^/?#]+)\/?$/);
  return m ? decodeURIComponent(m[1]).trim().toUpperCase() : null;
}

async function portalPage(path) {
  const portal = () => import('./portal.js');
  if (path === '/' || path === '/index.html') return (await portal()).renderCatalogue(app);
  const streamer = path.match(/^\/streamers\/([^/]+)\/?$/);
  if (streamer) return (await portal()).renderStreamer(app, decodeURIComponent(streamer[1]));
  if (path === '/orders') return (await portal()).renderOrders(app);
  if (path === '/login') return (await portal()).renderLogin(app, 'signin');
  if (path === '/register') return (await portal()).renderLogin(app, 'register');
  if (path === '/forgot-password') return (await portal()).renderForgot(app);
  if (path === '/reset-password') return (await portal()).renderReset(app);
  if (path === '/verify-email') return (await portal()).renderVerify(app);
  if (path === '/me' || path.startsWith('/me/')) return (await import('./me.js')).renderMe(app, path);
  if (path === '/admin' || path.startsWith('/admin/')) return (await import('./admin.js')).renderAdmin(app, path);
  if (path === '/meet') return renderHome(app);
  clear(app).append(h('section', { class: 'card narrow' },
    h('h1', { text: 'Page not found' }),
    h('p', {}, h('a', { href: '/', text: 'Go to the home page' }))));
  return null;
}

async function start() {
  const code = meetingCode();
  if (!code) {
    await portalPage(location.pathname.replace(/\/+$/, '') || '/');
    return;
  }
  const saved = session.get();
  if (saved && saved.code === code && saved.resume_token) {
    // A reload during the meeting: come back as the same participant.
    const room = new Room({ app, code, meetingId: saved.meeting_id, displayName: saved.display_name, resume: saved });
    try {
      await room.join();
      return;
    } catch (e) {
      room.dispose();
      session.clear();
      if (room.terminal) return; // ended or kicked: the room has shown its message
      // Fall through to a normal join screen with the reason.
      renderJoin(app, code, { error: e });
      return;
    }
  }
  const params = new URLSearchParams(location.search);
  if (params.get('autojoin') === '1') {
    await autoJoin(app, code, { name: params.get('name') || '', password: params.get('password') || '' });
    return;
  }
  renderJoin(app, code, {});
}

start().catch((e) => {
  console.error(e);
  clear(app).append(h('section', { class: 'card narrow', role: 'alert' },
    h('h1', { text: 'Something went wrong' }), h('p', { text: String(e && e.message ? e.message : e) })));
});
