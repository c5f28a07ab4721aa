package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/onstagehq/onstage/internal/authn"
)

// Connection tuning. The queue holds batches (one or more frames each), so a resume replay of
// up to 500 chats takes one slot.
const (
	sendQueueSize = 256
	// defaultWriteTimeout bounds one frame's write; a client stuck longer is dropped.
	defaultWriteTimeout = 10 * time.Second
	rateLimit           = 50  // messages per second, sustained
	rateBurst           = 100 // messages
)

// conn is one WebSocket. Its reader goroutine reads and handles messages one at a time; its
// writer goroutine drains the bounded send queue and sends pings. Nothing else ever touches
// the socket: every other goroutine only enqueues without blocking.
type conn struct {
	hub *Hub
	ws  *websocket.Conn // nil in handler-only tests and fuzzing
	id  uint64
	who authn.Identity
	log *slog.Logger

	send *sendQueue
	// done is closed by fail; the writer then closes the socket with closeCode.
	done      chan struct{}
	closeOnce sync.Once
	closeCode websocket.StatusCode
	closeMsg  string

	// lastRead is written by the reader only.
	bucket tokenBucket

	mu     sync.Mutex // guards member; lock order: room.mu → member.mu → conn.mu
	member *member    // the participant this socket is attached to, or nil
}

func newConn(h *Hub, ws *websocket.Conn, id uint64, who authn.Identity) *conn {
	return &conn{
		hub: h, ws: ws, id: id, who: who,
		log:    h.log.With("conn", id, "user_id", who.UserID),
		send:   newSendQueue(sendQueueSize),
		done:   make(chan struct{}),
		bucket: tokenBucket{rate: rateLimit, burst: rateBurst, tokens: rateBurst},
	}
}

// attached returns the member this socket speaks for.
func (c *conn) attached() *member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.member
}

func (c *conn) setMember(m *member) {
	c.mu.Lock()
	c.member = m
	c.mu.Unlock()
}

// detachFrom clears the member if it is still m.
func (c *conn) detachFrom(m *member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.member == m {
		c.member = nil
	}
}

// enqueue queues frames for the writer without ever blocking. A full queue means the client
// cannot keep up: it is closed with 1008 and the frames are dropped. It reports whether the
// frames were queued.
func (c *conn) enqueue(frames ...[]byte) bool {
	if len(frames) == 0 {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
	}
	if c.send.push(frames) {
		c.hub.stats.messagesOut.Add(uint64(len(frames)))
		return true
	}
	c.hub.stats.slowClosed.Add(1)
	c.fail(websocket.StatusPolicyViolation, "send queue full")
	return false
}

// sendMsg encodes and enqueues one message.
func (c *conn) sendMsg(typ string, id *string, data any) {
	b, err := EncodeMessage(typ, id, data)
	if err != nil {
		c.log.Error("encode message", "type", typ, "err", err)
		return
	}
	c.enqueue(b)
}

func (c *conn) ack(id *string, data any) {
	if id == nil {
		return
	}
	c.sendMsg(TypeAck, id, data)
}

func (c *conn) sendError(id *string, err error) {
	pe, internal := toProtocol(err)
	if internal {
		c.log.Error("handling message", "err", err)
	}
	c.sendMsg(TypeError, id, ErrorData{Code: pe.Code, Message: pe.Message})
}

// fail asks the writer to close the socket with code. The first call wins.
func (c *conn) fail(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeMsg = code, reason
		close(c.done)
	})
}

// closed reports whether fail was called.
func (c *conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// writeLoop owns all writes. It returns when the socket is closed.
func (c *conn) writeLoop(ctx context.Context) {
	ping := time.NewTicker(c.hub.p.PingInterval)
	defer ping.Stop()
	pingFrame, _ := EncodeMessage(TypePing, nil, nil)
	for {
		select {
		case <-c.done:
			// Frames still queued are dropped: the close frame goes out next.
			_ = c.ws.Close(c.closeCode, c.closeMsg)
			return
		case <-c.send.ready:
			frames, _ := c.send.pop()
			for _, f := range frames {
				if err := c.write(ctx, f); err != nil {
					c.fail(websocket.StatusAbnormalClosure, "write failed")
					_ = c.ws.CloseNow()
					return
				}
			}
		case <-ping.C:
			if err := c.write(ctx, pingFrame); err != nil {
				c.fail(websocket.StatusAbnormalClosure, "write failed")
				_ = c.ws.CloseNow()
				return
			}
			c.hub.stats.messagesOut.Add(1)
		}
	}
}

func (c *conn) write(ctx context.Context, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, c.hub.writeTimeout)
	defer cancel()
	return c.ws.Write(wctx, websocket.MessageText, b)
}

