package sfu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/check"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

func newTestEngine(t testing.TB) *Engine {
	t.Helper()
	return newTestEngineWith(t, Config{IncludeLoopback: true})
}

// subscriberTransports are the transports tests that cover both run on.
var subscriberTransports = []string{SubscriberTransportLite, SubscriberTransportPion}

func newTestEngineWith(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := NewEngine(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// Synthetic payloads: a codec header, then layer, keyframe flag and a frame
// counter, then filler derived from the counter, so a receiver can rebuild
// and compare every byte.
func makePayload(kind webrtc.RTPCodecType, layer int, counter uint32, key bool, size int) []byte {
	p := make([]byte, size)
	if kind == webrtc.RTPCodecTypeVideo {
		p[0] = 0x10 // VP8 descriptor: S=1, PID=0
		p[1] = 0x01 // VP8 header: P=1, inter frame
		if key {
			p[1] = 0x00
		}
	} else {
		p[0], p[1] = 0xfc, 0xff
	}
	p[2] = byte(layer)
	binary.BigEndian.PutUint32(p[3:], counter)
	for i := 7; i < size; i++ {
		p[i] = byte(counter) + byte(i)
	}
	return p
}

type payloadInfo struct {
	layer   int
	counter uint32
	key     bool
}

func parsePayload(p []byte) payloadInfo {
	return payloadInfo{layer: int(p[2]), counter: binary.BigEndian.Uint32(p[3:]), key: p[0] == 0x10 && p[1]&1 == 0}
}

// testTrack is a client-side TrackLocal that sends synthetic packets with
// mid/rid/audio-level extensions and remembers keyframe requests.
type testTrack struct {
	id, streamID, rid string
	kind              webrtc.RTPCodecType
	mime              string
	layer             int
	size              int

	mu                       sync.Mutex
	w                        webrtc.TrackLocalWriter
	ssrc                     uint32
	pt                       uint8
	midExt, ridExt, levelExt uint8
	mid                      string
	seq                      uint16
	ts                       uint32
	counter                  uint32

	wantKey atomic.Bool
	plis    atomic.Int32
}

func newTestTrack(kind webrtc.RTPCodecType, id, streamID, rid string, layer, size int) *testTrack {
	mime := webrtc.MimeTypeVP8
	if kind == webrtc.RTPCodecTypeAudio {
		mime = webrtc.MimeTypeOpus
	}
	tt := &testTrack{id: id, streamID: streamID, rid: rid, kind: kind, mime: mime, layer: layer, size: size,
		seq: uint16(rand.Intn(1 << 16))}
	tt.wantKey.Store(true)
	return tt
}

func (tt *testTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, tt.mime) {
			tt.mu.Lock()
			tt.w, tt.ssrc, tt.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType)
			for _, e := range ctx.HeaderExtensions() {
				switch e.URI {
				case sdp.SDESMidURI:
					tt.midExt = uint8(e.ID)
				case sdp.SDESRTPStreamIDURI:
					tt.ridExt = uint8(e.ID)
				case audioLevelURI:
					tt.levelExt = uint8(e.ID)
				}
			}
			tt.mu.Unlock()
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (tt *testTrack) Unbind(webrtc.TrackLocalContext) error {
	tt.mu.Lock()
	tt.w = nil
	tt.mu.Unlock()
	return nil
}

func (tt *testTrack) ID() string                { return tt.id }
func (tt *testTrack) RID() string               { return tt.rid }
func (tt *testTrack) StreamID() string          { return tt.streamID }
func (tt *testTrack) Kind() webrtc.RTPCodecType { return tt.kind }

// send writes one frame (one packet) if bound.
func (tt *testTrack) send() {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.w == nil {
		return
	}
	key := tt.kind == webrtc.RTPCodecTypeVideo && tt.wantKey.Swap(false)
	tt.counter++
	tt.seq++
	if tt.kind == webrtc.RTPCodecTypeVideo {
		tt.ts += 1800
	} else {
		tt.ts += 960
	}
	h := rtp.Header{Version: 2, Marker: true, PayloadType: tt.pt, SequenceNumber: tt.seq, Timestamp: tt.ts, SSRC: tt.ssrc}
	if tt.midExt != 0 && tt.mid != "" {
		_ = h.SetExtension(tt.midExt, []byte(tt.mid))
	}
	if tt.ridExt != 0 && tt.rid != "" {
		_ = h.SetExtension(tt.ridExt, []byte(tt.rid))
	}
	if tt.levelExt != 0 {
		_ = h.SetExtension(tt.levelExt, []byte{0x80 | 20})
	}
	_, _ = tt.w.WriteRTP(&h, makePayload(tt.kind, tt.layer, tt.counter, key, tt.size))
}

func (tt *testTrack) onRTCP(pkts []rtcp.Packet) {
	for _, p := range pkts {
		if pli, ok := p.(*rtcp.PictureLossIndication); ok {
			tt.mu.Lock()
			mine := pli.MediaSSRC == tt.ssrc
			tt.mu.Unlock()
			if mine {
				tt.plis.Add(1)
				tt.wantKey.Store(true)
			}
		}
	}
}

type recvPacket struct {
	seq     uint16
	ts      uint32
	payload []byte
	at      time.Time
}

type recvTrack struct {
	streamID, trackID string
	kind              webrtc.RTPCodecType

	mu   sync.Mutex
	pkts []recvPacket
}

func (r *recvTrack) packets() []recvPacket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recvPacket(nil), r.pkts...)
}

