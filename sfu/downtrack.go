package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// keyframeRetry is how long a down-track waiting for a keyframe waits before
// asking again (the first request or the keyframe itself may be lost).
const keyframeRetry = time.Second

// layerStartGrace is how long after publishing a declared simulcast layer
// that has not sent anything yet is still expected to start.
const layerStartGrace = 2 * time.Second

// downBinding is what a subscriber peer connection negotiated for a
// DownTrack: replaced whole on Bind and cleared on Unbind.
type downBinding struct {
	ssrc     uint32
	pt       uint8
	levelExt uint8
	writer   webrtc.TrackLocalWriter
}

// DownTrack is one published track as sent to one subscriber. It implements
// webrtc.TrackLocal: Pion binds it to the subscriber's peer connection and it
// rewrites SSRC, payload type, sequence numbers and timestamps so that layer
// switches and pauses look like one continuous stream to the subscriber.
type DownTrack struct {
	track     *publishedTrack
	connected *atomic.Bool  // the subscriber's transport is up; shared per participant
	gate      *estimateGate // the subscriber connection's estimator gate, may be nil
	id        TrackID
	streamID  string
	kind      webrtc.RTPCodecType

	binding atomic.Pointer[downBinding]

	maxLayer atomic.Int32 // highest layer allowed by Subscribe
	target   atomic.Int32 // layer to switch to at its next keyframe
	paused   atomic.Bool

	// mu guards the forwarding state below. Writers are the track's reader
	// and shard goroutines; two layers' readers can race here during a
	// switch, otherwise it is uncontended. It is held while writing to Pion
	// so that packets leave in the order they were rewritten.
	mu         sync.Mutex
	current    int8 // layer being forwarded, -1 before the first keyframe
	needKey    bool
	rw         rewriter
	hdr        rtp.Header
	extBuf     [4]rtp.Extension // backing array for hdr.Extensions
	levelByte  [1]byte
	lastKeyReq int64
	// resendTokens and resendAt are the NACK budget (see takeResend).
	resendTokens float64
	resendAt     int64
	// lastTS is the subscriber-side timestamp of the last packet sent and
	// lastAt the arrival (unix ns) of its source packet: the anchor of the
	// down-track's sender reports. lastAt is 0 before the first packet.
	lastTS uint32
	lastAt int64
	// out is the connection's interceptor chain for this down-track's
	// stream, written without Pion's per-packet Attributes map; nil until
	// the first packet after Pion bound the stream (see writeRTP).
	out *gatedStream

	packets     atomic.Uint64
	bytes       atomic.Uint64
	retransmits atomic.Uint64
}

func newDownTrack(t *publishedTrack, connected *atomic.Bool, gate *estimateGate) *DownTrack {
	d := &DownTrack{
		track:     t,
		connected: connected,
		gate:      gate,
		id:        t.info.TrackID,
		streamID:  t.info.StreamID,
		kind:      t.kind,
		current:   -1,
		needKey:   t.kind == webrtc.RTPCodecTypeVideo,
		rw:        newRewriter(t.codec.ClockRate),
	}
	if !t.simulcast {
		d.current = 0
	}
	d.maxLayer.Store(int32(maxLayers - 1))
	d.target.Store(0)
	return d
}

// ID is the track id of the msid: the published TrackID.
func (d *DownTrack) ID() string { return string(d.id) }

// RID is empty: a subscriber always receives a single stream.
func (d *DownTrack) RID() string { return "" }

// StreamID is the msid stream id: the publisher's ParticipantID.
func (d *DownTrack) StreamID() string { return d.streamID }

// Kind is the published track's kind.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.kind }

// Bind is called by Pion once the subscriber accepted the track. It records
// the negotiated SSRC, payload type and extension ids, joins the track's
// fan-out and asks the publisher for a keyframe so video starts promptly.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var codec webrtc.RTPCodecParameters
	found := false
	for _, c := range ctx.CodecParameters() {
		if sameMime(c.MimeType, d.track.codec.MimeType) {
			codec, found = c, true
			break
		}
	}
	if !found {
		return webrtc.RTPCodecParameters{}, ErrCodecNotNegotiated
	}
	b := &downBinding{ssrc: uint32(ctx.SSRC()), pt: uint8(codec.PayloadType), writer: ctx.WriteStream()}
	for _, ext := range ctx.HeaderExtensions() {
		if ext.URI == audioLevelURI {
			b.levelExt = uint8(ext.ID)
		}
	}
	d.bind(b, ctx.ID())
	return codec, nil
}

