// The giveaway panel of the meeting room (docs/giveaways.md): an open giveaway with its
// countdown and an Enter button, the entry-list hash once entries close, the winners once
// drawn; a host or co-host can start one and draw. Entries go over the socket
// (giveaway_enter); the host's actions and the initial state use REST.

import { h, clear, announce, toast } from './dom.js';
import { request, errorText } from './api.js';

const GIVEAWAY_ERRORS = {
  already_entered: 'You have entered this giveaway already.',
  giveaway_closed: 'Entries to this giveaway are closed.',
  no_entries: 'Nobody has entered yet.',
  meeting_not_live: 'Giveaways run in live meetings only.',
};

function giveawayError(e) {
  return GIVEAWAY_ERRORS[e.code] || errorText(e.code, e.message);
}

/** Seconds left until iso, never negative. */
export function secondsLeft(iso, now = Date.now()) {
  return Math.max(0, Math.ceil((Date.parse(iso) - now) / 1000));
}

/** "m:ss" for a number of seconds. */
export function clock(s) {
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export class GiveawayPanel {
  /**
   * @param {object} o
   * @param {string} o.meetingId
   * @param {(type: string, data: object) => Promise<object>} o.send  a socket request
   * @param {() => boolean} o.canModerate
   */
  constructor({ meetingId, send, canModerate }) {
    this.meetingId = meetingId;
    this.send = send;
    this.canModerate = canModerate;
    this.current = null; // the latest giveaway view
    this.formOpen = false;
    this.myEntry = null; // {giveaway_id, entry_number}
    this.busy = false;
    this.el = h('section', { class: 'giveaway', id: 'giveaway', 'aria-labelledby': 'giveaway-title', hidden: true });
    this.timer = setInterval(() => this.tick(), 1000);
  }

  get base() {
    return `/meetings/${encodeURIComponent(this.meetingId)}/giveaways`;
  }

  /** Loads the newest giveaway of the meeting (joining while one is open). */
  async load() {
    try {
      const list = await request('GET', this.base);
      if (list && list.items && list.items.length) {
        this.current = list.items[0];
        if (this.current.my_entry_number) this.myEntry = { giveaway_id: this.current.id, entry_number: this.current.my_entry_number };
      }
    } catch { /* the panel stays as it was */ }
    this.render();
  }

  /** Handles giveaway_opened / giveaway_closed / giveaway_winners; true when it was one. */
  onMessage(type, d) {
    switch (type) {
      case 'giveaway_opened':
        this.current = d.giveaway;
        this.myEntry = null;
        announce(`Giveaway started: ${d.giveaway.title}. Prize: ${d.giveaway.prize}.`);
        break;
      case 'giveaway_closed':
        if (!this.current || this.current.id === d.giveaway.id) this.current = d.giveaway;
        break;
      case 'giveaway_winners': {
        this.current = d.giveaway;
        const names = (d.winners || []).map((w) => `#${w.entry_number} ${w.name}`).join(', ');
        const mine = this.myEntry && (d.winners || []).some((w) => w.entry_number === this.myEntry.entry_number);
        announce(mine ? `You won: entry #${this.myEntry.entry_number}!` : `Giveaway winners: ${names}`);
        if (mine) toast(`You won the giveaway (entry #${this.myEntry.entry_number})!`, 'success', 10000);
        break;
      }
      default:
        return false;
    }
    this.render();
    return true;
  }

  async enter() {
    const g = this.current;
    if (!g || this.busy) return;
    this.busy = true;
    this.render();
    try {
      const e = await this.send('giveaway_enter', { giveaway_id: g.id });
      this.myEntry = { giveaway_id: g.id, entry_number: e.entry_number };
      announce(`You entered the giveaway as entry number ${e.entry_number}.`);
    } catch (e) {
      if (e.code === 'already_entered') this.myEntry = this.myEntry || { giveaway_id: g.id, entry_number: null };
      toast(giveawayError(e), 'error');
    } finally {
      this.busy = false;
      this.render();
    }
  }

  async start(form) {
    const f = new FormData(form);
    const body = {
      title: String(f.get('title') || '').trim(),
      prize: String(f.get('prize') || '').trim(),
      winners: Number(f.get('winners') || 1),
      entry_seconds: Number(f.get('seconds') || 60),
    };
    try {
      this.current = await request('POST', this.base, body);
      this.myEntry = null;
      this.formOpen = false;
    } catch (e) {
      toast(giveawayError(e), 'error');
    }
    this.render();
  }

  async hostAction(path) {
    const g = this.current;
    if (!g || this.busy) return;
    this.busy = true;
    try {
      const r = await request('POST', `${this.base}/${encodeURIComponent(g.id)}/${path}`);
      this.current = r.giveaway || r;
    } catch (e) {
      toast(giveawayError(e), 'error');
    } finally {
      this.busy = false;
      this.render();
    }
  }

  tick() {
    if (this.current && this.current.status === 'open' && this.countdown) {
      const s = secondsLeft(this.current.closes_at);
      this.countdown.textContent = clock(s);
      if (s === 0 && this.enterBtn) this.enterBtn.disabled = true;
    }
  }

  render() {
    const g = this.current;
    const mod = this.canModerate();
    clear(this.el);
    this.countdown = null;
    this.enterBtn = null;
    this.el.hidden = !g && !mod;
    if (this.el.hidden) return;

    if (!g || (g.status === 'drawn' && this.formOpen)) {
      this.renderStart();
      return;
    }
    const title = h('h2', { id: 'giveaway-title', class: 'giveaway-title' }, `🎁 ${g.title}`);
    const prize = h('p', { class: 'giveaway-prize', text: `Prize: ${g.prize} · ${g.winner_count} winner${g.winner_count === 1 ? '' : 's'}` });
    const body = [];
    if (g.status === 'open') {
      this.countdown = h('span', { class: 'giveaway-countdown', id: 'giveaway-countdown', role: 'timer', 'aria-label': 'Time left to enter', text: clock(secondsLeft(g.closes_at)) });
      const entered = this.myEntry && this.myEntry.giveaway_id === g.id;
      this.enterBtn = h('button', {
        type: 'button', class: 'btn btn-primary', id: 'giveaway-enter', disabled: entered || this.busy,
        text: entered ? (this.myEntry.entry_number ? `Entered · #${this.myEntry.entry_number}` : 'Entered') : 'Enter',
        onclick: () => this.enter(),
      });
      body.push(h('div', { class: 'giveaway-row' }, h('span', { text: 'Closes in ' }), this.countdown, this.enterBtn));
      if (mod) {
        body.push(h('div', { class: 'giveaway-row' },
          h('button', { type: 'button', class: 'btn', id: 'giveaway-close', text: 'Close entries', onclick: () => this.hostAction('close') }),
          h('button', { type: 'button', class: 'btn', id: 'giveaway-draw', text: 'Draw now', onclick: () => this.hostAction('draw') })));
      }
    } else if (g.status === 'closed') {
      body.push(h('p', { class: 'giveaway-status', text: `Entries closed: ${g.entry_count}. Drawing soon…` }));
      if (mod) body.push(h('button', { type: 'button', class: 'btn btn-primary', id: 'giveaway-draw', text: 'Draw winners', onclick: () => this.hostAction('draw') }));
    } else {
      const winners = (g.winners || []).filter((w) => !w.replaced);
      body.push(h('p', { class: 'giveaway-status', text: 'Winners' }));
      body.push(h('ol', { class: 'giveaway-winners', id: 'giveaway-winners' },
        winners.map((w) => h('li', { dataset: { entry: String(w.entry_number) } }, `#${w.entry_number} ${w.name}`))));
      if (mod) body.push(h('button', { type: 'button', class: 'btn', id: 'giveaway-new', text: 'New giveaway', onclick: () => { this.formOpen = true; this.render(); } }));
    }
    const proof = [h('span', { text: 'Commitment ' }), h('code', { text: g.commitment.slice(0, 16) + '…', title: g.commitment })];
    if (g.entry_list_hash) proof.push(h('span', { text: ' · entry list ' }), h('code', { text: g.entry_list_hash.slice(0, 16) + '…', title: g.entry_list_hash }));
    body.push(h('p', { class: 'giveaway-proof small' }, proof));
    this.el.append(title, prize, ...body);
  }

  renderStart() {
    if (!this.formOpen) {
      this.el.append(h('button', { type: 'button', class: 'btn', id: 'giveaway-new', text: '🎁 Start a giveaway', onclick: () => { this.formOpen = true; this.render(); } }));
      return;
    }
    const form = h('form', { class: 'giveaway-form', id: 'giveaway-form' },
      h('h2', { id: 'giveaway-title', class: 'giveaway-title', text: 'Start a giveaway' }),
      h('input', { name: 'title', required: true, maxlength: '200', placeholder: 'Title', 'aria-label': 'Giveaway title' }),
      h('input', { name: 'prize', required: true, maxlength: '200', placeholder: 'Prize', 'aria-label': 'Prize' }),
      h('input', { name: 'winners', type: 'number', min: '1', max: '100', value: '1', 'aria-label': 'Winners' }),
      h('input', { name: 'seconds', type: 'number', min: '10', max: '3600', value: '60', 'aria-label': 'Entry window in seconds' }),
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'giveaway-start', text: 'Start' }));
    form.addEventListener('submit', (e) => { e.preventDefault(); this.start(form); });
    this.el.append(form);
  }

  dispose() {
    clearInterval(this.timer);
  }
}
