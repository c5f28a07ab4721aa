package sfu

import "testing"

func TestRewriter(t *testing.T) {
	const ms = int64(1e6)
	type in struct {
		resync  bool
		seq     uint16
		ts      uint32
		arrival int64
		// want
		seq2 uint16
		ts2  uint32
		ok   bool
	}
	tests := []struct {
		name  string
		clock uint32
		pkts  []in
	}{
		{"first segment keeps numbering", 90000, []in{
			{false, 100, 1000, 0, 100, 1000, true},
			{false, 101, 2800, 20 * ms, 101, 2800, true},
			{false, 103, 4600, 40 * ms, 103, 4600, true}, // gap passes through
			{false, 102, 4600, 41 * ms, 102, 4600, true}, // reordered
		}},
		{"layer switch continues numbering", 90000, []in{
			{false, 100, 1000, 0, 100, 1000, true},
			{false, 101, 2800, 20 * ms, 101, 2800, true},
			{true, 5000, 777, 40 * ms, 102, 2800 + 1800, true}, // 20 ms later = 1800 ticks
			{false, 5001, 2577, 60 * ms, 103, 2800 + 1800 + 1800, true},
			{false, 4999, 777, 61 * ms, 0, 0, false}, // older than the switch
		}},
		{"wrap-around inside a segment", 48000, []in{
			{false, 65534, 4294966000, 0, 65534, 4294966000, true},
			{false, 65535, 4294966960, 20 * ms, 65535, 4294966960, true},
			{false, 0, 624, 40 * ms, 0, 624, true},
			{false, 1, 1584, 60 * ms, 1, 1584, true},
			{false, 65535, 4294966960, 61 * ms, 65535, 4294966960, true}, // late, same segment
		}},
		{"switch across output wrap", 90000, []in{
			{false, 65535, 10, 0, 65535, 10, true},
			{true, 7, 500, 10 * ms, 0, 10 + 900, true},
			{false, 8, 600, 20 * ms, 1, 10 + 900 + 100, true},
			{false, 6, 400, 21 * ms, 0, 0, false},
		}},
		{"resume after pause with zero elapsed time", 90000, []in{
			{false, 10, 100, 5 * ms, 10, 100, true},
			{true, 20, 900, 5 * ms, 11, 101, true}, // at least one tick
		}},
		{"input wrap right after a switch", 90000, []in{
			{false, 1, 0, 0, 1, 0, true},
			{true, 65535, 0, 0, 2, 1, true},
			{false, 0, 0, 0, 3, 1, true},
			{false, 65534, 0, 0, 0, 0, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRewriter(tt.clock)
			for i, p := range tt.pkts {
				if p.resync {
					r.startSegment()
				}
				seq, ts, ok := r.rewrite(p.seq, p.ts, p.arrival, 0)
				if ok != p.ok || (ok && (seq != p.seq2 || ts != p.ts2)) {
					t.Fatalf("packet %d: got (%d, %d, %v), want (%d, %d, %v)", i, seq, ts, ok, p.seq2, p.ts2, p.ok)
				}
			}
		})
	}
}

// source maps an outgoing number back onto the segment it was sent in.
func TestRewriterSource(t *testing.T) {
	r := newRewriter(90000)
	r.rewrite(100, 1000, 0, 0) // layer 0: out 100..101
	r.rewrite(101, 2800, 1, 0)
	r.startSegment()
	r.rewrite(7000, 50, 2, 2) // layer 2: out 102..103
	r.rewrite(7001, 1850, 3, 2)
	tests := []struct {
		out   uint16
		src   int8
		seq   uint16
		found bool
	}{
		{100, 0, 100, true},
		{101, 0, 101, true},
		{102, 2, 7000, true},
		{103, 2, 7001, true},
		{104, 0, 0, false}, // not sent yet
		{99, 0, 0, false},  // before the first packet: never sent
	}
	for _, tc := range tests {
		src, seq, off, ok := r.source(tc.out)
		if ok != tc.found || (ok && (src != tc.src || seq != tc.seq)) {
			t.Errorf("source(%d) = %d, %d, %v; want %d, %d, %v", tc.out, src, seq, ok, tc.src, tc.seq, tc.found)
		}
		if ok && src == 2 && 50+off != 2800+1 && 50+off != 2800+90 {
			// 1 ms after the last packet at 90 kHz: 90 ticks later.
			t.Errorf("layer 2 timestamp %d", 50+off)
		}
	}
}