// dropper is a client interceptor that drops a share of first
// transmissions of video packets but never a retransmission. Registered
// first, it sits below the NACK responder.
type dropper struct {
	interceptor.NoOp
	incoming bool // drop received packets instead of sent ones
	rate     float64
	mu       sync.Mutex
	seen     map[uint32]map[uint16]bool
	rng      *rand.Rand
	dropped  atomic.Int32
}

func (d *dropper) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

// drop decides whether to drop a video packet: a share of first
// transmissions, never a retransmission.
func (d *dropper) drop(ssrc uint32, seq uint16) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.seen[ssrc]
	if s == nil {
		s = map[uint16]bool{}
		d.seen[ssrc] = s
	}
	first := !s[seq]
	s[seq] = true
	if first && d.rng.Float64() < d.rate {
		d.dropped.Add(1)
		return true
	}
	return false
}

func (d *dropper) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if !d.incoming || !strings.HasPrefix(strings.ToLower(info.MimeType), "video") {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attrs, err := r.Read(b, a)
			if err != nil || n < 12 {
				return n, attrs, err
			}
			if !d.drop(binary.BigEndian.Uint32(b[8:12]), binary.BigEndian.Uint16(b[2:4])) {
				return n, attrs, err
			}
		}
	})
}

func (d *dropper) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if d.incoming || !strings.HasPrefix(strings.ToLower(info.MimeType), "video") {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		d.mu.Lock()
		s := d.seen[h.SSRC]
		if s == nil {
			s = map[uint16]bool{}
			d.seen[h.SSRC] = s
		}
		first := !s[h.SequenceNumber]
		s[h.SequenceNumber] = true
		drop := first && d.rng.Float64() < d.rate
		d.mu.Unlock()
		if drop {
			d.dropped.Add(1)
			return len(payload), nil
		}
		return w.Write(h, payload, a)
	})
}

// testClient is a pion client speaking to a Participant by direct calls.
type testClient struct {
	t   testing.TB
	id  ParticipantID
	p   *Participant
	pub *webrtc.PeerConnection
	sub *webrtc.PeerConnection

	sigs  chan Signal
	quit  chan struct{}
	pubUp chan struct{} // closed when the publisher connection is connected
	wg    sync.WaitGroup

	mu          sync.Mutex
	recv        []*recvTrack
	published   []TrackInfo
	unpublished []TrackInfo
	subOffers   []string
	tracks      []*testTrack

	onPublished func(TrackInfo)
	answerDelay time.Duration // see clientOpts
	onSubOffer  func(n int)   // see clientOpts
}

type clientOpts struct {
	drop *dropper
	// answerDelay holds each subscriber answer back this long after the
	// client applied it, as a relay between nodes would: the client's
	// checks then reach the server before its answer.
	answerDelay time.Duration
	// dtlsClient makes the client answer subscriber offers setup:active,
	// as browsers do; Pion's default for an ICE-lite offer is passive.
	dtlsClient bool
	// onSubOffer runs as the client receives its n-th subscriber offer
	// (from 1), before applying it.
	onSubOffer func(n int)
}

