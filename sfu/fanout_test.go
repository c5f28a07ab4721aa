package sfu

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/onstagehq/onstage/internal/check"
)

// discardWriter is a TrackLocalWriter that drops packets, isolating the SFU's
// own cost from SRTP and the network.
type discardWriter struct{}

func (discardWriter) WriteRTP(_ *rtp.Header, p []byte) (int, error) { return len(p), nil }
func (discardWriter) Write(b []byte) (int, error)                   { return len(b), nil }

// recordWriter remembers sequence numbers.
type recordWriter struct {
	mu   sync.Mutex
	seqs []uint16
}

func (w *recordWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	w.mu.Lock()
	w.seqs = append(w.seqs, h.SequenceNumber)
	w.mu.Unlock()
	return len(p), nil
}
func (w *recordWriter) Write(b []byte) (int, error) { return len(b), nil }

// newBenchTrack builds a VP8 track with n bound, connected down-tracks and no
// peer connections.
func newBenchTrack(n int, writer func(i int) webrtc.TrackLocalWriter) (*publishedTrack, []*DownTrack) {
	t := &publishedTrack{
		kind:     webrtc.RTPCodecTypeVideo,
		codec:    webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}},
		keyframe: isVP8Keyframe,
		fan:      newFanout(nil),
		done:     make(chan struct{}),
		info:     TrackInfo{TrackID: "TR_bench", StreamID: "pub"},
	}
	connected := &atomic.Bool{}
	connected.Store(true)
	dts := make([]*DownTrack, n)
	for i := range dts {
		d := newDownTrack(t, connected, nil)
		d.needKey = false
		d.binding.Store(&downBinding{ssrc: uint32(i + 1), pt: 96, writer: writer(i)})
		t.fan.add(d)
		dts[i] = d
	}
	return t, dts
}

func rawPacket(tb testing.TB) []byte {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 42, Timestamp: 1000},
		Payload: makePayload(webrtc.RTPCodecTypeVideo, 0, 1, false, 1000)}
	raw, err := pkt.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// feed does what a track reader does with one received packet.
func feed(t *publishedTrack, raw []byte, seq uint16) {
	p := getPacket()
	n := copy(p.buf[:], raw)
	p.buf[2], p.buf[3] = byte(seq>>8), byte(seq)
	if err := p.parse(n); err != nil {
		panic(err)
	}
	p.layer = 0
	p.arrival = time.Now().UnixNano()
	p.keyframe = t.keyframe(p.payload)
	t.fan.forward(p)
}

// feedPaced is feed that first waits for room in every shard queue, the way
// a reader paced by the network finds them: it keeps a tight loop from
// outrunning the shard workers, which would make the fan-out drop.
func feedPaced(t *publishedTrack, raw []byte, seq uint16) {
	st := t.fan.state.Load()
	for _, w := range st.workers[:len(st.shards)-1] {
		for len(w.jobs) == cap(w.jobs) {
			runtime.Gosched()
		}
	}
	feed(t, raw, seq)
}

// atLeastTwoProcs makes sharding possible on a one-CPU machine for the
// duration of a test.
func atLeastTwoProcs(tb testing.TB) {
	if prev := runtime.GOMAXPROCS(0); prev < 2 {
		runtime.GOMAXPROCS(2)
		tb.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
}

func waitForwarded(tb testing.TB, dts []*DownTrack, want uint64) {
	tb.Helper()
	check.ForErr(tb, 10*time.Second, time.Millisecond, func() error {
		for _, d := range dts {
			if got := d.packets.Load(); got != want {
				return fmt.Errorf("down-track has %d of %d packets", got, want)
			}
		}
		return nil
	})
}

func TestFanoutShardedKeepsOrder(t *testing.T) {
	for _, n := range []int{1, inlineFanout + 1, 2*minShardSize + 1, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			atLeastTwoProcs(t)
			ws := make([]*recordWriter, n)
			tr, dts := newBenchTrack(n, func(i int) webrtc.TrackLocalWriter {
				ws[i] = &recordWriter{}
				return ws[i]
			})
			defer tr.fan.close()
			if st := tr.fan.state.Load(); n >= 2*minShardSize && len(st.shards) < 2 {
				t.Fatalf("%d down-tracks in %d shard", n, len(st.shards))
			}
			raw := rawPacket(t)
			const count = 500
			for i := 0; i < count; i++ {
				feedPaced(tr, raw, uint16(65000+i))
			}
			waitForwarded(t, dts, count)
			for i, w := range ws {
				w.mu.Lock()
				for j := 1; j < len(w.seqs); j++ {
					if w.seqs[j] != w.seqs[j-1]+1 {
						t.Fatalf("down-track %d: seq %d after %d", i, w.seqs[j], w.seqs[j-1])
					}
				}
				w.mu.Unlock()
			}
		})
	}
}

func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			tr, dts := newBenchTrack(n, func(int) webrtc.TrackLocalWriter { return discardWriter{} })
			defer tr.fan.close()
			raw := rawPacket(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				feedPaced(tr, raw, uint16(i))
			}
			waitForwarded(b, dts, uint64(b.N))
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/write")
		})
	}
}

// blockingWriter holds every write until release is closed.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) WriteRTP(_ *rtp.Header, p []byte) (int, error) {
	<-w.release
	return len(p), nil
}
func (w blockingWriter) Write(b []byte) (int, error) { return len(b), nil }

// switchWriter discards packets until hold is set, then blocks them until
// release is closed.
type switchWriter struct {
	hold    atomic.Bool
	release chan struct{}
}