// bind starts forwarding on a negotiated binding; senderID names the
// binding's stream to the estimator gate (the interceptor StreamInfo's ID).
func (d *DownTrack) bind(b *downBinding, senderID string) {
	d.mu.Lock()
	// A re-bind (renegotiation) continues the same outgoing numbering.
	d.rw.startSegment()
	d.needKey = d.kind == webrtc.RTPCodecTypeVideo
	d.mu.Unlock()
	if d.track.simulcast && d.gate != nil {
		// Layer choice needs this connection's bandwidth estimate.
		d.gate.want(senderID)
	}
	d.binding.Store(b)
	d.track.fan.add(d)
	if d.connected.Load() {
		d.track.requestKeyframe(int(d.target.Load()))
	}
}

// Unbind stops forwarding to the subscriber.
func (d *DownTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	d.unbind(ctx.ID())
	return nil
}

func (d *DownTrack) unbind(senderID string) {
	if d.gate != nil {
		d.gate.forget(senderID)
	}
	d.detach()
}

func (d *DownTrack) detach() {
	d.binding.Store(nil)
	d.track.fan.remove(d)
}

// resync is called when the subscriber's transport (re)connects: packets
// written before were dropped by Pion, so video restarts at a keyframe.
func (d *DownTrack) resync() {
	if d.binding.Load() == nil {
		return
	}
	d.mu.Lock()
	d.rw.startSegment()
	d.needKey = d.kind == webrtc.RTPCodecTypeVideo
	d.mu.Unlock()
	d.track.requestKeyframe(int(d.target.Load()))
}

// setQuality sets the highest layer the subscriber wants.
func (d *DownTrack) setQuality(maxLayer int) { d.maxLayer.Store(int32(maxLayer)) }

// setPaused stops or resumes forwarding. Resuming starts a new rewriter
// segment and, for video, waits for (and asks for) a keyframe.
func (d *DownTrack) setPaused(paused bool) {
	if d.paused.Swap(paused) == paused || paused {
		return
	}
	d.mu.Lock()
	d.rw.startSegment()
	d.needKey = d.kind == webrtc.RTPCodecTypeVideo
	d.mu.Unlock()
	d.track.requestKeyframe(int(d.target.Load()))
}

// allocate picks the target simulcast layer: the highest active layer not
// above the subscriber's quality whose measured bitrate fits budget (bits
// per second, <= 0 for unlimited), else the lowest active layer. The switch
// itself happens at the target's next keyframe, which is requested here.
func (d *DownTrack) allocate(budget int64, now int64) {
	if !d.track.simulcast {
		return
	}
	best, lowest := -1, -1
	for i := 0; i < maxLayers; i++ {
		if d.track.layers[i].active(now) {
			lowest = i
			break
		}
	}
	for i := int(d.maxLayer.Load()); i >= 0; i-- {
		l := &d.track.layers[i]
		if !l.active(now) {
			continue
		}
		if budget <= 0 || int64(l.rate.Load()) <= budget {
			best = i
			break
		}
	}
	if best < 0 {
		// Nothing usable up to the subscriber's quality. While a wanted layer
		// may still start (layers arrive one by one after publishing), wait
		// for it rather than send a layer above the preference.
		best = lowest
		if now-d.track.startedAt < int64(layerStartGrace) {
			for i := 0; i <= int(d.maxLayer.Load()); i++ {
				if l := &d.track.layers[i]; l.rid != "" && !l.started.Load() {
					best = i
					break
				}
			}
		}
	}
	if best < 0 || int32(best) == d.target.Load() {
		return
	}
	d.target.Store(int32(best))
	if !d.paused.Load() {
		d.track.requestKeyframe(best)
	}
}

