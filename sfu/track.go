package sfu

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"
)

// pliInterval is the minimum time between two keyframe requests sent to a
// publisher for one track, whatever the number of subscribers asking.
const pliInterval = 500 * time.Millisecond

// layerIdleAfter marks a simulcast layer inactive when no packet arrived for
// this long (the publisher dropped it, typically for lack of bandwidth).
const layerIdleAfter = time.Second

// layer is one incoming RTP stream of a track: the only one without
// simulcast, or one rid.
type layer struct {
	rid        string
	started    atomic.Bool
	ssrc       atomic.Uint32
	bytes      atomic.Uint64
	packets    atomic.Uint64
	lastPacket atomic.Int64  // unix ns of the last packet
	rate       atomic.Uint64 // bits per second, updated by sampleRate

	// Owned by the Router's housekeeping goroutine.
	sampledBytes uint64
	sampledAt    time.Time
}

func (l *layer) active(now int64) bool {
	return l.started.Load() && now-l.lastPacket.Load() < int64(layerIdleAfter)
}

// publishedTrack is one track a participant publishes: its layers' reader
// goroutines, their fan-out and keyframe request throttling.
type publishedTrack struct {
	info      TrackInfo // immutable
	owner     *Participant
	kind      webrtc.RTPCodecType
	codec     webrtc.RTPCodecParameters
	keyframe  keyframeFunc
	simulcast bool
	mid       string
	receiver  *webrtc.RTPReceiver
	levelExt  uint8 // negotiated audio-level extension id, 0 if none
	startedAt int64 // unix ns of publication

	layers [maxLayers]layer
	// caches keep each video layer's latest packets for answering NACKs;
	// nil for audio (NACK is not negotiated for it) and unused layers.
	caches [maxLayers]*packetCache
	fan    *fanout
	level  audioLevel

	readers atomic.Int32 // running layer readers
	muted   atomic.Bool  // held back: packets are dropped (mute.go)

	// writeRTCP replaces the write to the owner's publisher connection in
	// tests; nil in production.
	writeRTCP func([]rtcp.Packet) error

	pliMu      sync.Mutex // guards the fields below; never held while writing
	lastPLI    time.Time
	pliPending uint8 // bitmask of layers waiting for a PLI
	pliTimer   *time.Timer
	ended      bool

	endOnce sync.Once
	done    chan struct{}

	cbMu      sync.Mutex // orders OnTrackPublished/OnTrackUnpublished
	announced bool
	retracted bool
}

func newPublishedTrack(owner *Participant, id TrackID, src Source, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver, mid string) *publishedTrack {
	codec := remote.Codec()
	t := &publishedTrack{
		owner:     owner,
		kind:      remote.Kind(),
		codec:     codec,
		keyframe:  keyframeDetector(codec.MimeType),
		mid:       mid,
		receiver:  recv,
		fan:       newFanout(owner.router.engine.sockets),
		done:      make(chan struct{}),
		startedAt: time.Now().UnixNano(),
	}
	var rids []string
	for _, rt := range recv.Tracks() {
		if rt.RID() != "" {
			rids = append(rids, rt.RID())
		}
	}
	t.simulcast = len(rids) > 0 && t.kind == webrtc.RTPCodecTypeVideo
	if t.simulcast {
		for i, rid := range rids {
			if i < maxLayers {
				t.layers[t.layerFor(rid, rids)].rid = rid
			}
		}
	}
	t.initCaches()
	for _, ext := range recv.GetParameters().HeaderExtensions {
		if ext.URI == audioLevelURI {
			t.levelExt = uint8(ext.ID)
		}
	}
	t.info = TrackInfo{
		TrackID:       id,
		ParticipantID: owner.id,
		Kind:          t.kind.String(),
		Source:        src,
		StreamID:      string(owner.id),
		Layers:        rids,
	}
	return t
}

// initCaches gives every video layer the track may carry a packet cache.
func (t *publishedTrack) initCaches() {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	n := 1
	if t.simulcast {
		n = maxLayers
	}
	for i := 0; i < n; i++ {
		t.caches[i] = &packetCache{}
	}
}

// layerFor maps a rid onto a layer index: q, h and f by name, anything else
// by its position among the offered rids.
func (t *publishedTrack) layerFor(rid string, rids []string) int {
	for i, r := range simulcastRIDs {
		if r == rid {
			return i
		}
	}
	for i, r := range rids {
		if r == rid {
			return min(i, maxLayers-1)
		}
	}
	return 0
}

func (t *publishedTrack) layerIndex(rid string) int {
	if !t.simulcast {
		return 0
	}
	for i := range t.layers {
		if t.layers[i].rid == rid {
			return i
		}
	}
	return t.layerFor(rid, t.info.Layers)
}

// start runs the RTP reader of one incoming stream (its RTCP is read by the
// connection's rtcpDrain). The goroutine belongs to the owning Participant:
// it ends when its publisher peer connection closes or the stream stops.
func (t *publishedTrack) start(remote *webrtc.TrackRemote, wg *sync.WaitGroup) {
	idx := t.layerIndex(remote.RID())
	l := &t.layers[idx]
	l.ssrc.Store(uint32(remote.SSRC()))
	l.lastPacket.Store(time.Now().UnixNano())
	l.started.Store(true)
	t.readers.Add(1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t.readRTP(remote, idx)
	}()
}

