package sfu

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
)

// The send-side bandwidth estimate of a subscriber connection only steers
// simulcast layer choice, yet feeding it costs on every packet sent: a
// transport-wide sequence number stamped into the header, a history entry
// (a map insert and a list element) per packet under a lock, and the TWCC
// feedback the subscriber then sends back, which the estimator's goroutines
// digest. A connection that receives no simulcast track pays all of that for
// a number nobody reads.
//
// estimateGate bundles the TWCC header-extension stamper and the send-side
// estimator of one subscriber connection and bypasses both until the
// connection carries a simulcast down-track. From then on every stream of
// the connection is stamped and measured, exactly as without the gate; when
// the last simulcast down-track goes the bypass resumes. Transport-wide
// sequence numbers stay contiguous across the switch because only stamped
// packets consume one.
//
// The estimator itself is made when the first simulcast down-track is bound,
// not with the connection: GCC runs two goroutines and keeps its history
// from the start, and most subscribers of a large room never receive a
// simulcast track. Once made it lives as long as the connection, so that
// its estimate survives a layer-less interval.

// estimateGateFactory builds the estimateGate of one subscriber connection;
// each connection has its own factory (see Engine.newSubscriberPC).
type estimateGateFactory struct {
	newEstimator func() (cc.BandwidthEstimator, error)
	ext          *twcc.HeaderExtensionInterceptorFactory
	gate         *estimateGate // the gate built, set inside NewPeerConnection
}

func (f *estimateGateFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	x, err := f.ext.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	f.gate = &estimateGate{ext: x, newEstimator: f.newEstimator,
		counted: map[uint32]struct{}{}, wants: map[string]struct{}{}, streams: map[uint32]*gatedStream{}}
	return f.gate, nil
}

// estimateGate is the interceptor chain ext(estimator(·)) with a bypass.
type estimateGate struct {
	ext          interceptor.Interceptor
	newEstimator func() (cc.BandwidthEstimator, error)

	active atomic.Int32 // bound simulcast streams; > 0 feeds the estimator
	// est is the estimator, nil until the first simulcast stream is bound;
	// set (under mu) before active first becomes positive.
	est atomic.Pointer[estimatorRef]

	mu      sync.Mutex
	closed  bool
	counted map[uint32]struct{} // SSRCs counted in active
	// wants holds the RTP sender ids of simulcast down-tracks between
	// DownTrack.Bind and the interceptor binding of the same sender (Pion
	// calls the track's Bind first, with the same id in both contexts).
	wants map[string]struct{}
	// streams are the bound local streams by SSRC, for the estimator to
	// take over when it is made.
	streams map[uint32]*gatedStream
}

// estimatorRef boxes the estimator interface for atomic.Pointer.
type estimatorRef struct{ cc.BandwidthEstimator }

// gatedStream is one local stream of the connection: the writer Pion bound
// it to, the stamper in front of the estimator's writer in front of that
// once there is one, and the gate choosing between the two.
type gatedStream struct {
	gate     *estimateGate
	info     *interceptor.StreamInfo
	writer   interceptor.RTPWriter // Pion's: SRTP and the transport
	full     interceptor.RTPWriter // the stamper, then Write
	measured atomic.Pointer[writerRef]
	unbound  atomic.Bool // Pion unbound the stream; see estimateGate.localStream
}

// writerRef boxes an RTPWriter for atomic.Pointer.
type writerRef struct{ interceptor.RTPWriter }

// send is the stream's interceptor chain: stamped and measured while the gate
// is on, straight to Pion's writer otherwise.
//
// Pion's own entry to the chain (the track's WriteStream) passes a new,
// empty Attributes map with every packet: an allocation per packet and
// subscriber. A DownTrack calls send directly with nil attributes instead;
// every writer behind it accepts nil (the estimator makes its own map).
func (s *gatedStream) send(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	if s.gate.on() {
		return s.full.Write(h, payload, a)
	}
	return s.writer.Write(h, payload, a)
}

// Write is the stamper's next writer: the estimator when there is one.
func (s *gatedStream) Write(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	if w := s.measured.Load(); w != nil {
		return w.Write(h, payload, a)
	}
	return s.writer.Write(h, payload, a)
}

