// The two peer connections of protocol v1: "publisher" (this client offers its microphone,
// camera and screen) and "subscriber" (the server offers every track of the room).
//
// Rules kept here:
//   - remote ICE candidates wait until the remote description is set;
//   - local candidates are sent only after the SDP they belong to;
//   - publisher renegotiations never overlap: changes made while an offer is out are folded
//     into one more offer after the answer;
//   - the server's offers are answered in the order they arrive (the caller serializes).

import { parseMedia } from './sdp.js';

const ANSWER_TIMEOUT_MS = 15000;

/** Simulcast layers: rid q/h/f at quarter, half and full resolution. */
export const SIMULCAST_ENCODINGS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

export class Rtc {
  /**
   * @param {object} o
   * @param {RTCIceServer[]} o.iceServers
   * @param {(data: object) => void} o.signal  sends a webrtc_signal's data to the server
   * @param {(t: object) => void} o.onTrack  a remote track appeared or moved: {trackId, participantId, kind, track, mid}
   * @param {(trackId: string) => void} o.onTrackGone
   * @param {(pc: string, state: string) => void} o.onState
   * @param {boolean} o.simulcast
   */
  constructor({ iceServers, signal, onTrack, onTrackGone, onState, simulcast = true }) {
    this.signal = signal;
    this.onTrack = onTrack;
    this.onTrackGone = onTrackGone;
    this.onState = onState;
    this.simulcast = simulcast;
    this.closed = false;

    const config = { iceServers: iceServers || [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' };
    this.publisher = new RTCPeerConnection(config);
    this.subscriber = new RTCPeerConnection(config);

    this.sources = new Map(); // source -> RTCRtpTransceiver (publisher)
    this.negotiating = false;
    this.again = false;
    this.againRestart = false;
    this.answerWaiter = null;

    this.remoteMids = new Map(); // mid -> {trackId, participantId, kind}
    this.pendingRemote = { publisher: [], subscriber: [] };
    this.localReady = { publisher: false, subscriber: false };
    this.pendingLocal = { publisher: [], subscriber: [] };

    for (const [name, pc] of [['publisher', this.publisher], ['subscriber', this.subscriber]]) {
      pc.onicecandidate = (ev) => {
        if (!ev.candidate || !ev.candidate.candidate) return;
        const c = ev.candidate.toJSON();
        if (this.localReady[name]) this.signal({ pc: name, candidate: c });
        else this.pendingLocal[name].push(c);
      };
      pc.onconnectionstatechange = () => this.onState && this.onState(name, pc.connectionState);
    }
  }

  flushLocal(name) {
    this.localReady[name] = true;
    const list = this.pendingLocal[name];
    this.pendingLocal[name] = [];
    for (const c of list) this.signal({ pc: name, candidate: c });
  }

  async flushRemote(name) {
    const pc = this[name];
    const list = this.pendingRemote[name];
    this.pendingRemote[name] = [];
    for (const c of list) {
      try { await pc.addIceCandidate(c); } catch (e) { console.warn('onstage: candidate', e); }
    }
  }

  // ---- publishing -------------------------------------------------------------------------

  /**
   * Publishes (or re-publishes) a local source. The first time a source is sent a transceiver
   * is added and the connection renegotiated; afterwards the track is swapped in place.
   */
  async publish(source, track, stream) {
    let tr = this.sources.get(source);
    if (tr && tr.direction === 'sendonly' && tr.sender.track && tr.sender.track.readyState === 'live') {
      await tr.sender.replaceTrack(track);
      return;
    }
    if (tr) {
      await tr.sender.replaceTrack(track);
      if (tr.sender.setStreams) tr.sender.setStreams(stream);
      if (tr.direction !== 'sendonly') {
        tr.direction = 'sendonly';
        this.scheduleNegotiate();
      }
      return;
    }
    const init = { direction: 'sendonly', streams: [stream] };
    if (source === 'camera' && this.simulcast) {
      try {
        tr = this.publisher.addTransceiver(track, { ...init, sendEncodings: SIMULCAST_ENCODINGS.map((e) => ({ ...e })) });
      } catch (e) {
        console.warn('onstage: simulcast unsupported, sending one layer', e);
        tr = null;
      }
    }
    if (!tr) tr = this.publisher.addTransceiver(track, init);
    if (source === 'screen' && track.contentHint !== undefined) track.contentHint = 'detail';
    this.sources.set(source, tr);
    this.scheduleNegotiate();
  }

  /** Swaps the sent track of a published source without renegotiating (null sends nothing). */
  async replace(source, track) {
    const tr = this.sources.get(source);
    if (tr) await tr.sender.replaceTrack(track);
  }

  /** Stops sending a source and renegotiates so the server unpublishes its track. */
  async unpublish(source) {
    const tr = this.sources.get(source);
    if (!tr || tr.direction === 'inactive') return;
    await tr.sender.replaceTrack(null);
    tr.direction = 'inactive';
    this.scheduleNegotiate();
  }

  /** Folds changes made in the same task (microphone and camera at join) into one offer. */
  scheduleNegotiate() {
    if (this.negScheduled) return;
    this.negScheduled = true;
    setTimeout(() => {
      this.negScheduled = false;
      this.negotiate();
    }, 0);
  }

  isPublished(source) {
    const tr = this.sources.get(source);
    return !!tr && tr.direction === 'sendonly';
  }

  /** [{mid, source}] of every source currently sent, for the publisher offer. */
  trackList() {
    const out = [];
    for (const [source, tr] of this.sources) {
      if (tr.mid !== null && tr.direction === 'sendonly') out.push({ mid: tr.mid, source });
    }
    return out;
  }

  /** Sends a publisher offer; overlapping calls fold into one more offer after the answer. */
  async negotiate(iceRestart = false) {
    if (this.closed) return;
    if (this.negotiating) {
      this.again = true;
      this.againRestart = this.againRestart || iceRestart;
      return;
    }
    this.negotiating = true;
    try {
      let restart = iceRestart;
      do {
        this.again = false;
        this.againRestart = false;
        const pc = this.publisher;
        if (pc.getTransceivers().length === 0) break;
        const offer = await pc.createOffer(restart ? { iceRestart: true } : undefined);
        this.localReady.publisher = false;
        await pc.setLocalDescription(offer);
        const answered = new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('publisher answer timed out')), ANSWER_TIMEOUT_MS);
          this.answerWaiter = { resolve: () => { clearTimeout(timer); resolve(); }, reject: (e) => { clearTimeout(timer); reject(e); } };
        });
        this.signal({ pc: 'publisher', sdp: { type: 'offer', sdp: pc.localDescription.sdp }, tracks: this.trackList() });
        this.flushLocal('publisher');
        await answered;
        restart = this.againRestart;
      } while (this.again && !this.closed);
    } catch (e) {
      if (!this.closed) console.warn('onstage: publisher negotiation', e);
    } finally {
      this.answerWaiter = null;
      this.negotiating = false;
    }
  }

  /** Sends the outstanding publisher offer again (its answer may have been lost with a socket). */
  resendPendingOffer() {
    const pc = this.publisher;
    if (pc.signalingState !== 'have-local-offer' || !pc.localDescription) return false;
    this.signal({ pc: 'publisher', sdp: { type: 'offer', sdp: pc.localDescription.sdp }, tracks: this.trackList() });
    return true;
  }

  /** ICE restart on both connections (the subscriber one is restarted by the server). */
  restartIce() {
    if (this.closed) return;
    if (this.publisher.getTransceivers().length > 0) this.negotiate(true);
    this.signal({ pc: 'subscriber', restart: true });
  }

  // ---- signals from the server -------------------------------------------------------------

  /** Handles one webrtc_signal from the server. Awaited by the in-order message queue. */
  async handleSignal(d) {
    if (this.closed || !d) return;
    const name = d.pc === 'publisher' ? 'publisher' : 'subscriber';
    const pc = this[name];
    if (d.sdp) {
      if (name === 'publisher') {
        if (d.sdp.type !== 'answer') return;
        if (pc.signalingState !== 'have-local-offer') return; // a stale answer
        try {
          await pc.setRemoteDescription(d.sdp);
          await this.flushRemote(name);
          if (this.answerWaiter) this.answerWaiter.resolve();
        } catch (e) {
          if (this.answerWaiter) this.answerWaiter.reject(e);
          throw e;
        }
        return;
      }
      if (d.sdp.type !== 'offer') return;
      const media = parseMedia(d.sdp.sdp);
      await pc.setRemoteDescription(d.sdp);
      await this.flushRemote(name);
      const answer = await pc.createAnswer();
      this.localReady.subscriber = false;
      await pc.setLocalDescription(answer);
      this.signal({ pc: 'subscriber', sdp: { type: 'answer', sdp: pc.localDescription.sdp } });
      this.flushLocal('subscriber');
      this.applyRemoteMedia(media);
      return;
    }
    if (d.candidate) {
      if (!pc.remoteDescription) {
        this.pendingRemote[name].push(d.candidate);
        return;
      }
      try { await pc.addIceCandidate(d.candidate); } catch (e) { console.warn('onstage: candidate', e); }
    }
  }

  /** Maps the subscriber's receiving transceivers to track ids from the offer's msid lines. */
  applyRemoteMedia(media) {
    const seen = new Map();
    for (const tr of this.subscriber.getTransceivers()) {
      const m = tr.mid !== null ? media.get(tr.mid) : null;
      if (!m || m.port === 0 || !m.trackId || (m.direction !== 'sendonly' && m.direction !== 'sendrecv')) continue;
      seen.set(tr.mid, m);
      const prev = this.remoteMids.get(tr.mid);
      if (prev && prev.trackId === m.trackId) continue;
      if (prev) this.onTrackGone && this.onTrackGone(prev.trackId);
      this.onTrack && this.onTrack({
        trackId: m.trackId,
        participantId: m.streamId,
        kind: tr.receiver.track.kind,
        track: tr.receiver.track,
        mid: tr.mid,
      });
    }
    for (const [mid, prev] of this.remoteMids) {
      if (!seen.has(mid)) this.onTrackGone && this.onTrackGone(prev.trackId);
    }
    this.remoteMids = seen;
  }

  close() {
    this.closed = true;
    if (this.answerWaiter) this.answerWaiter.reject(new Error('closed'));
    for (const pc of [this.publisher, this.subscriber]) {
      pc.onicecandidate = null;
      pc.onconnectionstatechange = null;
      try { pc.close(); } catch { /* ignore */ }
    }
  }

  // ---- stats -------------------------------------------------------------------------------

  /**
   * A summary of both connections: round-trip time, receive loss, frames and outgoing
   * bitrate estimate, and a quality grade: good | fair | poor | lost.
   */
  async summary(prev) {
    const out = { at: Date.now(), rtt: null, lost: 0, received: 0, framesDecoded: 0, bytesSent: 0, availableOut: null };
    const states = [];
    for (const pc of [this.publisher, this.subscriber]) {
      if (pc.getTransceivers().length === 0) continue;
      states.push(pc.connectionState);
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
          if (typeof s.currentRoundTripTime === 'number') out.rtt = Math.max(out.rtt || 0, s.currentRoundTripTime * 1000);
          if (pc === this.publisher && typeof s.availableOutgoingBitrate === 'number') out.availableOut = s.availableOutgoingBitrate;
        } else if (s.type === 'inbound-rtp') {
          out.lost += s.packetsLost || 0;
          out.received += s.packetsReceived || 0;
          out.framesDecoded += s.framesDecoded || 0;
        } else if (s.type === 'outbound-rtp') {
          out.bytesSent += s.bytesSent || 0;
        }
      });
    }
    let lossPct = 0;
    if (prev) {
      const dl = out.lost - prev.lost;
      const dr = out.received - prev.received;
      if (dl + dr > 0) lossPct = (100 * Math.max(0, dl)) / (dl + dr);
    }
    out.lossPct = lossPct;
    if (states.some((s) => s === 'failed' || s === 'disconnected')) out.quality = 'lost';
    else if (states.length && states.some((s) => s !== 'connected')) out.quality = 'connecting';
    else if ((out.rtt !== null && out.rtt > 400) || lossPct > 8) out.quality = 'poor';
    else if ((out.rtt !== null && out.rtt > 150) || lossPct > 2) out.quality = 'fair';
    else out.quality = 'good';
    return out;
  }
}
