package sfu

import (
	"sync"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// fakeEstimator records the streams it measures and the packets written
// through it.
type fakeEstimator struct {
	mu      sync.Mutex
	streams []uint32
	written int
	closed  bool
}

func (f *fakeEstimator) AddStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	f.mu.Lock()
	f.streams = append(f.streams, info.SSRC)
	f.mu.Unlock()
	return interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, a interceptor.Attributes) (int, error) {
		f.mu.Lock()
		f.written++
		f.mu.Unlock()
		return w.Write(h, p, a)
	})
}

func (f *fakeEstimator) WriteRTCP([]rtcp.Packet, interceptor.Attributes) error { return nil }
func (f *fakeEstimator) GetTargetBitrate() int                                 { return 123 }
func (f *fakeEstimator) OnTargetBitrateChange(func(int))                       {}
func (f *fakeEstimator) GetStats() map[string]any                              { return nil }
func (f *fakeEstimator) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// The estimator is made when the first simulcast stream is bound, takes over
// every stream bound before and after, and is closed with the connection.
func TestEstimateGateMakesEstimatorLazily(t *testing.T) {
	var made []*fakeEstimator
	ext, _ := twcc.NewHeaderExtensionInterceptor()
	f := &estimateGateFactory{ext: ext, newEstimator: func() (cc.BandwidthEstimator, error) {
		e := &fakeEstimator{}
		made = append(made, e)
		return e, nil
	}}
	if _, err := f.NewInterceptor(""); err != nil {
		t.Fatal(err)
	}
	g := f.gate
	sent := 0
	sink := interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) {
		sent++
		return 0, nil
	})

	plain := g.BindLocalStream(&interceptor.StreamInfo{ID: "a", SSRC: 1}, sink)
	_, _ = plain.Write(&rtp.Header{SSRC: 1}, nil, nil)
	if len(made) != 0 || g.on() {
		t.Fatalf("estimators made without a simulcast stream: %d (on %v)", len(made), g.on())
	}
	if got := g.targetBitrate(); got != bweInitialBitrate {
		t.Fatalf("target bitrate without an estimator %d, want %d", got, bweInitialBitrate)
	}

	g.want("b")
	sim := g.BindLocalStream(&interceptor.StreamInfo{ID: "b", SSRC: 2}, sink)
	late := g.BindLocalStream(&interceptor.StreamInfo{ID: "c", SSRC: 3}, sink)
	if len(made) != 1 || !g.on() {
		t.Fatalf("estimators made %d, on %v; want 1, true", len(made), g.on())
	}
	est := made[0]
	if len(est.streams) != 3 {
		t.Fatalf("estimator measures streams %v, want all three", est.streams)
	}
	for i, w := range []interceptor.RTPWriter{plain, sim, late} {
		_, _ = w.Write(&rtp.Header{SSRC: uint32(i + 1)}, nil, nil)
	}
	if est.written != 3 || sent != 4 {
		t.Fatalf("estimator saw %d packets and the sink %d, want 3 and 4", est.written, sent)
	}
	if got := g.targetBitrate(); got != 123 {
		t.Fatalf("target bitrate %d, want the estimator's 123", got)
	}

	g.UnbindLocalStream(&interceptor.StreamInfo{ID: "b", SSRC: 2})
	if g.on() {
		t.Fatal("gate still on without a simulcast stream")
	}
	_, _ = plain.Write(&rtp.Header{SSRC: 1}, nil, nil)
	if est.written != 3 {
		t.Fatalf("estimator fed while the gate is off: %d packets", est.written)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if !est.closed {
		t.Fatal("estimator not closed with the gate")
	}
}

// A down-track writes through its connection's gate directly, without the
// Attributes map Pion's track writer allocates per packet, and falls back to
// Pion's writer while the gate has no stream bound for its SSRC.
func TestDownTrackWritesThroughGate(t *testing.T) {
	ext, _ := twcc.NewHeaderExtensionInterceptor()
	f := &estimateGateFactory{ext: ext, newEstimator: func() (cc.BandwidthEstimator, error) {
		return &fakeEstimator{}, nil
	}}
	if _, err := f.NewInterceptor(""); err != nil {
		t.Fatal(err)
	}
	g := f.gate
	type sink struct{ n, withAttrs int }
	bind := func(info *interceptor.StreamInfo) *sink {
		s := &sink{}
		g.BindLocalStream(info, interceptor.RTPWriterFunc(func(_ *rtp.Header, p []byte, a interceptor.Attributes) (int, error) {
			s.n++
			if a != nil {
				s.withAttrs++
			}
			return len(p), nil
		}))
		return s
	}
	fallback := &recordWriter{}
	d := &DownTrack{gate: g}
	b := &downBinding{ssrc: 7, writer: fallback}
	h := &rtp.Header{SSRC: 7}
	payload := []byte{1, 2, 3}
	fallbackWrites := func() int {
		fallback.mu.Lock()
		defer fallback.mu.Unlock()
		return len(fallback.seqs)
	}

	if _, err := d.writeRTP(b, h, payload); err != nil || fallbackWrites() != 1 {
		t.Fatalf("before the stream is bound: err %v, %d writes to Pion's writer, want 1", err, fallbackWrites())
	}
	info := &interceptor.StreamInfo{ID: "a", SSRC: 7}
	first := bind(info)
	allocs := testing.AllocsPerRun(100, func() { _, _ = d.writeRTP(b, h, payload) })
	if allocs != 0 {
		t.Fatalf("%v allocations per packet through the gate, want 0", allocs)
	}
	if first.n != 101 || first.withAttrs != 0 || fallbackWrites() != 1 {
		t.Fatalf("gate stream got %d packets (%d with attributes), Pion's writer %d; want 101, 0, 1",
			first.n, first.withAttrs, fallbackWrites())
	}

	g.UnbindLocalStream(info)
	_, _ = d.writeRTP(b, h, payload)
	if first.n != 101 || fallbackWrites() != 2 {
		t.Fatalf("after unbinding: gate stream %d packets, Pion's writer %d; want 101, 2", first.n, fallbackWrites())
	}
	second := bind(&interceptor.StreamInfo{ID: "a", SSRC: 7})
	_, _ = d.writeRTP(b, h, payload)
	if second.n != 1 || first.n != 101 {
		t.Fatalf("after rebinding: new stream %d packets, old %d; want 1, 101", second.n, first.n)
	}
}
