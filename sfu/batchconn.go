package sfu

import (
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// maxBatch is the most datagrams one sendmmsg carries.
const maxBatch = 64

// maxQueuedBatches is how many full batches a socket queues before a writer
// waits for them to be sent.
const maxQueuedBatches = 8

// batchConn is a UDP socket under the ICE mux. While a fan-out pass runs on
// any goroutine, datagrams written to it are copied into a batch and sent
// with one sendmmsg when a pass ends (or the batch is full), instead of one
// sendto each. Writes made while no pass runs (ICE, DTLS, RTCP outside the
// forwarding path) go out at once.
//
// On Linux the socket's system calls bypass the Go runtime's syscall
// bookkeeping (see rawSocket): for a socket that never blocks, that
// bookkeeping cost more than the calls themselves.
//
// The batch is swapped out under mu and sent after it, so no lock is held
// across the system call but sendMu, which orders sends. Order is kept per
// socket: a batch is sent before any later write can be, since a write that
// finds the batch full sends what is queued first, and a write outside a
// pass sends the queue before itself.
//
// A flush does not wait for another goroutine's send: it marks the socket
// pending and returns if sendMu is taken, and whoever holds sendMu sends
// again, after letting go, while the mark is set. Every fan-out goroutine of
// a room (a reader and a shard worker per track) ends its passes on the same
// few sockets, and in a meeting of several publishers they would otherwise
// queue on sendMu behind each other's sendmmsg, each parking its thread.
// Only a writer that finds maxQueuedBatches full batches waits, so the queue
// stays bounded when sending falls behind.
//
// Lock order: sendMu, then mu.
type batchConn struct {
	*net.UDPConn
	sock *rawSocket

	passes *atomic.Int32 // fan-out passes running now, shared by a group's sockets

	mu   sync.Mutex
	cur  *batch   // being filled
	full []*batch // filled, waiting to be sent, oldest first

	// sendMu orders the sending of taken batches and of single writes;
	// sending is the list flush works through, reused.
	sendMu  sync.Mutex
	sending []*batch
	pending atomic.Bool // a flush found sendMu taken; its holder sends again

	batches, datagrams atomic.Uint64 // sendmmsg calls and the datagrams they carried
}

type batch struct {
	msgs []ipv4.Message
	bufs [maxBatch][packetMTU]byte
	// iov holds each message's one-element Buffers, so queueing a datagram
	// allocates nothing.
	iov [maxBatch][1][]byte
}

var batchPool = sync.Pool{New: func() any {
	b := &batch{msgs: make([]ipv4.Message, 0, maxBatch)}
	return b
}}

// newBatchConn wraps c; passes counts the fan-out passes of every socket
// that flushes together (socketGroup).
func newBatchConn(c *net.UDPConn, passes *atomic.Int32) (*batchConn, error) {
	s, err := newRawSocket(c)
	if err != nil {
		return nil, err
	}
	return &batchConn{UDPConn: c, sock: s, passes: passes}, nil
}

// ReadFrom reads one datagram. Only the mux's reader calls it.
func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) { return c.sock.readFrom(b) }

// WriteTo queues b while a pass runs, else sends it.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.passes.Load() == 0 || len(b) > packetMTU {
		c.sendMu.Lock()
		c.sendLocked(true) // what is queued goes first
		n, err := c.sock.writeTo(b, addr)
		c.releaseSend()
		return n, err
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
	bt.iov[i][0] = bt.bufs[i][:n]
	bt.msgs = append(bt.msgs, ipv4.Message{Buffers: bt.iov[i][:], Addr: addr})
	full := len(c.full)
	c.mu.Unlock()
	switch {
	case full >= maxQueuedBatches:
		c.sendMu.Lock()
		c.sendLocked(false)
		c.releaseSend()
	case c.passes.Load() == 0:
		// The last pass ended between the check above and the queueing.
		c.flush()
	case full > 0:
		c.send(false)
	}
	return len(b), nil
}

// flush sends every queued datagram.
func (c *batchConn) flush() { c.send(true) }

// send sends the full batches and, with partial, the one being filled, in
// order: now, or, when another goroutine is sending, by that goroutine
// (all of them) before it returns.
//
// Only a partial send leaves the mark: full batches left queued go with the
// next flush, and there is one to come, since they were queued because a pass
// was running and its end flushes. Whoever takes sendMu
// takes the mark with it and honours it, so that a send of full batches only
// cannot clear a flush's mark without sending the partial batch.
func (c *batchConn) send(partial bool) {
	if partial {
		c.pending.Store(true)
	}
	for c.sendMu.TryLock() {
		if !c.sendAndUnlock(partial) {
			return
		}
		partial = true // a flush came meanwhile
	}
}

// sendAndUnlock is send's turn with sendMu held: it takes the mark, sends,
// unlocks, and reports whether a flush left a mark meanwhile.
func (c *batchConn) sendAndUnlock(partial bool) bool {
	if c.pending.Swap(false) {
		partial = true
	}
	c.sendLocked(partial)
	c.sendMu.Unlock()
	return c.pending.Load()
}

// releaseSend unlocks sendMu and sends what a flush left pending meanwhile.
func (c *batchConn) releaseSend() {
	c.sendMu.Unlock()
	if c.pending.Load() {
		c.flush()
	}
}

// sendLocked is send with sendMu held.
func (c *batchConn) sendLocked(partial bool) {
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
		n, err := c.sock.writeBatch(msgs)
		if err != nil || n <= 0 {
			// A datagram the kernel refused (an unreachable address, a
			// destination of the wrong family) is lost, as a sendto of it
			// would be; go on with the rest.
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
