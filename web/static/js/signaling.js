// WebSocket signaling client for protocol v1 (docs/protocol.md).
//
// Every incoming message is handled one at a time, in the order received: handlers may be
// async (setting a remote description, answering an offer) and the next message waits for the
// previous handler to finish. Requests carry an id and resolve with the ack's data or reject
// with a SignalError carrying the error code.

export class SignalError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

const REQUEST_TIMEOUT_MS = 15000;
const SILENCE_LIMIT_MS = 45000;

export class Signaling {
  /**
   * @param {object} o
   * @param {(msg: object) => Promise<void>|void} o.onMessage  handler for non-reply messages
   * @param {(ev: CloseEvent) => void} o.onClose  called once when an open socket closes
   */
  constructor({ onMessage, onClose }) {
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.ws = null;
    this.pending = new Map();
    this.seq = 0;
    this.chain = Promise.resolve();
    this.lastHeard = 0;
    this.watchdog = null;
    this.closedByUs = false;
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Opens the socket; resolves when open, rejects if it fails before opening. */
  connect(token) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${proto}//${location.host}/ws?token=${encodeURIComponent(token)}`;
    this.closedByUs = false;
    return new Promise((resolve, reject) => {
      let opened = false;
      const ws = new WebSocket(url);
      this.ws = ws;
      ws.onopen = () => {
        opened = true;
        this.lastHeard = Date.now();
        this.startWatchdog();
        resolve();
      };
      ws.onmessage = (ev) => {
        if (ws !== this.ws) return;
        this.lastHeard = Date.now();
        this.receive(ev.data);
      };
      ws.onerror = () => { /* followed by close */ };
      ws.onclose = (ev) => {
        if (ws !== this.ws) return;
        this.stopWatchdog();
        this.failPending('disconnected', 'connection closed');
        this.ws = null;
        if (!opened) {
          reject(new SignalError('connect_failed', `socket closed (${ev.code})`));
          return;
        }
        if (!this.closedByUs && this.onClose) this.onClose(ev);
      };
    });
  }

  startWatchdog() {
    this.stopWatchdog();
    this.watchdog = setInterval(() => {
      if (this.ws && Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
        // The server pings every 15 s; this long a silence means the path is dead.
        const ws = this.ws;
        this.ws = null;
        this.stopWatchdog();
        this.failPending('disconnected', 'connection timed out');
        try { ws.close(4000, 'silent'); } catch { /* ignore */ }
        if (!this.closedByUs && this.onClose) this.onClose({ code: 4000, reason: 'silent' });
      }
    }, 5000);
  }

  stopWatchdog() {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  failPending(code, message) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new SignalError(code, message));
    }
    this.pending.clear();
  }

  receive(raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    if (msg.type === 'ping') {
      // Answered at once, outside the queue, so a slow handler cannot make us look dead.
      this.send({ type: 'pong' });
      return;
    }
    this.chain = this.chain.then(() => this.dispatch(msg)).catch((e) => {
      console.error('onstage: handling', msg.type, 'failed:', e);
    });
  }

  async dispatch(msg) {
    if ((msg.type === 'ack' || msg.type === 'error') && msg.id && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === 'ack') {
        const data = msg.data || {};
        // inQueue runs before any later message is handled (e.g. joined state before chat replay).
        if (p.inQueue) {
          try {
            await p.inQueue(data);
          } catch (e) {
            p.reject(e);
            return;
          }
        }
        p.resolve(data);
      } else {
        const d = msg.data || {};
        p.reject(new SignalError(d.code || 'internal', d.message));
      }
      return;
    }
    if (this.onMessage) await this.onMessage(msg);
  }

  send(obj) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  /** Sends a message without an id (no reply expected unless it fails). */
  notify(type, data) {
    return this.send(data === undefined ? { type } : { type, data });
  }

  /**
   * Sends a message with an id and waits for its ack. opts.inQueue(data) is awaited inside
   * the message queue when the ack arrives, before any later message is handled.
   */
  request(type, data, opts = {}) {
    if (!this.open) return Promise.reject(new SignalError('disconnected', 'not connected'));
    this.seq += 1;
    const id = `${type.slice(0, 8)}-${this.seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) reject(new SignalError('timeout', `${type} timed out`));
      }, opts.timeout || REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, inQueue: opts.inQueue });
      this.send(data === undefined ? { type, id } : { type, id, data });
    });
  }

  close(code = 1000, reason = 'bye') {
    this.closedByUs = true;
    this.stopWatchdog();
    const ws = this.ws;
    this.ws = null;
    this.failPending('disconnected', 'closed');
    if (ws) {
      try { ws.close(code, reason); } catch { /* ignore */ }
    }
  }
}