func newTestClient(t testing.TB, r *Router, id ParticipantID, o clientOpts) *testClient {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: audioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if o.drop != nil {
		reg.Add(o.drop)
	}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetPrflxAcceptanceMinWait(0)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if o.dtlsClient {
		if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleClient); err != nil {
			t.Fatal(err)
		}
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))

	c := &testClient{t: t, id: id, sigs: make(chan Signal, 1024), quit: make(chan struct{}), pubUp: make(chan struct{}),
		answerDelay: o.answerDelay, onSubOffer: o.onSubOffer}
	var err error
	if c.pub, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	if c.sub, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	var upOnce sync.Once
	c.pub.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			upOnce.Do(func() { close(c.pubUp) })
		}
	})
	c.sub.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		rt := &recvTrack{streamID: remote.StreamID(), trackID: remote.ID(), kind: remote.Kind()}
		c.mu.Lock()
		c.recv = append(c.recv, rt)
		c.mu.Unlock()
		for {
			pkt, _, err := remote.ReadRTP()
			if err != nil {
				return
			}
			rt.mu.Lock()
			rt.pkts = append(rt.pkts, recvPacket{seq: pkt.SequenceNumber, ts: pkt.Timestamp, payload: pkt.Payload, at: time.Now()})
			rt.mu.Unlock()
		}
	})

	c.p, err = r.AddParticipant(id, ParticipantParams{
		SendSignal: func(s Signal) {
			select {
			case c.sigs <- s:
			default:
				t.Errorf("%s: signal queue full", id)
			}
		},
		OnTrackPublished: func(info TrackInfo) {
			c.mu.Lock()
			c.published = append(c.published, info)
			cb := c.onPublished
			c.mu.Unlock()
			if cb != nil {
				cb(info)
			}
		},
		OnTrackUnpublished: func(info TrackInfo) {
			c.mu.Lock()
			c.unpublished = append(c.unpublished, info)
			c.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.pub.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			_ = c.p.AddCandidate(PCPublisher, cand.ToJSON())
		}
	})
	c.sub.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			_ = c.p.AddCandidate(PCSubscriber, cand.ToJSON())
		}
	})
	c.wg.Add(1)
	go c.handleSignals()
	t.Cleanup(c.close)
	return c
}

// handleSignals applies server signals one at a time, in order, holding
// candidates until the matching remote description is set.
func (c *testClient) handleSignals() {
	defer c.wg.Done()
	var pending = map[PCKind][]webrtc.ICECandidateInit{}
	pcOf := func(k PCKind) *webrtc.PeerConnection {
		if k == PCPublisher {
			return c.pub
		}
		return c.sub
	}
	for {
		var s Signal
		select {
		case <-c.quit:
			return
		case s = <-c.sigs:
		}
		pc := pcOf(s.PC)
		if pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
			continue
		}
		switch {
		case s.Candidate != nil:
			if pc.RemoteDescription() == nil {
				pending[s.PC] = append(pending[s.PC], *s.Candidate)
				continue
			}
			_ = pc.AddICECandidate(*s.Candidate)
		case s.SDP != nil:
			if s.PC == PCSubscriber && s.SDP.Type == webrtc.SDPTypeOffer && c.onSubOffer != nil {
				c.mu.Lock()
				n := len(c.subOffers) + 1
				c.mu.Unlock()
				c.onSubOffer(n)
			}
			if err := pc.SetRemoteDescription(*s.SDP); err != nil {
				c.t.Errorf("%s: set remote %s: %v", c.id, s.PC, err)
				continue
			}
			for _, cand := range pending[s.PC] {
				_ = pc.AddICECandidate(cand)
			}
			pending[s.PC] = nil
			if s.SDP.Type == webrtc.SDPTypeOffer {
				c.mu.Lock()
				c.subOffers = append(c.subOffers, s.SDP.SDP)
				c.mu.Unlock()
				answer, err := pc.CreateAnswer(nil)
				if err != nil {
					c.t.Errorf("%s: answer: %v", c.id, err)
					continue
				}
				if err := pc.SetLocalDescription(answer); err != nil {
					c.t.Errorf("%s: set local: %v", c.id, err)
					continue
				}
				if s.PC == PCSubscriber && c.answerDelay > 0 {
					select {
					case <-c.quit:
						return
					case <-time.After(c.answerDelay):
					}
				}
				if err := c.p.HandleAnswer(answer); err != nil {
					c.t.Logf("%s: HandleAnswer: %v", c.id, err)
				}
			}
		}
	}
}

