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
// estimateGate bundles the TWCC header-extension stamper and the cc
// interceptor of one subscriber connection and bypasses both until the
// connection carries a simulcast down-track. From then on every stream of
// the connection is stamped and measured, exactly as without the gate; when
// the last simulcast down-track goes the bypass resumes. Transport-wide
// sequence numbers stay contiguous across the switch because only stamped
// packets consume one.

// estimateGateFactory builds the estimateGate of one subscriber connection;
// each connection has its own factory (see Engine.newSubscriberPC).
type estimateGateFactory struct {
	cc   *cc.InterceptorFactory
	ext  *twcc.HeaderExtensionInterceptorFactory
	gate *estimateGate // the gate built, set inside NewPeerConnection
}

func (f *estimateGateFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	// The cc factory reports the connection's estimator from here.
	c, err := f.cc.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	x, err := f.ext.NewInterceptor(id)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	f.gate = &estimateGate{cc: c, ext: x, counted: map[uint32]struct{}{}, wants: map[string]struct{}{}}
	return f.gate, nil
}

// estimateGate is the interceptor chain ext(cc(·)) with a bypass.
type estimateGate struct {
	cc, ext interceptor.Interceptor

	active atomic.Int32 // bound simulcast streams; > 0 feeds the estimator

	mu      sync.Mutex
	counted map[uint32]struct{} // SSRCs counted in active
	// wants holds the RTP sender ids of simulcast down-tracks between
	// DownTrack.Bind and the interceptor binding of the same sender (Pion
	// calls the track's Bind first, with the same id in both contexts).
	wants map[string]struct{}
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

func (g *estimateGate) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	full := g.ext.BindRTCPReader(g.cc.BindRTCPReader(reader))
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		if g.on() {
			return full.Read(b, a)
		}
		return reader.Read(b, a)
	})
}

func (g *estimateGate) BindRTCPWriter(writer interceptor.RTCPWriter) interceptor.RTCPWriter {
	return g.ext.BindRTCPWriter(g.cc.BindRTCPWriter(writer))
}

func (g *estimateGate) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	full := g.ext.BindLocalStream(info, g.cc.BindLocalStream(info, writer))
	g.mu.Lock()
	if _, ok := g.wants[info.ID]; ok {
		delete(g.wants, info.ID)
		if _, dup := g.counted[info.SSRC]; !dup {
			g.counted[info.SSRC] = struct{}{}
			g.active.Add(1)
		}
	}
	g.mu.Unlock()
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if g.on() {
			return full.Write(h, payload, a)
		}
		return writer.Write(h, payload, a)
	})
}

func (g *estimateGate) UnbindLocalStream(info *interceptor.StreamInfo) {
	g.mu.Lock()
	if _, ok := g.counted[info.SSRC]; ok {
		delete(g.counted, info.SSRC)
		g.active.Add(-1)
	}
	delete(g.wants, info.ID)
	g.mu.Unlock()
	g.cc.UnbindLocalStream(info)
	g.ext.UnbindLocalStream(info)
}

func (g *estimateGate) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	return g.ext.BindRemoteStream(info, g.cc.BindRemoteStream(info, reader))
}

func (g *estimateGate) UnbindRemoteStream(info *interceptor.StreamInfo) {
	g.cc.UnbindRemoteStream(info)
	g.ext.UnbindRemoteStream(info)
}

func (g *estimateGate) Close() error {
	return errors.Join(g.cc.Close(), g.ext.Close())
}
