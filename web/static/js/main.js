// Entry point: picks the screen from the URL.
//   /                     home (sign in, register, guest; create or join a meeting)
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

async function start() {
  const code = meetingCode();
  if (!code) {
    if (location.pathname !== '/' && location.pathname !== '/index.html') {
      clear(app).append(h('section', { class: 'card narrow' },
        h('h1', { text: 'Page not found' }),
        h('p', {}, h('a', { href: '/', text: 'Go to the home page' }))));
      return;
    }
    renderHome(app);
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