// writePacket forwards one packet if it belongs to the stream the
// subscriber should get. It runs on reader or shard goroutines and must not
// allocate.
func (d *DownTrack) writePacket(p *packet) {
	b := d.binding.Load()
	if b == nil || d.paused.Load() || !d.connected.Load() {
		return
	}
	d.mu.Lock()
	askKey := d.writeLocked(b, p)
	d.mu.Unlock()
	if askKey {
		// Outside d.mu: the request may write a PLI to the publisher.
		d.track.requestKeyframe(int(d.target.Load()))
	}
}

// writeLocked rewrites and sends p; it reports whether the down-track waits
// for a keyframe and should ask for one now. Called with mu held.
func (d *DownTrack) writeLocked(b *downBinding, p *packet) (askKey bool) {
	if d.track.simulcast && p.layer != d.current {
		if p.layer != int8(d.target.Load()) || !p.keyframe {
			return d.wantKeyframe(p.arrival)
		}
		// Switch at the target's keyframe: a new rewriter segment keeps the
		// subscriber's numbering continuous across SSRCs.
		d.current = p.layer
		d.needKey = false
		d.rw.startSegment()
	} else if d.needKey {
		if !p.keyframe {
			return d.wantKeyframe(p.arrival)
		}
		d.needKey = false
	}

	seq, ts, ok := d.rw.rewrite(p.hdr.SequenceNumber, p.hdr.Timestamp, p.arrival, p.layer)
	if !ok {
		return false
	}
	if d.sendLocked(b, p, seq, ts) {
		d.packets.Add(1)
		d.bytes.Add(uint64(len(p.payload)))
		d.lastTS, d.lastAt = ts, p.arrival
	}
	return false
}

// senderReport is the RTCP sender report of the down-track at now (unix
// ns): the RTP time of now, extrapolated from the last packet sent at the
// codec's clock rate, and the packets and payload octets sent. It is false
// before the first packet or while the down-track is not bound. The
// participant sends these (Participant.sendSenderReports) instead of Pion's
// sender-report interceptor, which took a lock and read the clock for every
// packet written.
func (d *DownTrack) senderReport(now int64) (rtcp.SenderReport, bool) {
	b := d.binding.Load()
	if b == nil {
		return rtcp.SenderReport{}, false
	}
	d.mu.Lock()
	ts, at := d.lastTS, d.lastAt
	d.mu.Unlock()
	if at == 0 {
		return rtcp.SenderReport{}, false
	}
	elapsed := max(now-at, 0) / int64(time.Microsecond)
	return rtcp.SenderReport{
		SSRC:        b.ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     ts + uint32(elapsed*int64(d.track.codec.ClockRate)/1e6),
		PacketCount: uint32(d.packets.Load()),
		OctetCount:  uint32(d.bytes.Load()),
	}, true
}

// ntpTime converts unix nanoseconds to the 64-bit NTP format of RFC 3550.
func ntpTime(unixNano int64) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	sec := uint64(unixNano/1e9) + ntpEpochOffset
	frac := (uint64(unixNano%1e9) << 32) / 1e9
	return sec<<32 | frac
}

// sendLocked writes p with the subscriber's SSRC, payload type, extension
// ids and the given numbering. Called with mu held, which keeps writes in the
// order they were numbered and makes hdr safe to reuse.
func (d *DownTrack) sendLocked(b *downBinding, p *packet, seq uint16, ts uint32) bool {
	h := &d.hdr
	h.Version = 2
	h.Padding = false
	h.Marker = p.hdr.Marker
	h.PayloadType = b.pt
	h.SequenceNumber = seq
	h.Timestamp = ts
	h.SSRC = b.ssrc
	h.CSRC = p.hdr.CSRC
	// The publisher's extension ids mean nothing on the subscriber's
	// connection: start empty and map the ones we understand.
	h.Extension = false
	h.ExtensionProfile = 0
	h.Extensions = d.extBuf[:0]
	if b.levelExt != 0 && p.hasLevel {
		d.levelByte[0] = p.audioLevel
		_ = h.SetExtension(b.levelExt, d.levelByte[:])
	}
	_, err := d.writeRTP(b, h, p.payload)
	return err == nil
}

