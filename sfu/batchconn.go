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

	mu  sync.Mutex
	cur *batch

	// sendMu orders the sending of swapped-out batches with each other.
	sendMu sync.Mutex

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
	if c.cur == nil {
		c.cur = batchPool.Get().(*batch)
	}
	bt := c.cur
	i := len(bt.msgs)
	n := copy(bt.bufs[i][:], b)
	bt.msgs = append(bt.msgs, ipv4.Message{Buffers: [][]byte{bt.bufs[i][:n]}, Addr: addr})
	full := len(bt.msgs) == maxBatch
	c.mu.Unlock()
	// The last pass may have ended between the check above and the queueing.
	if full || c.passes.Load() == 0 {
		c.flush()
	}
	return len(b), nil
}

// flush sends the queued datagrams.
func (c *batchConn) flush() {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.mu.Lock()
	bt := c.cur
	c.cur = nil
	c.mu.Unlock()
	if bt == nil {
		return
	}
	msgs := bt.msgs
	for len(msgs) > 0 {
		n, err := c.pc.WriteBatch(msgs, 0)
		if err != nil {
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
