package sfu

import (
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// maxBatch is the most datagrams one sendmmsg carries.
const maxBatch = 64

// batchConn is the UDP socket under the single-port ICE mux. While a fan-out
// pass runs on any goroutine, datagrams written to it are copied into a batch
// and sent with one sendmmsg when a pass ends (or the batch is full), instead
// of one sendto each: the system call, not SRTP, is most of the cost of a
// forwarded packet. Writes made while no pass runs (ICE, DTLS, RTCP outside
// the forwarding path) go out at once.
//
// The batch is swapped out under mu and sent after it, so no lock is held
// across the system call. Order is kept per socket: a batch is sent before
// any later write can be, since a write that finds the batch full or too
// small sends what is queued first.
type batchConn struct {
	*net.UDPConn
	pc *ipv4.PacketConn // sendmmsg; also carries IPv6 destinations on a dual-stack socket

	passes atomic.Int32 // fan-out passes running now

	mu   sync.Mutex
	cur  *batch   // being filled
	full []*batch // filled, waiting to be sent, oldest first

	// sendMu orders the sending of taken batches with each other; sending
	// is the list flush works through, reused.
	sendMu  sync.Mutex
	sending []*batch

	batches, datagrams atomic.Uint64 // sendmmsg calls and the datagrams they carried
}

type batch struct {
	msgs []ipv4.Message
	bufs [maxBatch][packetMTU]byte
}

var batchPool = sync.Pool{New: func() any {
	b := &batch{msgs: make([]ipv4.Message, 0, maxBatch)}
	return b
}}

func newBatchConn(c *net.UDPConn) *batchConn {
	return &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c)}
}

// beginPass and endPass bracket a fan-out pass; the last pass to end sends
// the batch.
func (c *batchConn) beginPass() { c.passes.Add(1) }

func (c *batchConn) endPass() {
	c.passes.Add(-1)
	c.flush()
}

// WriteTo queues b while a pass runs, else sends it.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.passes.Load() == 0 || len(b) > packetMTU {
		c.flush() // what is queued goes first
		return c.UDPConn.WriteTo(b, addr)
	}
	c.mu.Lock()
	if c.cur != nil && len(c.cur.msgs) == maxBatch {
		c.full = append(c.full, c.cur)
		c.cur = nil
	}
	if c.cur == nil {
		c.cur = batchPool.Get().(*batch)
	}
	bt := c.cur
	i := len(bt.msgs)
	n := copy(bt.bufs[i][:], b)
	bt.msgs = append(bt.msgs, ipv4.Message{Buffers: [][]byte{bt.bufs[i][:n]}, Addr: addr})
	send := len(c.full) > 0
	c.mu.Unlock()
	switch {
	case c.passes.Load() == 0:
		// The last pass ended between the check above and the queueing.
		c.flush()
	case send:
		c.send(false)
	}
	return len(b), nil
}

// flush sends every queued datagram.
func (c *batchConn) flush() { c.send(true) }

// send sends the full batches and, with partial, the one being filled; in
// order.
func (c *batchConn) send(partial bool) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.mu.Lock()
	if (c.cur == nil || !partial) && len(c.full) == 0 {
		c.mu.Unlock()
		return
	}
	c.sending = append(c.sending[:0], c.full...)
	if c.cur != nil && partial {
		c.sending = append(c.sending, c.cur)
		c.cur = nil
	}
	clear(c.full)
	c.full = c.full[:0]
	c.mu.Unlock()
	for _, bt := range c.sending {
		c.write(bt)
	}
	clear(c.sending)
}

// write sends one batch; called with sendMu held.
func (c *batchConn) write(bt *batch) {
	msgs := bt.msgs
	for len(msgs) > 0 {
		n, err := c.pc.WriteBatch(msgs, 0)
		if err != nil || n <= 0 {
			// A datagram the kernel refused (an unreachable address, a full
			// buffer) is lost, as a sendto of it would be; go on with the rest.
			n = max(n, 1)
		}
		c.batches.Add(1)
		c.datagrams.Add(uint64(n))
		msgs = msgs[n:]
	}
	for i := range bt.msgs {
		bt.msgs[i] = ipv4.Message{}
	}
	bt.msgs = bt.msgs[:0]
	batchPool.Put(bt)
}