// readLoop reads and handles messages in order until the socket fails. A client silent for
// ReadTimeout is dropped.
func (c *conn) readLoop(ctx context.Context) {
	for {
		rctx, cancel := context.WithTimeout(ctx, c.hub.p.ReadTimeout)
		typ, b, err := c.ws.Read(rctx)
		timedOut := rctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil {
			switch {
			case timedOut:
				c.fail(websocket.StatusPolicyViolation, "no message for too long")
			case errors.Is(err, websocket.ErrMessageTooBig):
				c.fail(websocket.StatusMessageTooBig, "message too big")
			default:
				c.fail(websocket.StatusNormalClosure, "")
			}
			return
		}
		c.hub.stats.messagesIn.Add(1)
		c.waitSendRoom(ctx)
		if typ != websocket.MessageText {
			c.sendError(nil, badRequest("frames must be text"))
			continue
		}
		c.hub.handle(ctx, c, b)
		if c.closed() {
			return
		}
	}
}

// waitSendRoom holds the reader while the client's send queue is three quarters full: a
// client that sends faster than the writer delivers its own replies is slowed down through
// its TCP window instead of overflowing its queue and being closed as a slow reader. The wait
// is bounded by the write timeout; a client that reads nothing at all still fills the queue
// and is closed.
func (c *conn) waitSendRoom(ctx context.Context) {
	high := c.send.limit * 3 / 4
	if c.send.len() < high {
		return
	}
	deadline := time.NewTimer(c.hub.writeTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for c.send.len() >= high {
		select {
		case <-c.done:
			return
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// tokenBucket is a per-connection rate limiter, used only by the reader goroutine.
type tokenBucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (b *tokenBucket) allow(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// ---- connection caps ----

// Defaults of HubParams' connection caps.
const (
	DefaultMaxConnsPerUser    = 8
	DefaultMaxConnsPerAddress = 32
)

// connCaps counts the open sockets per user and per client address, so that one user or
// one address cannot hold an unbounded share of the node's sockets (each has two goroutines
// and a send queue).
type connCaps struct {
	mu     sync.Mutex
	byUser map[string]int
	byAddr map[string]int
}

// take counts a socket of user from addr, or reports which cap it would exceed.
func (cc *connCaps) take(user, addr string, maxUser, maxAddr int) *protoError {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.byUser == nil {
		cc.byUser, cc.byAddr = map[string]int{}, map[string]int{}
	}
	switch {
	case cc.byUser[user] >= maxUser:
		return newError(CodeRateLimited, fmt.Sprintf("too many connections for this user (at most %d)", maxUser))
	case cc.byAddr[addr] >= maxAddr:
		return newError(CodeRateLimited, fmt.Sprintf("too many connections from this address (at most %d)", maxAddr))
	}
	cc.byUser[user]++
	cc.byAddr[addr]++
	return nil
}

func (cc *connCaps) release(user, addr string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.byUser[user]--; cc.byUser[user] <= 0 {
		delete(cc.byUser, user)
	}
	if cc.byAddr[addr]--; cc.byAddr[addr] <= 0 {
		delete(cc.byAddr, addr)
	}
}

// takeSocket counts a socket against the caps before its upgrade, so that the count is exact
// the moment the client sees the upgrade answer (a client's next dial is counted after this
// one). Over a cap it returns the refusal, which refuseSocket sends once the socket is
// accepted; otherwise the caller runs release when the socket is gone.
func (h *Hub) takeSocket(who authn.Identity, r *http.Request) (release func(), refused *protoError) {
	addr := clientAddr(r)
	if err := h.caps.take(who.UserID, addr, h.p.MaxConnsPerUser, h.p.MaxConnsPerAddress); err != nil {
		h.stats.refused.Add(1)
		h.log.Debug("socket refused", "user_id", who.UserID, "addr", addr, "err", err)
		return nil, err
	}
	return func() { h.caps.release(who.UserID, addr) }, nil
}

// refuseSocket sends a socket over a cap an error with code rate_limited and closes it with
// 1008 (policy violation).
func (h *Hub) refuseSocket(ctx context.Context, ws *websocket.Conn, err *protoError) {
	if b, e := EncodeMessage(TypeError, nil, ErrorData{Code: err.Code, Message: err.Message}); e == nil {
		wctx, cancel := context.WithTimeout(ctx, h.writeTimeout)
		_ = ws.Write(wctx, websocket.MessageText, b)
		cancel()
	}
	_ = ws.Close(websocket.StatusPolicyViolation, "too many connections")
}

// clientAddr is the request's client address without its port (RemoteAddr, which the HTTP
// layer sets from X-Forwarded-For when the request came through a trusted proxy).
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
