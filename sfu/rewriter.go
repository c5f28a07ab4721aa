package sfu

// rewriter maps one or more incoming RTP streams (simulcast layers, or one
// stream interrupted by pauses) onto a single continuous outgoing stream.
//
// Each time the source changes, resync starts a new segment: the first
// packet of the segment gets the sequence number after the last one sent and
// a timestamp advanced by the wall-clock time since the last packet. Inside a
// segment, offsets are constant, so reordered and retransmitted packets keep
// their place. Input sequence numbers are extended to 32 bits so that packets
// older than the segment start are recognised across wrap-around.
//
// A rewriter is not safe for concurrent use; DownTrack guards it.
type rewriter struct {
	clockRate uint32

	started bool
	resync  bool

	seqOffset uint16
	tsOffset  uint32

	// Highest extended input sequence number of the segment and where the
	// segment began; packets before segStart belong to the previous source.
	maxExt   uint32
	segStart uint32

	// Last output values of the highest packet, and its arrival time in ns.
	lastSeq     uint16
	lastTS      uint32
	lastArrival int64

	// The latest segments, newest at segs[(segHead-1)%len], for mapping a
	// subscriber's NACK back onto the source packet.
	segs    [segHistory]segment
	segHead int
	nsegs   int
}

// segHistory is how many segments a NACK can reach back into: more than the
// layer switches and resumptions that fit in the packet cache's window.
const segHistory = 8

// segment is where one source's packets landed in the outgoing numbering.
type segment struct {
	outStart  uint16 // outgoing sequence number of the segment's first packet
	seqOffset uint16
	tsOffset  uint32
	src       int8 // simulcast layer
}

func newRewriter(clockRate uint32) rewriter {
	return rewriter{clockRate: clockRate}
}

// startSegment makes the next packet begin a new segment.
func (r *rewriter) startSegment() { r.resync = true }

// rewrite returns the outgoing sequence number and timestamp for a packet,
// or ok=false if the packet predates the current segment and must be dropped.
func (r *rewriter) rewrite(seq uint16, ts uint32, arrival int64, src int8) (outSeq uint16, outTS uint32, ok bool) {
	if !r.started || r.resync {
		if !r.started {
			// The first segment keeps the source's numbering.
			r.seqOffset, r.tsOffset = 0, 0
		} else {
			r.seqOffset = r.lastSeq + 1 - seq
			gap := uint32(1)
			if d := arrival - r.lastArrival; d > 0 && r.clockRate > 0 {
				if g := uint64(d) * uint64(r.clockRate) / 1e9; g > 0 {
					gap = uint32(g)
				}
			}
			r.tsOffset = r.lastTS + gap - ts
		}
		r.started, r.resync = true, false
		r.maxExt = 1<<16 | uint32(seq) // leave room below for reordering
		r.segStart = r.maxExt
		r.lastSeq, r.lastTS, r.lastArrival = seq+r.seqOffset, ts+r.tsOffset, arrival
		r.segs[r.segHead] = segment{outStart: r.lastSeq, seqOffset: r.seqOffset, tsOffset: r.tsOffset, src: src}
		r.segHead = (r.segHead + 1) % segHistory
		r.nsegs = min(r.nsegs+1, segHistory)
		return r.lastSeq, r.lastTS, true
	}

	ext := r.maxExt + uint32(int32(int16(seq-uint16(r.maxExt))))
	if ext < r.segStart {
		return 0, 0, false
	}
	outSeq, outTS = seq+r.seqOffset, ts+r.tsOffset
	if ext > r.maxExt {
		r.maxExt = ext
		r.lastSeq, r.lastTS, r.lastArrival = outSeq, outTS, arrival
	}
	return outSeq, outTS, true
}

// source maps an outgoing sequence number back onto the source packet: its
// layer, its sequence number there and the timestamp offset to apply. ok is
// false for a number not sent yet or older than the segments kept.
func (r *rewriter) source(outSeq uint16) (src int8, seq uint16, tsOffset uint32, ok bool) {
	if !r.started || int16(outSeq-r.lastSeq) > 0 {
		return 0, 0, 0, false
	}
	for i := 1; i <= r.nsegs; i++ {
		s := &r.segs[(r.segHead-i+segHistory)%segHistory]
		if back := r.lastSeq - outSeq; back <= r.lastSeq-s.outStart {
			return s.src, outSeq - s.seqOffset, s.tsOffset, true
		}
	}
	return 0, 0, 0, false
}