// readRTP is the per-layer reader: one pooled packet per read, parsed once
// and handed to the fan-out. It ends the track when its last layer ends.
func (t *publishedTrack) readRTP(remote *webrtc.TrackRemote, idx int) {
	defer func() {
		if t.readers.Add(-1) == 0 {
			t.end()
		}
	}()
	l := &t.layers[idx]
	for {
		select {
		case <-t.done:
			return
		default:
		}
		p := getPacket()
		n, _, err := remote.Read(p.buf[:])
		if err != nil {
			p.release()
			return
		}
		if err := p.parse(n); err != nil || t.muted.Load() {
			p.release()
			continue
		}
		p.layer = int8(idx)
		p.arrival = time.Now().UnixNano()
		p.keyframe = t.keyframe != nil && t.keyframe(p.payload)
		p.hasLevel = false
		if t.levelExt != 0 {
			if e := p.hdr.GetExtension(t.levelExt); len(e) > 0 {
				p.audioLevel, p.hasLevel = e[0], true
				t.level.observe(e[0])
			}
		}
		l.bytes.Add(uint64(n))
		l.packets.Add(1)
		l.lastPacket.Store(p.arrival)
		if c := t.caches[idx]; c != nil {
			c.put(p)
		}
		// The one place every packet of the track passes before fan-out.
		t.fan.forward(p)
	}
}

// end unpublishes the track once: readers stop forwarding, subscribers'
// down-tracks are removed and the owner's OnTrackUnpublished runs.
func (t *publishedTrack) end() {
	t.endOnce.Do(func() {
		close(t.done)
		t.pliMu.Lock()
		t.ended = true
		if t.pliTimer != nil {
			t.pliTimer.Stop()
		}
		t.pliMu.Unlock()
		t.fan.close()
		for _, c := range t.caches {
			if c != nil {
				c.clear()
			}
		}
		t.owner.trackEnded(t)
	})
}

// requestKeyframe asks the publisher for a keyframe on a layer, at most once
// per pliInterval for the whole track; a request inside the interval is
// deferred to its end rather than lost, so a new subscriber is never left
// waiting for the publisher's next periodic keyframe. The PLI is built under
// pliMu and written after it: a network write never happens under a lock of
// the forwarding path.
func (t *publishedTrack) requestKeyframe(idx int) {
	if t.kind != webrtc.RTPCodecTypeVideo || idx < 0 || idx >= maxLayers {
		return
	}
	t.pliMu.Lock()
	if t.ended {
		t.pliMu.Unlock()
		return
	}
	t.pliPending |= 1 << idx
	var pkts []rtcp.Packet
	if wait := time.Until(t.lastPLI.Add(pliInterval)); wait > 0 {
		if t.pliTimer == nil {
			t.pliTimer = time.AfterFunc(wait, t.flushPLI)
		}
	} else {
		pkts = t.takePLILocked()
	}
	t.pliMu.Unlock()
	t.writePLI(pkts)
}

func (t *publishedTrack) flushPLI() {
	t.pliMu.Lock()
	t.pliTimer = nil
	var pkts []rtcp.Packet
	if !t.ended && t.pliPending != 0 {
		pkts = t.takePLILocked()
	}
	t.pliMu.Unlock()
	t.writePLI(pkts)
}

// takePLILocked builds the PLIs for the pending layers and clears them.
func (t *publishedTrack) takePLILocked() []rtcp.Packet {
	var pkts []rtcp.Packet
	for i := range t.layers {
		if t.pliPending&(1<<i) == 0 {
			continue
		}
		if ssrc := t.layers[i].ssrc.Load(); ssrc != 0 {
			pkts = append(pkts, &rtcp.PictureLossIndication{MediaSSRC: ssrc})
		}
	}
	t.pliPending = 0
	t.lastPLI = time.Now()
	return pkts
}

func (t *publishedTrack) writePLI(pkts []rtcp.Packet) {
	if len(pkts) == 0 {
		return
	}
	if t.writeRTCP != nil {
		_ = t.writeRTCP(pkts)
		return
	}
	if pub := t.owner.pub.Load(); pub != nil {
		_ = pub.WriteRTCP(pkts)
	}
}

// sampleRates updates each layer's bitrate; called by the Router's
// housekeeping goroutine only.
func (t *publishedTrack) sampleRates(now time.Time) {
	for i := range t.layers {
		l := &t.layers[i]
		b := l.bytes.Load()
		if !l.sampledAt.IsZero() {
			if d := now.Sub(l.sampledAt); d > 0 {
				l.rate.Store(uint64(float64(b-l.sampledBytes) * 8 / d.Seconds()))
			}
		}
		l.sampledBytes, l.sampledAt = b, now
	}
}

// sameMime compares mime types the way SDP does, case-insensitively.
func sameMime(a, b string) bool { return strings.EqualFold(a, b) }

func (t *publishedTrack) isEnded() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// notify runs the owner's published/unpublished callback. cbMu keeps the two
// in order for one track (it is held during the callback, which is the only
// lock held there); unpublished is only reported for a published track.
func (t *publishedTrack) notify(published bool) {
	t.cbMu.Lock()
	defer t.cbMu.Unlock()
	p := t.owner.params
	info := t.info
	info.Layers = append([]string(nil), t.info.Layers...)
	switch {
	case published && !t.announced && !t.isEnded():
		t.announced = true
		if p.OnTrackPublished != nil {
			p.OnTrackPublished(info)
		}
	case !published && t.announced && !t.retracted:
		t.retracted = true
		if p.OnTrackUnpublished != nil {
			p.OnTrackUnpublished(info)
		}
	}
}