// writeRTP hands a packet to the connection's interceptor chain: directly
// when the gate has bound the stream, else through Pion's writer (a test
// without a gate, or a packet racing Pion's binding, which Pion drops).
// Called with mu held.
func (d *DownTrack) writeRTP(b *downBinding, h *rtp.Header, payload []byte) (int, error) {
	s := d.out
	if s == nil || s.unbound.Load() || s.info.SSRC != b.ssrc {
		s = nil
		if d.gate != nil {
			s = d.gate.localStream(b.ssrc)
		}
		d.out = s
	}
	if s != nil {
		return s.send(h, payload, nil)
	}
	return b.writer.WriteRTP(h, payload)
}

// handleNACK resends the packets a subscriber reports lost, from the
// track's packet cache: each outgoing sequence number is mapped back through
// the rewriter onto its source layer and sequence number. Packets no longer
// cached are not resent; the subscriber's keyframe request repairs that.
func (d *DownTrack) handleNACK(n *rtcp.TransportLayerNack) {
	b := d.binding.Load()
	if b == nil || n.MediaSSRC != b.ssrc || !d.connected.Load() {
		return
	}
	now := time.Now().UnixNano()
	for _, pair := range n.Nacks {
		if !d.resend(b, pair.PacketID, now) {
			return
		}
		for i := uint16(0); i < 16; i++ {
			if pair.LostPackets&(1<<i) != 0 && !d.resend(b, pair.PacketID+i+1, now) {
				return
			}
		}
	}
}

// A subscriber's NACKs are answered within a budget: resendBurst packets at
// once, refilled at resendRate per second. One compound RTCP packet can
// name thousands of packets, and the lite transport answers on its socket's
// reader, which the room's publishers share; a client that asks for more
// (a broken one, or one asking on purpose) is denied the rest, and a real
// loss that large is better repaired by a keyframe. A 4 Mbit/s video track
// is about 400 packets a second, so a subscriber losing a whole second of
// it stays within the budget.
const (
	resendBurst = 512
	resendRate  = 500
)

// takeResend spends one packet of the NACK budget, if any is left. Called
// with mu held.
func (d *DownTrack) takeResend(now int64) bool {
	if d.resendAt == 0 {
		d.resendTokens = resendBurst
	} else if dt := now - d.resendAt; dt > 0 {
		d.resendTokens = min(resendBurst, d.resendTokens+float64(dt)*resendRate/float64(time.Second))
	}
	d.resendAt = max(d.resendAt, now)
	if d.resendTokens < 1 {
		return false
	}
	d.resendTokens--
	return true
}

// resend sends outgoing packet outSeq again if it is still cached, and
// reports false once the NACK budget is spent. Every packet asked for
// spends it, cached or not: looking is work too.
func (d *DownTrack) resend(b *downBinding, outSeq uint16, now int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.takeResend(now) {
		return false
	}
	layer, seq, tsOffset, ok := d.rw.source(outSeq)
	if !ok || int(layer) >= len(d.track.caches) || d.track.caches[layer] == nil {
		return true
	}
	p := d.track.caches[layer].get(seq)
	if p == nil {
		return true
	}
	if d.sendLocked(b, p, outSeq, p.hdr.Timestamp+tsOffset) {
		d.retransmits.Add(1)
	}
	p.release()
	return true
}

// wantKeyframe reports whether a down-track waiting for a keyframe should ask
// again. Called with mu held.
func (d *DownTrack) wantKeyframe(now int64) bool {
	if now-d.lastKeyReq < int64(keyframeRetry) {
		return false
	}
	d.lastKeyReq = now
	return true
}

// handleRTCP reacts to the subscriber's feedback: PLI and FIR become a
// (throttled) keyframe request to the publisher for the layer being sent,
// NACKs are answered from the track's packet cache.
func (d *DownTrack) handleRTCP(pkts []rtcp.Packet) {
	for _, pkt := range pkts {
		if n, ok := pkt.(*rtcp.TransportLayerNack); ok {
			d.handleNACK(n)
			continue
		}
		switch pkt.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			d.mu.Lock()
			layer := int(d.current)
			d.mu.Unlock()
			if layer < 0 {
				layer = int(d.target.Load())
			}
			d.track.requestKeyframe(layer)
		}
	}
}

// readRTCP drains the sender's RTCP until the sender stops; reading drives
// the bandwidth estimator, and NACKs are answered here.
func (d *DownTrack) readRTCP(s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		d.handleRTCP(pkts)
	}
}
