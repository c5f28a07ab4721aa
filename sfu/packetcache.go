package sfu

import "sync"

// cacheSize is how many packets of one incoming video stream are kept for
// retransmission: a power of two, about 2 s of 2 Mbit/s video.
const cacheSize = 512

// packetCache keeps the latest packets of one incoming stream (a simulcast
// layer, or the only one) so that subscribers' NACKs are answered once per
// track instead of by a copying responder per subscriber. It holds a
// reference to the fan-out's own pooled packet: caching costs no copy.
//
// The reader goroutine of the stream is the only writer; NACK handlers on
// subscribers' RTCP goroutines read. mu is held only to swap or reference a
// slot, never across a write to the network.
type packetCache struct {
	mu    sync.Mutex
	slots [cacheSize]*packet
}

// put stores p, taking a reference of its own, and drops the packet it
// replaces.
func (c *packetCache) put(p *packet) {
	p.refs.Add(1)
	i := p.hdr.SequenceNumber & (cacheSize - 1)
	c.mu.Lock()
	old := c.slots[i]
	c.slots[i] = p
	c.mu.Unlock()
	if old != nil {
		old.release()
	}
}

// get returns the cached packet with sequence number seq, with a reference
// the caller releases, or nil.
func (c *packetCache) get(seq uint16) *packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.slots[seq&(cacheSize-1)]
	if p == nil || p.hdr.SequenceNumber != seq {
		return nil
	}
	p.refs.Add(1)
	return p
}

// clear drops every cached packet.
func (c *packetCache) clear() {
	c.mu.Lock()
	slots := c.slots
	c.slots = [cacheSize]*packet{}
	c.mu.Unlock()
	for _, p := range slots {
		if p != nil {
			p.release()
		}
	}
}
