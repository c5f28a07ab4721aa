package main

import (
	"math"
	"math/bits"
	"sort"
)

// seqWindow is how far back (in packets) a late packet is still recognised as a duplicate or a
// reordered packet rather than a stale one.
const seqWindow = 1024

// seqTracker accounts for a stream of 32-bit packet counters that may wrap, arrive out of order
// or be duplicated. Loss is what was expected (highest - lowest + 1) minus what arrived once.
type seqTracker struct {
	started   bool
	base      uint64 // lowest extended counter seen
	highest   uint64 // highest extended counter seen
	received  uint64 // unique packets
	dups      uint64
	reordered uint64 // arrived after a higher counter
	stale     uint64 // older than the window: not counted as received
	seen      [seqWindow / 64]uint64
}

type seqCounts struct {
	Expected, Received, Dups, Reordered, Stale uint64
}

func (c seqCounts) Lost() uint64 {
	if c.Received >= c.Expected {
		return 0
	}
	return c.Expected - c.Received
}

func (c seqCounts) sub(o seqCounts) seqCounts {
	return seqCounts{c.Expected - o.Expected, c.Received - o.Received, c.Dups - o.Dups,
		c.Reordered - o.Reordered, c.Stale - o.Stale}
}

func (c *seqCounts) add(o seqCounts) {
	c.Expected += o.Expected
	c.Received += o.Received
	c.Dups += o.Dups
	c.Reordered += o.Reordered
	c.Stale += o.Stale
}

func (t *seqTracker) bit(ext uint64) (word int, mask uint64) {
	i := ext % seqWindow
	return int(i / 64), 1 << (i % 64)
}

// extend maps a 32-bit counter to the extended counter nearest to the highest one seen.
func (t *seqTracker) extend(c uint32) uint64 {
	const span = 1 << 32
	cand := t.highest&^(span-1) | uint64(c)
	switch {
	case cand > t.highest && cand-t.highest > span/2 && cand >= span:
		cand -= span
	case cand < t.highest && t.highest-cand > span/2:
		cand += span
	}
	return cand
}

// push records one counter and reports whether it was a duplicate.
func (t *seqTracker) push(c uint32) (dup bool) {
	if !t.started {
		t.started = true
		// Start in the middle of an epoch so that a first packet near a wrap can be extended
		// both ways without going negative.
		ext := uint64(1)<<32 | uint64(c)
		t.base, t.highest, t.received = ext, ext, 1
		w, m := t.bit(ext)
		t.seen[w] |= m
		return false
	}
	ext := t.extend(c)
	switch {
	case ext > t.highest:
		gap := ext - t.highest
		if gap >= seqWindow {
			t.seen = [seqWindow / 64]uint64{}
		} else {
			for e := t.highest + 1; e < ext; e++ {
				w, m := t.bit(e)
				t.seen[w] &^= m
			}
		}
		t.highest = ext
		w, m := t.bit(ext)
		t.seen[w] |= m
		t.received++
		return false
	case t.highest-ext >= seqWindow:
		t.stale++
		return false
	default:
		w, m := t.bit(ext)
		if t.seen[w]&m != 0 {
			t.dups++
			return true
		}
		t.seen[w] |= m
		t.received++
		t.reordered++
		if ext < t.base {
			t.base = ext
		}
		return false
	}
}

func (t *seqTracker) counts() seqCounts {
	if !t.started {
		return seqCounts{}
	}
	return seqCounts{Expected: t.highest - t.base + 1, Received: t.received, Dups: t.dups,
		Reordered: t.reordered, Stale: t.stale}
}

// histogram is a log-linear histogram of non-negative integers (microseconds): exact below 128,
// then 64 buckets per power of two (relative error under 1.6%).
type histogram struct {
	counts   []uint64
	n        uint64
	sum      float64
	min, max int64
}

const (
	histExact   = 128
	histSub     = 64
	histMaxExp  = 40
	histBuckets = histExact + histMaxExp*histSub
)

func newHistogram() *histogram { return &histogram{counts: make([]uint64, histBuckets)} }

func histIndex(v int64) int {
	if v < 0 {
		v = 0
	}
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - 7 // v>>shift is in [64,128)
	idx := histExact + (shift-1)*histSub + int(uint64(v)>>uint(shift)) - histSub
	if idx >= histBuckets {
		idx = histBuckets - 1
	}
	return idx
}

// histValue returns a representative value (the bucket's midpoint) for an index.
func histValue(idx int) float64 {
	if idx < histExact {
		return float64(idx)
	}
	shift := (idx-histExact)/histSub + 1
	lo := uint64((idx-histExact)%histSub+histSub) << uint(shift)
	width := uint64(1) << uint(shift)
	return float64(lo) + float64(width-1)/2
}

func (h *histogram) record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

func (h *histogram) reset() {
	clear(h.counts)
	h.n, h.sum, h.min, h.max = 0, 0, 0, 0
}

// quantile returns the nearest-rank q-quantile (0 < q ≤ 1); NaN when empty.
func (h *histogram) quantile(q float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			v := histValue(i)
			return math.Min(math.Max(v, float64(h.min)), float64(h.max))
		}
	}
	return float64(h.max)
}

func (h *histogram) mean() float64 {
	if h.n == 0 {
		return math.NaN()
	}
	return h.sum / float64(h.n)
}

// percentile returns the nearest-rank p-th percentile (0–100) of values; NaN when empty.
func percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}