func (w *switchWriter) WriteRTP(_ *rtp.Header, p []byte) (int, error) {
	if w.hold.Load() {
		<-w.release
	}
	return len(p), nil
}
func (w *switchWriter) Write(b []byte) (int, error) { return len(b), nil }

// A stalled shard loses packets (counted) instead of stalling the reader and
// with it every other subscriber of the track.
func TestFanoutFullShardDropsInsteadOfBlocking(t *testing.T) {
	atLeastTwoProcs(t)
	release := make(chan struct{})
	const n = 3 * minShardSize
	ws := make([]*switchWriter, n)
	tr, _ := newBenchTrack(n, func(i int) webrtc.TrackLocalWriter {
		ws[i] = &switchWriter{release: release}
		return ws[i]
	})
	defer tr.fan.close()
	st := tr.fan.state.Load()
	if len(st.shards) != 2 || len(st.shards[1]) == 0 {
		t.Fatalf("%d shards, want 2", len(st.shards))
	}
	inline, stalled := st.shards[0], st.shards[1]
	for _, d := range stalled {
		d.binding.Load().writer.(*switchWriter).hold.Store(true)
	}
	raw := rawPacket(t)
	const count = shardQueueSize + 50
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < count; i++ {
			feed(tr, raw, uint16(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("reader blocked behind a stalled shard")
	}
	// The inline shard got everything.
	waitForwarded(t, inline, count)
	if d := tr.fan.dropped.Load(); d == 0 {
		t.Fatal("no drop counted for the stalled shard")
	}
	close(release)
	// The stalled shard delivers what it had queued, and nothing is left hanging.
	check.ForErr(t, 10*time.Second, time.Millisecond, func() error {
		got := stalled[0].packets.Load()
		if got+tr.fan.dropped.Load() != count {
			return fmt.Errorf("stalled shard: %d forwarded + %d dropped != %d", got, tr.fan.dropped.Load(), count)
		}
		return nil
	})
}

// Adding subscribers never moves an existing down-track to another shard:
// packets still queued on its old shard would otherwise reach it after newer
// ones written by its new shard (reordering, and two goroutines writing it).
func TestFanoutReshardKeepsOrder(t *testing.T) {
	atLeastTwoProcs(t)
	release := make(chan struct{})
	n := 2*minShardSize + 2
	ws := make([]*switchWriter, n)
	tr, _ := newBenchTrack(n, func(i int) webrtc.TrackLocalWriter {
		ws[i] = &switchWriter{release: release}
		return ws[i]
	})
	defer tr.fan.close()
	worker := tr.fan.state.Load().shards[1]
	if len(worker) < 2 {
		t.Fatalf("worker shard has %d down-tracks", len(worker))
	}
	// The first down-track of the worker's shard is watched, the second
	// holds the worker behind it.
	var watched recordWriter
	worker[0].binding.Store(&downBinding{ssrc: 1000, pt: 96, writer: &watched})
	worker[1].binding.Load().writer.(*switchWriter).hold.Store(true)
	raw := rawPacket(t)
	for i := 0; i < 10; i++ {
		feed(tr, raw, uint16(100+i))
	}
	// More subscribers reshard the track while the worker still holds
	// packets for the watched down-track.
	connected := &atomic.Bool{}
	connected.Store(true)
	for i := 0; i < 2*minShardSize; i++ {
		extra := newDownTrack(tr, connected, nil)
		extra.needKey = false
		extra.binding.Store(&downBinding{ssrc: uint32(2000 + i), pt: 96, writer: discardWriter{}})
		tr.fan.add(extra)
	}
	for i := 10; i < 20; i++ {
		feed(tr, raw, uint16(100+i))
	}
	close(release)
	check.ForErr(t, 10*time.Second, time.Millisecond, func() error {
		watched.mu.Lock()
		defer watched.mu.Unlock()
		if len(watched.seqs) < 20 {
			return fmt.Errorf("%d of 20 packets", len(watched.seqs))
		}
		return nil
	})
	watched.mu.Lock()
	defer watched.mu.Unlock()
	for j := 1; j < len(watched.seqs); j++ {
		if watched.seqs[j] != watched.seqs[j-1]+1 {
			t.Fatalf("seq %d after %d: %v", watched.seqs[j], watched.seqs[j-1], watched.seqs)
		}
	}
}

// A packet that waited in a shard queue longer than maxQueueDelay is dropped
// (and counted) instead of being sent late.
func TestFanoutDropsStalePackets(t *testing.T) {
	atLeastTwoProcs(t)
	tr, _ := newBenchTrack(3*minShardSize, func(int) webrtc.TrackLocalWriter { return discardWriter{} })
	defer tr.fan.close()
	st := tr.fan.state.Load()
	if len(st.shards) != 2 {
		t.Fatalf("%d shards, want 2", len(st.shards))
	}
	p := getPacket()
	n := copy(p.buf[:], rawPacket(t))
	if err := p.parse(n); err != nil {
		t.Fatal(err)
	}
	p.arrival = time.Now().Add(-2 * maxQueueDelay).UnixNano()
	tr.fan.forward(p)
	check.ForErr(t, 5*time.Second, time.Millisecond, func() error {
		if tr.fan.stale.Load() != 1 {
			return fmt.Errorf("%d stale drops", tr.fan.stale.Load())
		}
		return nil
	})
	for _, d := range st.shards[1] {
		if d.packets.Load() != 0 {
			t.Fatal("a stale packet was sent by the worker")
		}
	}
}
