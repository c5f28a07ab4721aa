package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"
)

// The NACK budget gives a burst at once, refills at resendRate and never
// holds more than resendBurst.
func TestDownTrackResendBudget(t *testing.T) {
	d := &DownTrack{}
	start := time.Unix(1000, 0).UnixNano()
	take := func(now int64, n int) int {
		got := 0
		for range n {
			if d.takeResend(now) {
				got++
			}
		}
		return got
	}
	steps := []struct {
		after time.Duration // since start
		ask   int
		want  int
	}{
		{0, resendBurst + 10, resendBurst},
		{0, 1, 0},
		{10 * time.Millisecond, 10, resendRate / 100},
		{5 * time.Millisecond, 10, 0}, // a clock that went back refills nothing
		{time.Hour, 2 * resendBurst, resendBurst},
	}
	for i, s := range steps {
		if got := take(start+int64(s.after), s.ask); got != s.want {
			t.Fatalf("step %d: %d of %d resends allowed, want %d", i, got, s.ask, s.want)
		}
	}
}

// One NACK that names more packets than the budget gets the budget's worth
// resent and no more.
func TestDownTrackNACKWithinBudget(t *testing.T) {
	w := &recordWriter{}
	tr, dts := newBenchTrack(1, func(int) webrtc.TrackLocalWriter { return w })
	defer tr.fan.close()
	tr.caches[0] = &packetCache{}
	defer tr.caches[0].clear()
	d := dts[0]
	raw := rawPacket(t)
	for i := range cacheSize {
		p := getPacket()
		n := copy(p.buf[:], raw)
		p.buf[2], p.buf[3] = byte(i>>8), byte(i)
		if err := p.parse(n); err != nil {
			t.Fatal(err)
		}
		p.arrival = time.Now().UnixNano()
		tr.caches[0].put(p)
		tr.fan.forward(p)
	}
	waitForwarded(t, dts, cacheSize)
	w.mu.Lock()
	first := w.seqs[0]
	w.mu.Unlock()

	// Every cached packet, twice: all of them could be resent.
	nack := &rtcp.TransportLayerNack{MediaSSRC: 1}
	for range 2 {
		for i := 0; i < cacheSize; i++ {
			nack.Nacks = append(nack.Nacks, rtcp.NackPair{PacketID: first + uint16(i)})
		}
	}
	d.handleRTCP([]rtcp.Packet{nack})
	if got := d.retransmits.Load(); got != resendBurst || resendBurst >= 2*cacheSize {
		t.Fatalf("%d packets resent for %d asked, want the budget's %d", got, len(nack.Nacks), resendBurst)
	}
	w.mu.Lock()
	resent := append([]uint16(nil), w.seqs[cacheSize:]...)
	w.mu.Unlock()
	if len(resent) != resendBurst {
		t.Fatalf("%d packets written again, want %d", len(resent), resendBurst)
	}
	for i, seq := range resent {
		if want := first + uint16(i%cacheSize); seq != want {
			t.Fatalf("resend %d is packet %d, want %d", i, seq, want)
		}
	}
}
