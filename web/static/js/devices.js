// Camera and microphone access: separate requests (a missing camera never costs the
// microphone), device lists, and a small audio level meter for previews.

export function cameraConstraints(deviceId) {
  return {
    deviceId: deviceId ? { exact: deviceId } : undefined,
    width: { ideal: 1280 },
    height: { ideal: 720 },
    frameRate: { ideal: 30, max: 30 },
  };
}

export function micConstraints(deviceId) {
  return {
    deviceId: deviceId ? { exact: deviceId } : undefined,
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
  };
}

function describe(err, what) {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') return `Permission to use the ${what} was denied.`;
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return `No ${what} was found.`;
  if (name === 'NotReadableError') return `The ${what} is in use by another application.`;
  return `The ${what} could not be started.`;
}

async function one(kind, deviceId) {
  const what = kind === 'audio' ? 'microphone' : 'camera';
  const build = (id) => (kind === 'audio' ? { audio: micConstraints(id) } : { video: cameraConstraints(id) });
  try {
    const s = await navigator.mediaDevices.getUserMedia(build(deviceId));
    return { track: s.getTracks()[0], error: null };
  } catch (e) {
    if (deviceId && (e.name === 'OverconstrainedError' || e.name === 'NotFoundError')) {
      // The saved device is gone: fall back to the default one.
      try {
        const s = await navigator.mediaDevices.getUserMedia(build(null));
        return { track: s.getTracks()[0], error: null };
      } catch (e2) {
        return { track: null, error: describe(e2, what) };
      }
    }
    return { track: null, error: describe(e, what) };
  }
}

export function getMicrophone(deviceId) {
  if (!navigator.mediaDevices) return Promise.resolve({ track: null, error: 'This browser cannot use a microphone here (a secure connection is needed).' });
  return one('audio', deviceId);
}

export function getCamera(deviceId) {
  if (!navigator.mediaDevices) return Promise.resolve({ track: null, error: 'This browser cannot use a camera here (a secure connection is needed).' });
  return one('video', deviceId);
}

export async function listDevices() {
  const out = { mics: [], cams: [], speakers: [] };
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return out;
  const list = await navigator.mediaDevices.enumerateDevices();
  let n = { audioinput: 0, videoinput: 0, audiooutput: 0 };
  for (const d of list) {
    if (!d.deviceId) continue;
    n[d.kind] = (n[d.kind] || 0) + 1;
    const item = { id: d.deviceId, label: d.label };
    if (d.kind === 'audioinput') { item.label ||= `Microphone ${n.audioinput}`; out.mics.push(item); }
    if (d.kind === 'videoinput') { item.label ||= `Camera ${n.videoinput}`; out.cams.push(item); }
    if (d.kind === 'audiooutput') { item.label ||= `Speaker ${n.audiooutput}`; out.speakers.push(item); }
  }
  return out;
}

let audioCtx = null;

/** Calls cb(level 0..1) about 10 times a second for a live audio track; returns a stop function. */
export function levelMeter(track, cb) {
  try {
    audioCtx ||= new AudioContext();
    if (audioCtx.state === 'suspended') audioCtx.resume().catch(() => {});
    const src = audioCtx.createMediaStreamSource(new MediaStream([track]));
    const an = audioCtx.createAnalyser();
    an.fftSize = 512;
    src.connect(an);
    const buf = new Float32Array(an.fftSize);
    const timer = setInterval(() => {
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      cb(Math.min(1, Math.sqrt(sum / buf.length) * 4));
    }, 100);
    return () => { clearInterval(timer); try { src.disconnect(); } catch { /* ignore */ } };
  } catch {
    return () => {};
  }
}

export function stopTrack(t) {
  if (t) try { t.stop(); } catch { /* ignore */ }
}
