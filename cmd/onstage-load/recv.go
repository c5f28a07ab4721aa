package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// peerStats is what one simulated participant measured.
type peerStats struct {
	name      string
	meeting   int
	publishes bool
	subscribe bool

	wsOpen     atomic.Int64 // Unix ns: WebSocket open (or signaling start for the baseline)
	joined     atomic.Int64 // Unix ns: join acknowledged
	firstMedia atomic.Int64 // Unix ns: first stamped media packet
	published  atomic.Int64 // Unix ns: publisher connected and sending
	subOffer   atomic.Int64 // Unix ns: first subscriber offer received
	subConn    atomic.Int64 // Unix ns: subscriber connection connected
	failed     atomic.Bool
	errMsg     atomic.Value // string

	mu       sync.Mutex
	streams  map[uint32]*recvStream // by stamp tag
	base     map[uint32]seqCounts   // counters at the start of the measurement window
	baseByte map[uint32]uint64
	lat      [2]*histogram // window latency, µs, by kind
	interval *histogram    // latency since the last progress tick, µs
	unstamp  uint64
}

type recvStream struct {
	kind  byte
	seq   seqTracker
	bytes uint64
}

func newPeerStats(name string, meeting int) *peerStats {
	return &peerStats{name: name, meeting: meeting, streams: map[uint32]*recvStream{},
		base: map[uint32]seqCounts{}, baseByte: map[uint32]uint64{},
		lat: [2]*histogram{newHistogram(), newHistogram()}, interval: newHistogram()}
}

func (s *peerStats) fail(err error) {
	if err == nil {
		return
	}
	if s.failed.CompareAndSwap(false, true) {
		s.errMsg.Store(err.Error())
	}
}

func (s *peerStats) errString() string {
	v, _ := s.errMsg.Load().(string)
	return v
}

// global counters, updated on every received packet
type counters struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
}

// onPacket accounts one received RTP packet of a track with the given codec.
func (s *peerStats) onPacket(c codec, p *rtp.Packet, now time.Time, g *counters) {
	st, err := readStamp(c, p.Payload)
	g.packets.Add(1)
	g.bytes.Add(uint64(len(p.Payload)))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.unstamp++
		return
	}
	if s.firstMedia.Load() == 0 {
		s.firstMedia.Store(now.UnixNano())
	}
	rs := s.streams[st.Tag]
	if rs == nil {
		rs = &recvStream{kind: st.Kind}
		s.streams[st.Tag] = rs
	}
	rs.bytes += uint64(len(p.Payload))
	if rs.seq.push(st.Counter) {
		return // duplicates are counted, not timed
	}
	us := (now.UnixNano() - st.SentUnix) / 1000
	k := st.Kind
	if k > kindVideo {
		k = kindVideo
	}
	s.lat[k].record(us)
	s.interval.record(us)
}

// startWindow resets latency and takes counter baselines: figures are from now on.
func (s *peerStats) startWindow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tag, rs := range s.streams {
		s.base[tag] = rs.seq.counts()
		s.baseByte[tag] = rs.bytes
	}
	s.lat[0].reset()
	s.lat[1].reset()
}

// windowCounts returns loss accounting and bytes since startWindow, by kind.
func (s *peerStats) windowCounts() (c [2]seqCounts, bytes [2]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tag, rs := range s.streams {
		k := rs.kind
		if k > kindVideo {
			k = kindVideo
		}
		c[k].add(rs.seq.counts().sub(s.base[tag]))
		bytes[k] += rs.bytes - s.baseByte[tag]
	}
	return c, bytes
}

func (s *peerStats) liveCounts() (c seqCounts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range s.streams {
		c.add(rs.seq.counts())
	}
	return c
}

func (s *peerStats) takeInterval(into *histogram) {
	s.mu.Lock()
	into.merge(s.interval)
	s.interval.reset()
	s.mu.Unlock()
}

func (s *peerStats) mergeLatency(into *[2]*histogram) {
	s.mu.Lock()
	into[0].merge(s.lat[0])
	into[1].merge(s.lat[1])
	s.mu.Unlock()
}