// publish adds tracks (a slice of more than one forms one simulcast
// sender), offers, and starts sending every `every`.
func (c *testClient) publish(groups [][]*testTrack) {
	c.t.Helper()
	for _, g := range groups {
		sender, err := c.pub.AddTrack(g[0])
		if err != nil {
			c.t.Fatal(err)
		}
		for _, tt := range g[1:] {
			if err := sender.AddEncoding(tt); err != nil {
				c.t.Fatal(err)
			}
		}
		c.mu.Lock()
		c.tracks = append(c.tracks, g...)
		c.mu.Unlock()
		c.wg.Add(len(g))
		for _, tt := range g {
			go func(tt *testTrack) {
				defer c.wg.Done()
				// Deadlines let this goroutine stop before the peer
				// connection closes: Pion's sender reads race with Stop.
				// Setting one blocks until the transport is up, so wait.
				select {
				case <-c.quit:
					return
				case <-c.pubUp:
				}
				for {
					select {
					case <-c.quit:
						return
					default:
					}
					var pkts []rtcp.Packet
					var err error
					deadline := time.Now().Add(50 * time.Millisecond)
					if tt.rid == "" {
						_ = sender.SetReadDeadline(deadline)
						pkts, _, err = sender.ReadRTCP()
					} else {
						_ = sender.SetReadDeadlineSimulcast(deadline, tt.rid)
						pkts, _, err = sender.ReadSimulcastRTCP(tt.rid)
					}
					if errors.Is(err, io.ErrClosedPipe) {
						return
					}
					if err == nil {
						tt.onRTCP(pkts)
					}
				}
			}(tt)
		}
	}
	c.renegotiate()
	for _, tr := range c.pub.GetTransceivers() {
		if s := tr.Sender(); s != nil {
			for _, g := range groups {
				if s.Track() == g[0] {
					for _, tt := range g {
						tt.mu.Lock()
						tt.mid = tr.Mid()
						tt.mu.Unlock()
					}
				}
			}
		}
	}
}

// renegotiate offers the publisher connection's current tracks. It first
// waits for the answer to any earlier offer, which handleSignals applies
// on its own goroutine: offering again from have-local-offer fails.
func (c *testClient) renegotiate() {
	c.t.Helper()
	check.For(c.t, 5*time.Second, string(c.id)+"'s earlier publisher offer answered", func() bool {
		return c.pub.SignalingState() == webrtc.SignalingStateStable
	})
	offer, err := c.pub.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.pub.SetLocalDescription(offer); err != nil {
		c.t.Fatal(err)
	}
	if err := c.p.HandleOffer(offer, nil); err != nil {
		c.t.Fatal(err)
	}
}

// startSending sends one packet per track every interval until close.
func (c *testClient) startSending(every time.Duration, tracks ...*testTrack) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-c.quit:
				return
			case <-tick.C:
				for _, tt := range tracks {
					tt.send()
				}
			}
		}
	}()
}

func (c *testClient) received() []*recvTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*recvTrack(nil), c.recv...)
}

func (c *testClient) recvTrack(id TrackID) *recvTrack {
	for _, r := range c.received() {
		if r.trackID == string(id) {
			return r
		}
	}
	return nil
}

func (c *testClient) publishedTracks() []TrackInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]TrackInfo(nil), c.published...)
}

func (c *testClient) close() {
	select {
	case <-c.quit:
		return
	default:
	}
	close(c.quit)
	c.wg.Wait()
	_ = c.pub.Close()
	_ = c.sub.Close()
}

func trackOf(infos []TrackInfo, kind string) (TrackInfo, error) {
	for _, i := range infos {
		if i.Kind == kind {
			return i, nil
		}
	}
	return TrackInfo{}, fmt.Errorf("no %s track among %d", kind, len(infos))
}

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }
