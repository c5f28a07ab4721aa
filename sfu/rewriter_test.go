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
				seq, ts, ok := r.rewrite(p.seq, p.ts, p.arrival)
				if ok != p.ok || (ok && (seq != p.seq2 || ts != p.ts2)) {
					t.Fatalf("packet %d: got (%d, %d, %v), want (%d, %d, %v)", i, seq, ts, ok, p.seq2, p.ts2, p.ok)
				}
			}
		})
	}
}
