// Just enough SDP reading to map the subscriber's media sections to tracks: the server sends
// each track with msid "<participant_id> <track_id>" (docs/protocol.md, Peer connections).

/** Returns Map(mid -> {mid, kind, port, direction, streamId, trackId}). */
export function parseMedia(sdp) {
  const out = new Map();
  const sections = String(sdp).split(/\r?\n(?=m=)/);
  for (const sec of sections) {
    if (!sec.startsWith('m=')) continue;
    const lines = sec.split(/\r?\n/);
    const [kind, port] = lines[0].slice(2).split(' ');
    const m = { mid: null, kind, port: Number(port), direction: 'sendrecv', streamId: null, trackId: null };
    for (const line of lines) {
      if (line.startsWith('a=mid:')) m.mid = line.slice(6).trim();
      else if (/^a=(sendonly|recvonly|sendrecv|inactive)$/.test(line.trim())) m.direction = line.trim().slice(2);
      else if (line.startsWith('a=msid:')) {
        const [s, t] = line.slice(7).trim().split(/\s+/);
        m.streamId = s;
        m.trackId = t || null;
      } else if (!m.trackId && /^a=ssrc:\d+ msid:/.test(line)) {
        const [s, t] = line.replace(/^a=ssrc:\d+ msid:/, '').trim().split(/\s+/);
        m.streamId = s;
        m.trackId = t || null;
      }
    }
    if (m.mid !== null) out.set(m.mid, m);
  }
  return out;
}
