// The meeting room: signaling session, peer connections, video grid, controls, chat,
// participant list with host controls, connection quality, reconnect and resume.

import { h, clear, announce, toast, ask, shortTime, initials, hueFor, nextId, svgIcon } from './dom.js';
import { accessToken, api, errorText, tokenExpiring } from './api.js';
import { auth, session, prefs } from './store.js';
import { Signaling, SignalError } from './signaling.js';
import { Rtc } from './rtc.js';
import { getCamera, getMicrophone, stopTrack } from './devices.js';
import { GiveawayPanel } from './giveaway.js';

// The close code of a socket whose login was revoked (docs/protocol.md).
const SESSION_REVOKED = 4401;
const TERMINAL_CODES = new Set(['meeting_ended', 'kicked', 'forbidden', 'meeting_full', 'wrong_password', 'not_found', 'card_required']);
const ROLE_LABEL = { host: 'Host', cohost: 'Co-host', participant: '' };
const END_REASON = {
  host_ended: 'The host ended the meeting.',
  last_left: 'Everyone left, so the meeting ended.',
  expired: 'The meeting reached its scheduled end.',
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function icon(name) {
  return svgIcon(name);
}

export class Room {
  /**
   * @param {object} o
   * @param {HTMLElement} o.app
   * @param {string} o.code
   * @param {string} o.meetingId
   * @param {string} [o.title]
   * @param {string} o.displayName
   * @param {string} [o.password]
   * @param {{micTrack, camTrack, micOn, camOn}} [o.media]
   * @param {object} [o.resume]  the saved session, when coming back after a reload
   */
  constructor({ app, code, meetingId, title, displayName, password, media, resume }) {
    this.app = app;
    this.code = code;
    this.meetingId = meetingId;
    this.title = title || '';
    this.displayName = displayName;
    this.password = password || '';
    this.resumeToken = resume ? resume.resume_token : null;
    this.lastSeq = resume ? resume.last_seq || 0 : 0;
    this.local = {
      micTrack: media ? media.micTrack : null,
      camTrack: media ? media.camTrack : null,
      screenTrack: null,
      micOn: media ? !!media.micOn : resume ? resume.mic_on !== false : true,
      camOn: media ? !!media.camOn : resume ? resume.cam_on !== false : true,
      stream: new MediaStream(),
      screenStream: null,
    };
    this.needMedia = !media;

    this.sig = null;
    this.rtc = null;
    this.selfId = resume ? resume.participant_id : null;
    this.meeting = null;
    this.participants = new Map();
    this.tracks = new Map(); // track_id -> track info from the server
    this.remote = new Map(); // track_id -> {track, participantId, kind}
    this.chatSeqs = new Set();
    this.speakers = new Map();
    this.activeSpeaker = null;
    this.subs = new Map(); // track_id -> {quality, paused} last sent
    this.visible = new Map(); // tile key -> bool
    this.unread = 0;
    this.panel = window.matchMedia('(min-width: 1000px)').matches ? 'chat' : null;
    this.terminal = false;
    this.disposed = false;
    this.leaving = false;
    this.reconnecting = false;
    this.mounted = false;
    this.statsPrev = null;
    this.timers = [];
    this.renderQueued = false;
    this.subscriberWatch = null;
    this.restartTimer = null;
    this.ui = {};

    window.onstage = this.debugHook();
  }

  debugHook() {
    const room = this;
    return {
      room,
      get publisher() { return room.rtc ? room.rtc.publisher : null; },
      get subscriber() { return room.rtc ? room.rtc.subscriber : null; },
      get participantId() { return room.selfId; },
      get connected() { return !!room.sig && room.sig.open && !room.reconnecting; },
      get reconnecting() { return room.reconnecting; },
      get participants() { return [...room.participants.values()]; },
      get tracks() { return [...room.tracks.values()]; },
      get lastSeq() { return room.lastSeq; },
      /** Closes the socket without leaving, as a network drop would. */
      dropSocket() { if (room.sig && room.sig.ws) room.sig.ws.close(4001, 'test drop'); },
    };
  }

  // ---- joining ------------------------------------------------------------------------------

  /** Connects and joins (or resumes). Throws a SignalError with .code when it cannot. */
  async join() {
    if (this.needMedia) {
      this.needMedia = false;
      const p = prefs.get();
      const [mic, cam] = await Promise.all([
        this.local.micOn ? getMicrophone(p.micId) : { track: null },
        this.local.camOn ? getCamera(p.camId) : { track: null },
      ]);
      this.local.micTrack = mic.track;
      this.local.camTrack = cam.track;
      this.local.micOn = !!mic.track;
      this.local.camOn = !!cam.track;
    }
    const token = await accessToken();
    if (!token) throw new SignalError('unauthorized', 'Not signed in');
    await this.openSocket(token);
    try {
      await this.sendJoin();
    } catch (e) {
      this.handleJoinFailure(e);
      throw e;
    }
  }

  async openSocket(token) {
    const sig = new Signaling({
      onMessage: (m) => (sig === this.sig ? this.onMessage(m) : undefined),
      onClose: (ev) => { if (sig === this.sig) this.onSocketClosed(ev); },
    });
    this.sig = sig;
    await sig.connect(token);
  }

  async sendJoin() {
    const data = { meeting_id: this.meetingId };
    if (this.displayName) data.display_name = this.displayName;
    if (this.password) data.password = this.password;
    const resuming = !!this.resumeToken;
    if (resuming) {
      data.resume_token = this.resumeToken;
      // A reloaded page has no messages on screen yet: ask for the whole replay (up to 500).
      data.last_seq = this.chatSeqs.size ? this.lastSeq : 0;
      // Optional extension: this page has new peer connections (a reload), so the server's old
      // ones for this participant cannot be resumed and should be replaced.
      if (!this.rtc) data.new_peer_connections = true;
    }
    try {
      await this.sig.request('join_room', data, { inQueue: (d) => this.onJoined(d, resuming) });
    } catch (e) {
      if (resuming && (e.code === 'not_found' || e.code === 'unauthorized')) {
        // The grace ran out (or the token is no longer ours): join again as a new participant.
        this.resumeToken = null;
        return this.sendJoin();
      }
      throw e;
    }
  }

  handleJoinFailure(e) {
    if (!this.mounted) return; // the join screen shows the error
    if (e.code === 'meeting_ended') this.showEnded('');
    else if (e.code === 'kicked' || (e.code === 'forbidden' && this.selfId)) this.showKicked();
  }

  /** Applies a joined payload; runs inside the message queue before any later message. */
  async onJoined(d, resumed) {
    const self = d.participant || {};
    const newIdentity = !resumed && this.selfId && this.selfId !== self.participant_id;
    this.selfId = self.participant_id;
    this.meeting = d.meeting || this.meeting;
    if (this.meeting && this.meeting.title) this.title = this.meeting.title;
    if (d.resume_token) this.resumeToken = d.resume_token;

    this.participants.clear();
    for (const p of d.participants || []) this.participants.set(p.participant_id, p);
    if (!this.participants.has(this.selfId)) this.participants.set(this.selfId, self);

    const oldTracks = this.tracks;
    this.tracks = new Map();
    for (const t of d.tracks || []) this.tracks.set(t.track_id, t);
    for (const id of oldTracks.keys()) if (!this.tracks.has(id)) this.dropRemote(id);

    if (!this.mounted) this.mount();
    if (!resumed) {
      if (newIdentity) {
        clear(this.ui.chatList);
        this.chatSeqs.clear();
      }
      for (const c of d.chat_history || []) this.addChat(c, true);
    }
    this.saveSession();
    if (this.giveaway) this.giveaway.load();

    const fresh = !this.rtc || (!resumed && newIdentity);
    if (fresh) {
      if (this.rtc) this.rtc.close();
      this.remote.clear();
      this.subs.clear();
      this.startRtc(d.ice_servers || []);
      if (resumed) {
        // A reload: the server still holds our old connections; ask for new ones.
        this.rtc.signal({ pc: 'subscriber', restart: true });
      }
      this.watchSubscriber();
    } else if (resumed) {
      this.rtc.resendPendingOffer();
      const bad = (pc) => pc.connectionState === 'failed' || pc.connectionState === 'disconnected' || pc.connectionState === 'closed';
      if (bad(this.rtc.publisher) || bad(this.rtc.subscriber)) this.rtc.restartIce();
    }
    this.syncMediaState(resumed);
    this.render();
    document.title = `${this.title || this.code} · onstage`;
  }

  startRtc(iceServers) {
    const simulcast = new URLSearchParams(location.search).get('simulcast') !== '0';
    this.rtc = new Rtc({
      iceServers,
      simulcast,
      signal: (data) => this.sig && this.sig.notify('webrtc_signal', data),
      onTrack: (t) => this.onRemoteTrack(t),
      onTrackGone: (id) => this.dropRemote(id),
      onState: (name, state) => this.onPcState(name, state),
    });
    const L = this.local;
    if (L.micTrack) {
      L.micTrack.enabled = L.micOn;
      L.stream.addTrack(L.micTrack);
      this.rtc.publish('microphone', L.micTrack, L.stream);
    }
    if (L.camTrack && L.camOn) {
      L.stream.addTrack(L.camTrack);
      this.rtc.publish('camera', L.camTrack, L.stream);
    }
  }

  /** If tracks exist but no subscriber offer came, ask the server for one. */
  watchSubscriber() {
    clearTimeout(this.subscriberWatch);
    this.subscriberWatch = setTimeout(() => {
      if (!this.rtc || this.disposed) return;
      const others = [...this.tracks.values()].some((t) => t.participant_id !== this.selfId);
      if (others && !this.rtc.subscriber.remoteDescription) this.rtc.signal({ pc: 'subscriber', restart: true });
    }, 4000);
  }

  syncMediaState(resumed) {
    const L = this.local;
    const send = (source, muted) => this.sig && this.sig.notify('media_control', { source, muted });
    if (L.micTrack) send('microphone', !L.micOn);
    else if (resumed) send('microphone', true);
    if (L.camTrack && L.camOn) send('camera', false);
    else if (resumed || this.rtc.isPublished('camera')) send('camera', true);
    if (resumed && !L.screenTrack) send('screen', true);
    const me = this.participants.get(this.selfId);
    if (me) me.media = { microphone: !!L.micTrack && L.micOn, camera: !!L.camTrack && L.camOn, screen: !!L.screenTrack };
  }

  saveSession() {
    session.set({
      meeting_id: this.meetingId,
      code: this.code,
      participant_id: this.selfId,
      resume_token: this.resumeToken,
      last_seq: this.lastSeq,
      display_name: this.displayName,
      mic_on: this.local.micOn,
      cam_on: this.local.camOn,
    });
  }

  // ---- socket loss and reconnect ------------------------------------------------------------

  onSocketClosed(ev) {
    if (this.disposed || this.terminal || this.leaving) return;
    if (ev && ev.code === SESSION_REVOKED) {
      // The login behind this page was revoked (signed out elsewhere, password changed): its
      // token cannot open a socket again, so retrying is pointless. Sign in again.
      auth.clear();
      this.showNotice('You were signed out', 'Your session ended: you signed out elsewhere or your password changed. Sign in again to rejoin.', true);
      return;
    }
    this.reconnect();
  }

  async reconnect() {
    if (this.reconnecting) return;
    this.reconnecting = true;
    this.showBanner(true);
    let attempt = 0;
    while (!this.disposed && !this.terminal) {
      await sleep(attempt === 0 ? 300 : Math.min(500 * 2 ** attempt, 8000));
      attempt += 1;
      if (this.disposed || this.terminal) break;
      try {
        let token = await accessToken();
        const a = auth.get();
        if (a && a.guest && tokenExpiring(token, 0)) {
          // A guest token cannot be refreshed: take a new guest identity and join afresh.
          await api.guest(this.displayName);
          token = await accessToken();
          this.resumeToken = null;
        }
        if (!token) throw new SignalError('unauthorized', 'signed out');
        await this.openSocket(token);
        await this.sendJoin();
        break;
      } catch (e) {
        if (TERMINAL_CODES.has(e.code)) {
          if (e.code === 'meeting_ended') this.showEnded('');
          else if (e.code === 'kicked' || e.code === 'forbidden') this.showKicked();
          else this.showNotice('Could not rejoin the meeting', errorText(e.code, e.message));
          break;
        }
        if (this.sig) this.sig.close();
      }
    }
    this.reconnecting = false;
    if (!this.disposed) this.showBanner(false);
  }

  onPcState(name, state) {
    this.paintQuality();
    if (!this.sig || !this.sig.open || this.disposed) return;
    if (state === 'failed') this.scheduleIceRestart(0);
    else if (state === 'disconnected') this.scheduleIceRestart(3000);
  }

  scheduleIceRestart(ms) {
    if (this.restartTimer) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.rtc || !this.sig || !this.sig.open) return;
      const bad = (pc) => pc.connectionState === 'failed' || pc.connectionState === 'disconnected';
      if (bad(this.rtc.publisher) || bad(this.rtc.subscriber)) this.rtc.restartIce();
    }, ms);
  }

  // ---- messages -----------------------------------------------------------------------------

  async onMessage(m) {
    const d = m.data || {};
    switch (m.type) {
      case 'participant_joined': {
        const p = d.participant;
        if (!p) return;
        const known = this.participants.has(p.participant_id);
        this.participants.set(p.participant_id, p);
        if (!known && p.participant_id !== this.selfId) announce(`${p.display_name} joined`);
        this.render();
        return;
      }
      case 'participant_left': {
        const id = d.participant_id;
        if (id === this.selfId) {
          if (d.reason === 'kicked') this.showKicked();
          else if (d.reason === 'meeting_ended') this.showEnded('');
          else if (d.reason === 'disconnected' && !this.reconnecting) {
            this.showNotice('You were disconnected', 'You joined this meeting somewhere else, or the connection was lost for too long.', true);
          }
          return;
        }
        const p = this.participants.get(id);
        this.participants.delete(id);
        for (const [tid, t] of this.tracks) if (t.participant_id === id) { this.tracks.delete(tid); this.dropRemote(tid); }
        if (p) announce(`${p.display_name} ${d.reason === 'kicked' ? 'was removed' : 'left'}`);
        this.render();
        return;
      }
      case 'track_published': {
        const t = d.track;
        if (t && t.track_id) this.tracks.set(t.track_id, t);
        this.render();
        return;
      }
      case 'track_unpublished': {
        this.tracks.delete(d.track_id);
        this.dropRemote(d.track_id);
        this.render();
        return;
      }
      case 'chat':
        this.addChat(d, false);
        return;
      case 'media_state':
        this.onMediaState(d);
        return;
      case 'role_changed': {
        const p = this.participants.get(d.participant_id);
        if (p) p.role = d.role;
        if (d.participant_id === this.selfId) {
          const text = d.role === 'host' ? 'You are now the host.' : d.role === 'cohost' ? 'You are now a co-host.' : 'You are no longer a host or co-host.';
          toast(text, 'info');
          if (this.giveaway) this.giveaway.render();
        } else if (p && d.role !== 'participant') {
          announce(`${p.display_name} is now ${d.role === 'host' ? 'the host' : 'a co-host'}`);
        }
        this.render();
        return;
      }
      case 'speakers':
        this.onSpeakers(d.speakers || []);
        return;
      case 'webrtc_signal':
        if (this.rtc) await this.rtc.handleSignal(d);
        return;
      case 'meeting_ended':
        this.showEnded(d.reason);
        return;
      case 'giveaway_opened':
      case 'giveaway_closed':
      case 'giveaway_winners':
        if (this.giveaway) this.giveaway.onMessage(m.type, d);
        return;
      case 'error':
        console.warn('onstage: server error', d.code, d.message);
        return;
      default:
    }
  }

  onMediaState(d) {
    const p = this.participants.get(d.participant_id);
    if (p) {
      p.media = { ...(p.media || {}), [d.source]: !d.muted };
    }
    if (d.participant_id === this.selfId && d.by && d.by !== this.selfId) {
      const by = this.participants.get(d.by);
      const who = by ? by.display_name : 'The host';
      if (d.muted) {
        if (d.source === 'microphone') this.setMic(false, true);
        else if (d.source === 'camera') this.setCam(false, true);
        else if (d.source === 'screen') this.stopScreen(true);
        const what = d.source === 'microphone' ? 'microphone' : d.source === 'camera' ? 'camera' : 'screen share';
        const text = `${who} muted your ${what}.`;
        toast(text, 'info', 8000);
        this.ui.notice.textContent = text;
      } else {
        // Nobody can turn on someone else's microphone or camera: restate our own state.
        const L = this.local;
        const on = d.source === 'microphone' ? L.micOn : d.source === 'camera' ? L.camOn : !!L.screenTrack;
        if (!on) this.sig.notify('media_control', { source: d.source, muted: true });
      }
    }
    this.render();
  }

  onSpeakers(list) {
    this.speakers = new Map(list.map((s) => [s.participant_id, s.level]));
    const top = list.find((s) => s.level >= 0.01);
    this.activeSpeaker = top ? top.participant_id : null;
    if (!this.mounted) return;
    for (const tile of this.ui.grid.querySelectorAll('.tile')) this.paintSpeaking(tile);
    for (const tile of this.ui.stage.querySelectorAll('.tile')) this.paintSpeaking(tile);
  }

  paintSpeaking(tile) {
    const pid = tile.dataset.pid;
    const speaking = (this.speakers.get(pid) || 0) >= 0.01 && tile.dataset.source === 'camera';
    tile.classList.toggle('speaking', speaking);
    tile.classList.toggle('active-speaker', speaking && pid === this.activeSpeaker);
  }

  // ---- remote media -------------------------------------------------------------------------

  onRemoteTrack(t) {
    this.remote.set(t.trackId, t);
    if (t.kind === 'audio') {
      const el = h('audio', { autoplay: true, dataset: { trackId: t.trackId } });
      el.srcObject = new MediaStream([t.track]);
      const spk = prefs.get().speakerId;
      if (spk && el.setSinkId) el.setSinkId(spk).catch(() => {});
      this.ui.audio.append(el);
      el.play().catch(() => this.showAudioUnlock());
    }
    this.render();
  }

  dropRemote(trackId) {
    if (!this.remote.has(trackId)) return;
    this.remote.delete(trackId);
    this.subs.delete(trackId);
    if (this.ui.audio) {
      for (const el of this.ui.audio.querySelectorAll('audio')) if (el.dataset.trackId === trackId) { el.srcObject = null; el.remove(); }
    }
    this.render();
  }

  showAudioUnlock() {
    if (this.ui.audioUnlock || !this.mounted) return;
    const btn = h('button', { type: 'button', class: 'btn btn-primary', text: 'Turn on meeting audio' });
    btn.addEventListener('click', () => {
      for (const el of this.ui.audio.querySelectorAll('audio')) el.play().catch(() => {});
      btn.remove();
      this.ui.audioUnlock = null;
    });
    this.ui.audioUnlock = btn;
    this.ui.banners.append(btn);
  }

  /** The video track (MediaStreamTrack) to show for a participant's source, or null. */
  videoFor(pid, source) {
    if (pid === this.selfId) {
      if (source === 'camera') return this.local.camOn ? this.local.camTrack : null;
      return this.local.screenTrack;
    }
    for (const t of this.tracks.values()) {
      if (t.participant_id !== pid || t.kind !== 'video') continue;
      const src = t.source || 'camera';
      if (src !== source) continue;
      const r = this.remote.get(t.track_id);
      if (r) return r.track;
    }
    // A track the offer carried before its track_published arrived.
    if (source === 'camera') {
      for (const r of this.remote.values()) {
        if (r.participantId === pid && r.kind === 'video' && !this.tracks.has(r.trackId)) return r.track;
      }
    }
    return null;
  }

  trackIdFor(pid, source) {
    for (const t of this.tracks.values()) {
      if (t.participant_id === pid && t.kind === 'video' && (t.source || 'camera') === source) return t.track_id;
    }
    return null;
  }

  // ---- local media --------------------------------------------------------------------------

  async setMic(on, byOther = false) {
    const L = this.local;
    if (on === L.micOn) return;
    if (on) {
      if (!L.micTrack || L.micTrack.readyState !== 'live') {
        const r = await getMicrophone(prefs.get().micId);
        if (r.error) { toast(r.error, 'error'); return; }
        L.micTrack = r.track;
        L.stream.addTrack(r.track);
        await this.rtc.publish('microphone', r.track, L.stream);
      }
      L.micTrack.enabled = true;
    } else if (L.micTrack) {
      L.micTrack.enabled = false;
    }
    L.micOn = on;
    if (!byOther) this.sig && this.sig.notify('media_control', { source: 'microphone', muted: !on });
    const me = this.participants.get(this.selfId);
    if (me) me.media = { ...(me.media || {}), microphone: on };
    session.update({ mic_on: on });
    announce(on ? 'Microphone on' : 'Microphone muted');
    this.render();
  }

  async setCam(on, byOther = false) {
    const L = this.local;
    if (on === L.camOn && (!on || L.camTrack)) return;
    if (on) {
      const r = await getCamera(prefs.get().camId);
      if (r.error) { toast(r.error, 'error'); return; }
      if (L.camTrack) { L.stream.removeTrack(L.camTrack); stopTrack(L.camTrack); }
      L.camTrack = r.track;
      L.stream.addTrack(r.track);
      await this.rtc.publish('camera', r.track, L.stream);
    } else if (L.camTrack) {
      await this.rtc.replace('camera', null);
      L.stream.removeTrack(L.camTrack);
      stopTrack(L.camTrack);
      L.camTrack = null;
    }
    L.camOn = on;
    if (!byOther) this.sig && this.sig.notify('media_control', { source: 'camera', muted: !on });
    const me = this.participants.get(this.selfId);
    if (me) me.media = { ...(me.media || {}), camera: on };
    session.update({ cam_on: on });
    announce(on ? 'Camera on' : 'Camera off');
    this.render();
  }

  async startScreen() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      toast('Screen sharing is not supported in this browser.', 'error');
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    } catch (e) {
      if (e.name !== 'NotAllowedError') toast('Screen sharing could not start.', 'error');
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    this.local.screenTrack = track;
    this.local.screenStream = stream;
    track.addEventListener('ended', () => this.stopScreen());
    await this.rtc.publish('screen', track, stream);
    this.sig && this.sig.notify('media_control', { source: 'screen', muted: false });
    const me = this.participants.get(this.selfId);
    if (me) me.media = { ...(me.media || {}), screen: true };
    announce('You are sharing your screen');
    this.render();
  }

  async stopScreen(byOther = false) {
    const L = this.local;
    if (!L.screenTrack) return;
    stopTrack(L.screenTrack);
    L.screenTrack = null;
    L.screenStream = null;
    await this.rtc.unpublish('screen');
    if (!byOther) this.sig && this.sig.notify('media_control', { source: 'screen', muted: true });
    const me = this.participants.get(this.selfId);
    if (me) me.media = { ...(me.media || {}), screen: false };
    announce('Screen sharing stopped');
    this.render();
  }

  // ---- host actions -------------------------------------------------------------------------

  get myRole() {
    const me = this.participants.get(this.selfId);
    return me ? me.role : 'participant';
  }

  get canModerate() {
    return this.myRole === 'host' || this.myRole === 'cohost';
  }

  async hostAction(action, target) {
    try {
      await this.sig.request('host_action', target ? { action, target } : { action });
      return true;
    } catch (e) {
      toast(errorText(e.code, e.message), 'error');
      return false;
    }
  }

  async muteOther(pid, source) {
    try {
      await this.sig.request('media_control', { source, muted: true, target: pid });
    } catch (e) {
      toast(errorText(e.code, e.message), 'error');
    }
  }

  async confirmKick(p) {
    const v = await ask({
      title: `Remove ${p.display_name}?`,
      message: 'They will leave the meeting and cannot rejoin it.',
      buttons: [{ label: 'Cancel', value: null }, { label: 'Remove', value: 'kick', kind: 'danger' }],
    });
    if (v === 'kick') this.hostAction('kick', p.participant_id);
  }

  async confirmTransfer(p) {
    const v = await ask({
      title: `Make ${p.display_name} the host?`,
      message: 'You will become a co-host.',
      buttons: [{ label: 'Cancel', value: null }, { label: 'Make host', value: 'ok', kind: 'primary' }],
    });
    if (v === 'ok') this.hostAction('transfer_host', p.participant_id);
  }

  async onLeaveClick() {
    if (!this.canModerate) {
      this.leave();
      return;
    }
    const v = await ask({
      title: 'Leave the meeting?',
      message: this.myRole === 'host' ? 'You can leave and let the meeting go on, or end it for everyone.' : 'You can leave, or end the meeting for everyone.',
      buttons: [
        { label: 'Cancel', value: null },
        { label: 'Leave meeting', value: 'leave' },
        { label: 'End meeting for all', value: 'end', kind: 'danger' },
      ],
    });
    if (v === 'leave') this.leave();
    else if (v === 'end') {
      if (await this.hostAction('end_meeting')) this.showEnded('host_ended');
    }
  }

  async leave() {
    this.leaving = true;
    try {
      if (this.sig && this.sig.open) await this.sig.request('leave_room', undefined, { timeout: 3000 });
    } catch { /* leaving anyway */ }
    session.clear();
    this.dispose();
    this.showScreen('You left the meeting', '', [
      { label: 'Rejoin', primary: true, href: `/m/${encodeURIComponent(this.code)}` },
      { label: 'Back to home', href: '/' },
    ]);
  }

  // ---- terminal screens ---------------------------------------------------------------------

  showEnded(reason) {
    if (this.terminal) return;
    this.terminal = true;
    session.clear();
    this.dispose();
    this.showScreen('The meeting has ended', END_REASON[reason] || 'This meeting is over.', [{ label: 'Back to home', primary: true, href: '/' }], 'meeting-ended');
  }

  showKicked() {
    if (this.terminal) return;
    this.terminal = true;
    session.clear();
    this.dispose();
    this.showScreen('You were removed from the meeting', 'The host removed you from this meeting.', [{ label: 'Back to home', primary: true, href: '/' }], 'kicked');
  }

  showNotice(title, text, rejoin = false) {
    if (this.terminal) return;
    this.terminal = true;
    session.clear();
    this.dispose();
    const buttons = [{ label: 'Back to home', href: '/' }];
    if (rejoin) buttons.unshift({ label: 'Rejoin', primary: true, href: `/m/${encodeURIComponent(this.code)}` });
    this.showScreen(title, text, buttons, 'notice');
  }

  showScreen(title, text, buttons, kind = 'left') {
    const heading = h('h1', { tabindex: '-1', id: 'end-title', text: title });
    clear(this.app).append(h('main', { class: 'end-screen' },
      h('section', { class: `card narrow end-${kind}`, role: 'alert', 'aria-labelledby': 'end-title' },
        heading,
        text ? h('p', { id: 'end-text', text }) : null,
        h('div', { class: 'actions' }, buttons.map((b) => h('a', { class: `btn ${b.primary ? 'btn-primary' : ''}`, href: b.href, text: b.label }))))));
    document.title = `${title} · onstage`;
    heading.focus();
  }

  /** Stops media (unless keepMedia), closes connections and timers. Idempotent. */
  dispose(keepMedia = false) {
    if (this.disposed) return;
    this.disposed = true;
    if (this.giveaway) this.giveaway.dispose();
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.subscriberWatch);
    clearTimeout(this.restartTimer);
    if (this.observers) { this.observers.io.disconnect(); this.observers.ro.disconnect(); }
    if (this.rtc) this.rtc.close();
    if (this.sig) this.sig.close();
    const L = this.local;
    if (!keepMedia) {
      stopTrack(L.micTrack);
      stopTrack(L.camTrack);
    }
    stopTrack(L.screenTrack);
    if (this.ui.audio) for (const el of this.ui.audio.querySelectorAll('audio')) el.srcObject = null;
    document.removeEventListener('keydown', this.onKey);
  }

  // ---- chat ---------------------------------------------------------------------------------

  addChat(c, history) {
    if (!c || typeof c.seq !== 'number' || this.chatSeqs.has(c.seq)) return;
    this.chatSeqs.add(c.seq);
    if (c.seq > this.lastSeq) {
      this.lastSeq = c.seq;
      session.update({ last_seq: this.lastSeq });
    }
    const mine = c.from === this.selfId;
    const isPrivate = !!c.to;
    let tag = null;
    if (isPrivate) {
      const other = this.participants.get(mine ? c.to : c.from);
      tag = h('span', { class: 'tag private', text: mine ? `Private to ${other ? other.display_name : 'someone'}` : 'Private to you' });
    }
    const li = h('li', { class: `msg${mine ? ' mine' : ''}${isPrivate ? ' private' : ''}`, dataset: { seq: String(c.seq) } },
      h('div', { class: 'msg-meta' },
        h('span', { class: 'msg-from', text: mine ? 'You' : c.from_name || 'Someone' }),
        tag,
        h('time', { datetime: c.sent_at || '', text: shortTime(c.sent_at) })),
      h('p', { class: 'msg-text', text: c.text }));
    // Keep seq order even if a replayed message lands after a live one.
    const list = this.ui.chatList;
    let before = null;
    for (const el of list.children) {
      if (Number(el.dataset.seq) > c.seq) { before = el; break; }
    }
    list.insertBefore(li, before);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    if (atBottom || mine) list.scrollTop = list.scrollHeight;
    if (!history && !mine && this.panel !== 'chat') {
      this.unread += 1;
      this.paintUnread();
      announce(`New message from ${c.from_name}: ${c.text}`);
    }
  }

  async sendChat(text, to) {
    const data = to ? { text, to } : { text };
    return this.sig.request('chat_message', data);
  }

  paintUnread() {
    const b = this.ui.unread;
    if (!b) return;
    b.textContent = this.unread > 99 ? '99+' : String(this.unread);
    b.hidden = this.unread === 0;
    this.ui.chatBtn.setAttribute('aria-label', this.unread ? `Chat, ${this.unread} unread` : 'Chat');
  }

  // ---- UI -----------------------------------------------------------------------------------

  mount() {
    this.mounted = true;
    const ui = this.ui;
    ui.title = h('h1', { class: 'room-title', text: this.title || 'Meeting' });
    ui.code = h('button', { type: 'button', class: 'btn btn-ghost code', title: 'Copy the meeting link', 'aria-label': `Meeting code ${this.code}. Copy the meeting link` }, this.code);
    ui.code.addEventListener('click', () => this.copyLink());
    ui.quality = h('div', { class: 'quality q-connecting', role: 'img', 'aria-label': 'Connection: connecting', id: 'quality' },
      h('span', { class: 'bar b1' }), h('span', { class: 'bar b2' }), h('span', { class: 'bar b3' }), h('span', { class: 'bar b4' }));
    ui.count = h('span', { class: 'count', 'aria-live': 'polite' });
    ui.banners = h('div', { class: 'banners' });
    ui.reconnect = h('div', { class: 'banner banner-warn', id: 'reconnecting', role: 'status', hidden: true }, 'Reconnecting…');
    ui.notice = h('p', { class: 'sr-only', role: 'status', id: 'room-notice' });
    ui.banners.append(ui.reconnect);
    this.giveaway = new GiveawayPanel({ meetingId: this.meetingId, send: (t, d) => this.sig.request(t, d), canModerate: () => this.canModerate });
    ui.banners.append(this.giveaway.el);
    ui.stage = h('div', { class: 'stage', id: 'stage', 'aria-label': 'Shared screen' });
    ui.grid = h('div', { class: 'grid', id: 'grid', 'aria-label': 'Participants video' });
    ui.audio = h('div', { class: 'sr-only', 'aria-hidden': 'true' });

    // Controls.
    ui.micBtn = h('button', { type: 'button', class: 'ctl', id: 'ctl-mic', 'aria-keyshortcuts': 'Control+D' });
    ui.camBtn = h('button', { type: 'button', class: 'ctl', id: 'ctl-cam', 'aria-keyshortcuts': 'Control+E' });
    ui.screenBtn = h('button', { type: 'button', class: 'ctl', id: 'ctl-screen' });
    ui.unread = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true', id: 'unread' });
    ui.chatBtn = h('button', { type: 'button', class: 'ctl', id: 'ctl-chat', 'aria-label': 'Chat', 'aria-controls': 'panel' }, icon('chat'), h('span', { class: 'ctl-label', text: 'Chat' }), ui.unread);
    ui.peopleBtn = h('button', { type: 'button', class: 'ctl', id: 'ctl-people', 'aria-controls': 'panel' }, icon('people'), h('span', { class: 'ctl-label', text: 'People' }));
    ui.leaveBtn = h('button', { type: 'button', class: 'ctl ctl-leave', id: 'ctl-leave' }, icon('leave'), h('span', { class: 'ctl-label', text: 'Leave' }));
    ui.micBtn.addEventListener('click', () => this.setMic(!this.local.micOn));
    ui.camBtn.addEventListener('click', () => this.setCam(!this.local.camOn));
    ui.screenBtn.addEventListener('click', () => (this.local.screenTrack ? this.stopScreen() : this.startScreen()));
    ui.chatBtn.addEventListener('click', () => this.togglePanel('chat'));
    ui.peopleBtn.addEventListener('click', () => this.togglePanel('people'));
    ui.leaveBtn.addEventListener('click', () => this.onLeaveClick());

    // Chat panel.
    ui.chatList = h('ol', { class: 'chat-list', id: 'chat-list', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Chat messages', tabindex: '0' });
    ui.chatTo = h('select', { id: 'chat-to', 'aria-label': 'Send to' });
    ui.chatInput = h('textarea', { id: 'chat-input', rows: '2', maxlength: '2000', 'aria-label': 'Message', placeholder: 'Send a message' });
    ui.chatSend = h('button', { type: 'submit', class: 'btn btn-primary', id: 'chat-send', text: 'Send' });
    ui.chatError = h('p', { class: 'error small', role: 'alert' });
    const chatForm = h('form', { class: 'chat-form', id: 'chat-form' },
      h('div', { class: 'chat-to-row' }, h('label', { for: 'chat-to', text: 'To' }), ui.chatTo),
      ui.chatInput, ui.chatError, ui.chatSend);
    chatForm.addEventListener('submit', (e) => { e.preventDefault(); this.submitChat(); });
    ui.chatInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submitChat(); }
    });
    ui.chatPane = h('section', { class: 'pane', id: 'pane-chat', 'aria-labelledby': 'pane-chat-title' },
      h('h2', { id: 'pane-chat-title', text: 'Chat' }), ui.chatList, chatForm);

    // People panel.
    ui.peopleList = h('ul', { class: 'people-list', id: 'people-list' });
    ui.muteAll = h('button', { type: 'button', class: 'btn', id: 'mute-all', text: 'Mute all' });
    ui.muteAll.addEventListener('click', () => this.hostAction('mute_all'));
    ui.endBtn = h('button', { type: 'button', class: 'btn btn-danger', id: 'end-meeting', text: 'End meeting for all' });
    ui.endBtn.addEventListener('click', async () => {
      const v = await ask({ title: 'End the meeting for everyone?', message: 'Everyone will be removed from the meeting.', buttons: [{ label: 'Cancel', value: null }, { label: 'End meeting', value: 'end', kind: 'danger' }] });
      if (v === 'end' && (await this.hostAction('end_meeting'))) this.showEnded('host_ended');
    });
    ui.hostTools = h('div', { class: 'host-tools' }, ui.muteAll, ui.endBtn);
    ui.peopleTitle = h('h2', { id: 'pane-people-title', text: 'People' });
    ui.peoplePane = h('section', { class: 'pane', id: 'pane-people', 'aria-labelledby': 'pane-people-title' },
      ui.peopleTitle, ui.hostTools, ui.peopleList);

    ui.panelClose = h('button', { type: 'button', class: 'btn btn-ghost panel-close', 'aria-label': 'Close panel', text: '✕' });
    ui.panelClose.addEventListener('click', () => this.togglePanel(null));
    ui.panel = h('aside', { class: 'panel', id: 'panel', 'aria-label': 'Chat and people' }, ui.panelClose, ui.chatPane, ui.peoplePane);

    const root = h('div', { class: 'room', id: 'room' },
      h('header', { class: 'topbar' },
        h('div', { class: 'topbar-title' }, ui.title, ui.code),
        h('div', { class: 'topbar-status' }, ui.count, ui.quality)),
      ui.banners,
      h('div', { class: 'room-body' },
        h('main', { class: 'videos', id: 'videos', 'aria-label': 'Meeting' }, ui.stage, ui.grid),
        ui.panel),
      h('nav', { class: 'controls', 'aria-label': 'Meeting controls' },
        ui.micBtn, ui.camBtn, ui.screenBtn, ui.chatBtn, ui.peopleBtn, ui.leaveBtn),
      ui.notice,
      ui.audio);
    clear(this.app).append(root);

    this.onKey = (e) => {
      if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey) return;
      const k = e.key.toLowerCase();
      if (k === 'd') { e.preventDefault(); this.setMic(!this.local.micOn); }
      else if (k === 'e') { e.preventDefault(); this.setCam(!this.local.camOn); }
    };
    document.addEventListener('keydown', this.onKey);

    const io = new IntersectionObserver((entries) => {
      for (const en of entries) this.visible.set(en.target.dataset.key, en.isIntersecting);
      this.updateSubscriptions();
    }, { root: null, threshold: 0.01 });
    const ro = new ResizeObserver(() => { this.layoutGrid(); this.updateSubscriptions(); });
    ro.observe(ui.grid);
    this.observers = { io, ro };

    this.timers.push(setInterval(() => this.pollStats(), 2000));
    this.render(true);
    ui.micBtn.focus();
    announce(`You joined ${this.title || 'the meeting'}. ${this.participants.size} ${this.participants.size === 1 ? 'person' : 'people'} here.`);
  }

  togglePanel(which) {
    this.panel = this.panel === which ? null : which;
    if (this.panel === 'chat') {
      this.unread = 0;
      this.paintUnread();
    }
    this.renderPanel();
    if (this.panel === 'chat') this.ui.chatInput.focus();
    else if (this.panel === 'people') this.ui.peopleTitle.setAttribute('tabindex', '-1'), this.ui.peopleTitle.focus();
  }

  async submitChat() {
    const ui = this.ui;
    const text = ui.chatInput.value.trim();
    if (!text) return;
    ui.chatError.textContent = '';
    ui.chatSend.disabled = true;
    try {
      await this.sendChat(text, ui.chatTo.value || undefined);
      ui.chatInput.value = '';
    } catch (e) {
      ui.chatError.textContent = e.code === 'disconnected' ? 'Not connected. Your message was not sent.' : errorText(e.code, e.message);
    } finally {
      ui.chatSend.disabled = false;
      ui.chatInput.focus();
    }
  }

  async copyLink() {
    const link = `${location.origin}/m/${encodeURIComponent(this.code)}`;
    try {
      await navigator.clipboard.writeText(link);
      toast('Meeting link copied.', 'success');
    } catch {
      toast(`Meeting link: ${link}`, 'info', 10000);
    }
  }

  showBanner(on) {
    if (!this.ui.reconnect) return;
    this.ui.reconnect.hidden = !on;
    if (this.ui.banners) this.ui.banners.classList.toggle('active', on);
  }

  async pollStats() {
    if (!this.rtc || this.disposed) return;
    try {
      const s = await this.rtc.summary(this.statsPrev);
      this.statsPrev = s;
      this.stats = s;
      this.paintQuality();
    } catch { /* closed meanwhile */ }
  }

  paintQuality() {
    const q = this.ui.quality;
    if (!q) return;
    let quality = this.stats ? this.stats.quality : 'connecting';
    if (this.reconnecting) quality = 'lost';
    const label = { good: 'good', fair: 'fair', poor: 'poor', lost: 'lost', connecting: 'connecting' }[quality] || quality;
    q.className = `quality q-${quality}`;
    const rtt = this.stats && this.stats.rtt !== null ? `, round trip ${Math.round(this.stats.rtt)} ms` : '';
    const loss = this.stats && this.stats.lossPct ? `, ${this.stats.lossPct.toFixed(1)}% loss` : '';
    q.setAttribute('aria-label', `Connection: ${label}${rtt}${loss}`);
    q.title = `Connection: ${label}${rtt}${loss}`;
    q.dataset.quality = quality;
  }

  render(now = false) {
    if (!this.mounted || this.disposed) return;
    if (now) { this.renderNow(); return; }
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => { this.renderQueued = false; if (!this.disposed) this.renderNow(); });
  }

  renderNow() {
    this.renderGrid();
    this.renderControls();
    this.renderPeople();
    this.renderPanel();
    this.ui.title.textContent = this.title || 'Meeting';
    this.ui.count.textContent = `${this.participants.size} ${this.participants.size === 1 ? 'person' : 'people'}`;
    this.paintQuality();
  }

  renderControls() {
    const L = this.local;
    const ui = this.ui;
    const set = (btn, on, onLabel, offLabel, ic, icOff, text) => {
      clear(btn).append(icon(on ? ic : icOff), h('span', { class: 'ctl-label', text }));
      btn.setAttribute('aria-pressed', String(on));
      btn.setAttribute('aria-label', on ? onLabel : offLabel);
      btn.classList.toggle('off', !on);
    };
    set(ui.micBtn, L.micOn, 'Mute microphone', 'Unmute microphone', 'mic', 'micOff', L.micOn ? 'Mute' : 'Unmute');
    set(ui.camBtn, L.camOn, 'Turn camera off', 'Turn camera on', 'cam', 'camOff', L.camOn ? 'Stop video' : 'Start video');
    clear(ui.screenBtn).append(icon('screen'), h('span', { class: 'ctl-label', text: L.screenTrack ? 'Stop sharing' : 'Share' }));
    ui.screenBtn.setAttribute('aria-pressed', String(!!L.screenTrack));
    ui.screenBtn.setAttribute('aria-label', L.screenTrack ? 'Stop sharing your screen' : 'Share your screen');
    ui.screenBtn.classList.toggle('active', !!L.screenTrack);
    ui.micBtn.classList.toggle('muted-by-host', !L.micOn);
  }

  renderPanel() {
    const ui = this.ui;
    ui.panel.hidden = !this.panel;
    ui.chatPane.hidden = this.panel !== 'chat';
    ui.peoplePane.hidden = this.panel !== 'people';
    ui.chatBtn.setAttribute('aria-expanded', String(this.panel === 'chat'));
    ui.peopleBtn.setAttribute('aria-expanded', String(this.panel === 'people'));
    ui.chatBtn.classList.toggle('active', this.panel === 'chat');
    ui.peopleBtn.classList.toggle('active', this.panel === 'people');
    ui.peopleBtn.setAttribute('aria-label', `People, ${this.participants.size}`);
    document.body.classList.toggle('panel-open', !!this.panel);
  }

  /** Participants sorted: self first, then hosts, co-hosts, then by join time. */
  sortedParticipants() {
    const rank = { host: 0, cohost: 1, participant: 2 };
    return [...this.participants.values()].sort((a, b) => {
      if (a.participant_id === this.selfId) return -1;
      if (b.participant_id === this.selfId) return 1;
      const r = (rank[a.role] ?? 2) - (rank[b.role] ?? 2);
      if (r) return r;
      return String(a.joined_at || '').localeCompare(String(b.joined_at || ''));
    });
  }

  renderGrid() {
    const ui = this.ui;
    const want = [];
    const screens = [];
    for (const p of this.sortedParticipants()) {
      want.push({ key: `${p.participant_id}:camera`, p, source: 'camera' });
      const screenTrack = this.videoFor(p.participant_id, 'screen');
      if (screenTrack) screens.push({ key: `${p.participant_id}:screen`, p, source: 'screen' });
    }
    const existing = new Map();
    for (const el of [...ui.grid.children, ...ui.stage.children]) existing.set(el.dataset.key, el);
    const keep = new Set();
    const place = (container, items) => {
      let i = 0;
      for (const it of items) {
        keep.add(it.key);
        let tile = existing.get(it.key);
        if (!tile) {
          tile = this.makeTile(it);
          this.observers.io.observe(tile);
        }
        this.updateTile(tile, it);
        if (container.children[i] !== tile) container.insertBefore(tile, container.children[i] || null);
        i += 1;
      }
    };
    place(ui.stage, screens);
    place(ui.grid, want);
    for (const [key, el] of existing) {
      if (!keep.has(key)) {
        this.observers.io.unobserve(el);
        const v = el.querySelector('video');
        if (v) v.srcObject = null;
        el.remove();
        this.visible.delete(key);
      }
    }
    const hasStage = screens.length > 0;
    ui.stage.hidden = !hasStage;
    ui.grid.classList.toggle('strip', hasStage);
    this.layoutGrid();
    this.updateSubscriptions();
  }

  layoutGrid() {
    const grid = this.ui.grid;
    const n = grid.children.length || 1;
    if (grid.classList.contains('strip')) {
      grid.style.removeProperty('--cols');
      grid.style.removeProperty('--rows');
      return;
    }
    const w = grid.clientWidth || window.innerWidth;
    const hgt = grid.clientHeight || window.innerHeight;
    // Pick the column count that gives the largest 16:9 tiles.
    let best = 1;
    let bestArea = 0;
    for (let cols = 1; cols <= n; cols += 1) {
      const rows = Math.ceil(n / cols);
      const tw = w / cols;
      const th = hgt / rows;
      const tileW = Math.min(tw, (th * 16) / 9);
      if (tileW * ((tileW * 9) / 16) > bestArea) { bestArea = tileW * ((tileW * 9) / 16); best = cols; }
    }
    grid.style.setProperty('--cols', String(best));
    grid.style.setProperty('--rows', String(Math.ceil(n / best)));
    grid.dataset.count = String(n);
  }

  makeTile(it) {
    const video = h('video', { autoplay: true, playsinline: true, muted: true });
    const avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' });
    const name = h('span', { class: 'tile-name' });
    const mic = h('span', { class: 'tile-mic', 'aria-hidden': 'true' });
    const role = h('span', { class: 'tile-role' });
    const tile = h('figure', { class: `tile tile-${it.source}`, dataset: { key: it.key, pid: it.p.participant_id, source: it.source } },
      video, avatar, h('figcaption', { class: 'tile-label' }, mic, name, role));
    return tile;
  }

  updateTile(tile, it) {
    const p = it.p;
    const self = p.participant_id === this.selfId;
    const media = p.media || {};
    const track = this.videoFor(p.participant_id, it.source);
    const showVideo = !!track && (self || it.source === 'screen' || media.camera !== false);
    const video = tile.querySelector('video');
    const current = video.srcObject ? video.srcObject.getVideoTracks()[0] : null;
    if (showVideo && current !== track) {
      video.srcObject = new MediaStream([track]);
      video.play().catch(() => {});
    } else if (!showVideo && video.srcObject) {
      video.srcObject = null;
    }
    video.hidden = !showVideo;
    video.classList.toggle('mirror', self && it.source === 'camera');
    const avatar = tile.querySelector('.avatar');
    avatar.hidden = showVideo;
    avatar.textContent = initials(p.display_name);
    avatar.style.setProperty('--hue', String(hueFor(p.display_name || p.participant_id)));
    const micOn = self ? this.local.micOn && !!this.local.micTrack : media.microphone !== false;
    const label = `${p.display_name || 'Guest'}${self ? ' (you)' : ''}${it.source === 'screen' ? ' — screen' : ''}`;
    tile.querySelector('.tile-name').textContent = label;
    const micEl = tile.querySelector('.tile-mic');
    if (!micEl.firstChild) micEl.append(svgIcon('micOff', 'icon icon-small'));
    micEl.hidden = it.source !== 'camera' || micOn;
    tile.querySelector('.tile-role').textContent = it.source === 'camera' ? ROLE_LABEL[p.role] || '' : '';
    tile.classList.toggle('mic-muted', it.source === 'camera' && !micOn);
    tile.setAttribute('aria-label', `${label}${it.source === 'camera' && !micOn ? ', microphone muted' : ''}${it.source === 'camera' && !showVideo ? ', camera off' : ''}`);
    tile.dataset.trackId = self ? '' : this.trackIdFor(p.participant_id, it.source) || '';
    this.paintSpeaking(tile);
  }

  /** Asks for a lower simulcast layer for small tiles and pauses tracks that aren't visible. */
  updateSubscriptions() {
    if (!this.sig || !this.sig.open || !this.mounted) return;
    for (const tile of [...this.ui.grid.children, ...this.ui.stage.children]) {
      const id = tile.dataset.trackId;
      if (!id || !this.remote.has(id)) continue;
      const info = this.tracks.get(id);
      const visible = this.visible.get(tile.dataset.key) !== false && !tile.querySelector('video').hidden;
      const height = tile.clientHeight;
      let quality = 'high';
      if (height > 0 && height < 200) quality = 'low';
      else if (height > 0 && height < 400) quality = 'medium';
      const layered = info && Array.isArray(info.layers) && info.layers.length > 1;
      const want = { paused: !visible, quality: layered ? quality : null };
      const had = this.subs.get(id);
      if (had && had.paused === want.paused && had.quality === want.quality) continue;
      if (!had && !want.paused && !want.quality) { this.subs.set(id, want); continue; }
      this.subs.set(id, want);
      const data = { track_id: id, paused: want.paused };
      if (want.quality) data.quality = want.quality;
      this.sig.notify('subscribe', data);
    }
  }

  renderPeople() {
    const ui = this.ui;
    const mod = this.canModerate;
    const isHost = this.myRole === 'host';
    ui.hostTools.hidden = !mod;
    ui.peopleTitle.textContent = `People (${this.participants.size})`;
    // Re-rendering must not close an open action menu or lose keyboard focus.
    const openPids = new Set([...ui.peopleList.querySelectorAll('details[open]')].map((d) => d.closest('li').dataset.pid));
    const focused = ui.peopleList.contains(document.activeElement) ? document.activeElement : null;
    const focusPid = focused ? focused.closest('li').dataset.pid : null;
    const focusText = focused ? (focused.tagName === 'SUMMARY' ? '<summary>' : focused.textContent) : null;
    clear(ui.peopleList);
    for (const p of this.sortedParticipants()) {
      const self = p.participant_id === this.selfId;
      const media = self
        ? { microphone: this.local.micOn && !!this.local.micTrack, camera: this.local.camOn && !!this.local.camTrack, screen: !!this.local.screenTrack }
        : p.media || {};
      const states = [
        media.microphone ? 'microphone on' : 'microphone muted',
        media.camera ? 'camera on' : 'camera off',
        media.screen ? 'sharing screen' : null,
      ].filter(Boolean).join(', ');
      const li = h('li', { class: 'person', dataset: { pid: p.participant_id } },
        h('span', { class: 'avatar small', 'aria-hidden': 'true', text: initials(p.display_name) }),
        h('span', { class: 'person-name' },
          h('span', { class: 'name', text: `${p.display_name || 'Guest'}${self ? ' (you)' : ''}` }),
          ROLE_LABEL[p.role] ? h('span', { class: `tag role-${p.role}`, text: ROLE_LABEL[p.role] }) : null),
        h('span', { class: 'person-media', title: states },
          svgIcon(media.microphone ? 'mic' : 'micOff', `icon icon-small${media.microphone ? '' : ' icon-off'}`),
          svgIcon(media.camera ? 'cam' : 'camOff', `icon icon-small${media.camera ? '' : ' icon-off'}`),
          media.screen ? svgIcon('screen', 'icon icon-small') : null,
          h('span', { class: 'sr-only', text: states })));
      const el = li.querySelector('.avatar');
      el.style.setProperty('--hue', String(hueFor(p.display_name || p.participant_id)));
      if (mod && !self && p.role !== 'host') {
        const actions = [];
        const act = (label, fn, cls = '') => actions.push(h('button', { type: 'button', class: `btn btn-small ${cls}`, onclick: fn, text: label }));
        if (media.microphone) act('Mute', () => this.muteOther(p.participant_id, 'microphone'));
        if (media.camera) act('Stop video', () => this.muteOther(p.participant_id, 'camera'));
        if (isHost && p.role === 'participant') act('Make co-host', () => this.hostAction('make_cohost', p.participant_id));
        if (isHost && p.role === 'cohost') act('Remove co-host', () => this.hostAction('revoke_cohost', p.participant_id));
        if (isHost) act('Make host', () => this.confirmTransfer(p));
        act('Remove', () => this.confirmKick(p), 'btn-danger');
        const sumId = nextId('sum');
        li.append(h('details', { class: 'person-actions', open: openPids.has(p.participant_id) },
          h('summary', { id: sumId, 'aria-label': `Actions for ${p.display_name}` }, svgIcon('more')),
          h('div', { class: 'person-actions-menu', role: 'group', 'aria-labelledby': sumId }, actions)));
      }
      ui.peopleList.append(li);
      if (focusPid === p.participant_id) {
        const target = focusText === '<summary>' ? li.querySelector('summary')
          : [...li.querySelectorAll('button')].find((b) => b.textContent === focusText) || li.querySelector('summary');
        if (target) target.focus();
      }
    }
    // Chat recipients follow the participant list.
    const chosen = ui.chatTo.value;
    clear(ui.chatTo).append(h('option', { value: '', text: 'Everyone' }));
    for (const p of this.sortedParticipants()) {
      if (p.participant_id === this.selfId) continue;
      ui.chatTo.append(h('option', { value: p.participant_id, text: `${p.display_name} (private)`, selected: p.participant_id === chosen }));
    }
  }
}