// want marks the sender id of a simulcast down-track being bound.
func (g *estimateGate) want(senderID string) {
	g.mu.Lock()
	g.wants[senderID] = struct{}{}
	g.mu.Unlock()
}

// forget drops a sender id whose stream will not be bound (or is unbound).
func (g *estimateGate) forget(senderID string) {
	g.mu.Lock()
	delete(g.wants, senderID)
	g.mu.Unlock()
}

func (g *estimateGate) on() bool { return g.active.Load() > 0 }

// localStream is the bound local stream with this SSRC, or nil before Pion
// binds it (it binds a track first, then its stream) and after it unbinds
// it. A caller may keep the stream while its unbound flag is false.
func (g *estimateGate) localStream(ssrc uint32) *gatedStream {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.streams[ssrc]
}

// targetBitrate is the estimate, or the estimator's initial bitrate while
// there is no estimator yet (what a new, unfed estimator reports).
func (g *estimateGate) targetBitrate() int {
	if est := g.est.Load(); est != nil {
		return est.GetTargetBitrate()
	}
	return bweInitialBitrate
}

// startEstimatorLocked makes the estimator and puts it in front of every
// bound stream. Called with mu held.
func (g *estimateGate) startEstimatorLocked() error {
	if g.est.Load() != nil {
		return nil
	}
	if g.closed {
		return ErrParticipantClosed
	}
	est, err := g.newEstimator()
	if err != nil {
		return err
	}
	for _, s := range g.streams {
		s.measured.Store(&writerRef{est.AddStream(s.info, s.writer)})
	}
	g.est.Store(&estimatorRef{est})
	return nil
}

func (g *estimateGate) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	reader = g.ext.BindRTCPReader(reader)
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		i, attr, err := reader.Read(b, a)
		if err != nil || !g.on() {
			return i, attr, err
		}
		est := g.est.Load()
		if est == nil {
			return i, attr, nil
		}
		// As Pion's cc interceptor: the estimator keeps the parsed
		// feedback, which must not alias the caller's buffer.
		buf := make([]byte, i)
		copy(buf, b[:i])
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		pkts, err := attr.GetRTCPPackets(buf)
		if err != nil {
			return 0, nil, err
		}
		if err := est.WriteRTCP(pkts, attr); err != nil {
			return 0, nil, err
		}
		return i, attr, nil
	})
}

func (g *estimateGate) BindRTCPWriter(writer interceptor.RTCPWriter) interceptor.RTCPWriter {
	return g.ext.BindRTCPWriter(writer)
}

func (g *estimateGate) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	s := &gatedStream{gate: g, info: info, writer: writer}
	s.full = g.ext.BindLocalStream(info, s)
	g.mu.Lock()
	g.streams[info.SSRC] = s
	if est := g.est.Load(); est != nil {
		s.measured.Store(&writerRef{est.AddStream(info, writer)})
	}
	if _, ok := g.wants[info.ID]; ok {
		delete(g.wants, info.ID)
		if _, dup := g.counted[info.SSRC]; !dup && g.startEstimatorLocked() == nil {
			g.counted[info.SSRC] = struct{}{}
			g.active.Add(1)
		}
	}
	g.mu.Unlock()
	return interceptor.RTPWriterFunc(s.send)
}

func (g *estimateGate) UnbindLocalStream(info *interceptor.StreamInfo) {
	g.mu.Lock()
	if _, ok := g.counted[info.SSRC]; ok {
		delete(g.counted, info.SSRC)
		g.active.Add(-1)
	}
	delete(g.wants, info.ID)
	if s := g.streams[info.SSRC]; s != nil && s.info == info {
		delete(g.streams, info.SSRC)
		s.unbound.Store(true)
	}
	g.mu.Unlock()
	g.ext.UnbindLocalStream(info)
}

func (g *estimateGate) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	return g.ext.BindRemoteStream(info, reader)
}

func (g *estimateGate) UnbindRemoteStream(info *interceptor.StreamInfo) {
	g.ext.UnbindRemoteStream(info)
}

func (g *estimateGate) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	var err error
	if est := g.est.Load(); est != nil {
		err = est.Close()
	}
	return errors.Join(err, g.ext.Close())
}
