package signaling

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v3"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/httpx"
	"github.com/onstagehq/onstage/rooms"
	"github.com/onstagehq/onstage/sfu"
)

// Rooms is what the hub needs of the meeting domain; *rooms.Service satisfies it.
type Rooms interface {
	Join(ctx context.Context, caller authn.Identity, meetingID string, in rooms.JoinInput) (rooms.JoinResult, error)
	Admit(ctx context.Context, caller authn.Identity, meetingID string, in rooms.JoinInput) (rooms.Admission, error)
	ByCode(ctx context.Context, code string) (rooms.MeetingSummary, error)
	Leave(ctx context.Context, caller authn.Identity, meetingID string) error
	Disconnect(ctx context.Context, meetingID, participantID string) error
	End(ctx context.Context, caller authn.Identity, meetingID string) (rooms.MeetingView, error)
	SetRole(ctx context.Context, caller authn.Identity, meetingID string, target rooms.Target, role rooms.Role) (rooms.ParticipantView, error)
	TransferHost(ctx context.Context, caller authn.Identity, meetingID string, target rooms.Target) (rooms.ParticipantView, error)
	Kick(ctx context.Context, caller authn.Identity, meetingID string, target rooms.Target) error
	SetMedia(ctx context.Context, caller authn.Identity, meetingID, targetParticipantID, source string, muted bool) (rooms.MediaChange, error)
	MuteAll(ctx context.Context, caller authn.Identity, meetingID, source string) ([]rooms.MediaChange, error)
	SetPublished(ctx context.Context, meetingID, participantID, source string, published bool) (bool, error)
	PostChat(ctx context.Context, caller authn.Identity, meetingID, text, to string) (rooms.ChatView, error)
	MessagesFor(ctx context.Context, meetingID, participantID string, afterSeq int64, limit int) ([]rooms.ChatView, error)
	ParticipantByID(ctx context.Context, meetingID, participantID string) (rooms.ParticipantView, error)
}

// HubParams are the Hub's dependencies and settings. Rooms, Engine and Issuer are required;
// without Bus no domain event reaches the sockets (tests of the transport only).
type HubParams struct {
	Rooms      Rooms
	Engine     *sfu.Engine
	Issuer     *authn.Issuer
	Bus        *bus.Bus
	ICEServers []webrtc.ICEServer
	// Placement decides which node owns each meeting; a join for a meeting another node
	// owns is relayed there over Bus (relay.go). Nil runs every meeting on this node.
	Placement Placement
	// NodeID names this node in logs.
	NodeID string
	Log    *slog.Logger
	// Grace is how long a participant whose socket closed stays in the meeting (30 s).
	Grace time.Duration
	// PingInterval is how often the server sends ping (15 s).
	PingInterval time.Duration
	// ReadTimeout drops a client that sent nothing for this long (45 s).
	ReadTimeout time.Duration
	// Sessions re-checks the login behind each socket's token every SessionCheckInterval
	// (5 s) and at the upgrade; a revoked one is closed with StatusSessionRevoked (revoke.go).
	// Nil checks nothing.
	Sessions             Sessions
	SessionCheckInterval time.Duration
	// MaxConnsPerUser and MaxConnsPerAddress bound the open sockets of one user and of one
	// client address (8 and 32); one more is refused with rate_limited and closed with 1008.
	MaxConnsPerUser    int
	MaxConnsPerAddress int
	// OriginPatterns are the cross-origin hosts allowed to open a socket, as in
	// websocket.AcceptOptions; the request's own host is always allowed. Nil means
	// DefaultOriginPatterns.
	OriginPatterns []string
}

// DefaultOriginPatterns allow pages served from localhost or 127.0.0.1 on any port.
var DefaultOriginPatterns = []string{"localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[::1]:*"}

// Defaults of HubParams.
const (
	DefaultGrace        = 30 * time.Second
	DefaultPingInterval = 15 * time.Second
	DefaultReadTimeout  = 45 * time.Second
)

// Stats are the hub's counters.
type Stats struct {
	// Connections is the number of open sockets; ConnectionsTotal counts every accepted one.
	Connections      int64
	ConnectionsTotal uint64
	// MessagesIn counts client messages read; MessagesOut server messages queued.
	MessagesIn  uint64
	MessagesOut uint64
	// SlowClosed counts sockets closed because their send queue was full.
	SlowClosed uint64
	// RateLimited counts messages refused with rate_limited.
	RateLimited uint64
	// Refused counts sockets closed at once for exceeding a connection cap.
	Refused uint64
	// Rooms is the number of live meetings on this node; Members their participants
	// (including those within their reconnect grace).
	Rooms   int
	Members int
}

type counters struct {
	connections      atomic.Int64
	connectionsTotal atomic.Uint64
	messagesIn       atomic.Uint64
	messagesOut      atomic.Uint64
	slowClosed       atomic.Uint64
	rateLimited      atomic.Uint64
	refused          atomic.Uint64
}

// Hub serves /ws and owns this node's rooms.
type Hub struct {
	p     HubParams
	log   *slog.Logger
	stats counters

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the hub starts

	nextConn     atomic.Uint64
	writeTimeout time.Duration // tests lengthen it

	mu     sync.Mutex // guards the fields below
	closed bool
	conns  map[*conn]struct{}
	rooms  map[string]*room

	relay    relayState   // links to and from other nodes (relay.go)
	sessions sessionWatch // logins of open sockets, re-checked (revoke.go)
	local    localEvents  // events delivered in-process while the bus was down (drain.go)
	caps     connCaps     // open sockets per user and address (conn.go)
}

// NewHub returns a Hub.
func NewHub(p HubParams) *Hub {
	if p.Grace <= 0 {
		p.Grace = DefaultGrace
	}
	if p.PingInterval <= 0 {
		p.PingInterval = DefaultPingInterval
	}
	if p.ReadTimeout <= 0 {
		p.ReadTimeout = DefaultReadTimeout
	}
	if p.SessionCheckInterval <= 0 {
		p.SessionCheckInterval = DefaultSessionCheckInterval
	}
	if p.MaxConnsPerUser <= 0 {
		p.MaxConnsPerUser = DefaultMaxConnsPerUser
	}
	if p.MaxConnsPerAddress <= 0 {
		p.MaxConnsPerAddress = DefaultMaxConnsPerAddress
	}
	if p.OriginPatterns == nil {
		p.OriginPatterns = DefaultOriginPatterns
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		p: p, log: p.Log.With("component", "signaling", "node", p.NodeID),
		ctx: ctx, cancel: cancel,
		conns: map[*conn]struct{}{}, rooms: map[string]*room{},
		writeTimeout: defaultWriteTimeout,
	}
	h.startRelay()
	h.startSessionChecks()
	return h
}

// Stats returns a snapshot of the hub's counters.
func (h *Hub) Stats() Stats {
	s := Stats{
		Connections:      h.stats.connections.Load(),
		ConnectionsTotal: h.stats.connectionsTotal.Load(),
		MessagesIn:       h.stats.messagesIn.Load(),
		MessagesOut:      h.stats.messagesOut.Load(),
		SlowClosed:       h.stats.slowClosed.Load(),
		RateLimited:      h.stats.rateLimited.Load(),
		Refused:          h.stats.refused.Load(),
	}
	h.mu.Lock()
	rs := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rs = append(rs, r)
	}
	s.Rooms = len(h.rooms)
	h.mu.Unlock()
	for _, r := range rs {
		r.mu.Lock()
		s.Members += len(r.members)
		r.mu.Unlock()
	}
	return s
}

// track adds one to the hub's WaitGroup unless the hub is shut down; the caller then calls
// h.wg.Done. Adding under h.mu, which Shutdown takes before Wait, keeps Add and Wait apart.
func (h *Hub) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

// ServeHTTP serves GET /ws: it authenticates the token, upgrades and runs the socket until
// it closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := authn.TokenFromWebSocketRequest(r)
	if tok == "" {
		httpx.Error(w, r, apperr.ErrUnauthorized.WithMessage("an access token is required"))
		return
	}
	who, sess, err := h.p.Issuer.VerifySession(tok)
	if err != nil {
		httpx.Error(w, r, apperr.ErrUnauthorized.WithMessage("the access token is invalid or expired"))
		return
	}
	if !h.sessionValid(r.Context(), who.UserID, sess) {
		httpx.Error(w, r, apperr.ErrUnauthorized.WithMessage("the session was revoked; log in again"))
		return
	}
	if !h.track() {
		httpx.Error(w, r, apperr.ErrUnavailable.WithMessage("the server is shutting down"))
		return
	}
	defer h.wg.Done()

	release, refused := h.takeSocket(who, r) // connection caps (conn.go)
	if release != nil {
		defer release()
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OriginPatterns:  h.p.OriginPatterns,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		// Accept has written the HTTP error (bad handshake or forbidden origin).
		h.log.Debug("websocket accept", "err", err)
		return
	}
	ws.SetReadLimit(MaxMessageBytes)
	if refused != nil {
		h.refuseSocket(r.Context(), ws, refused)
		return
	}
	c := newConn(h, ws, h.nextConn.Add(1), who)

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = ws.Close(websocket.StatusGoingAway, "going away")
		return
	}
	h.conns[c] = struct{}{}
	h.watchSession(c, who.UserID, sess)
	h.mu.Unlock()
	h.stats.connections.Add(1)
	h.stats.connectionsTotal.Add(1)

	writerDone := make(chan struct{})
	h.wg.Add(1) // the request's own Add is still held, so Wait cannot have started
	go func() {
		defer h.wg.Done()
		defer close(writerDone)
		c.writeLoop(h.ctx)
	}()
	c.readLoop(h.ctx)
	c.fail(websocket.StatusNormalClosure, "")
	<-writerDone

	h.mu.Lock()
	delete(h.conns, c)
	delete(h.sessions.conns, c)
	h.mu.Unlock()
	h.stats.connections.Add(-1)
	h.relaySocketGone(c)
	h.socketGone(c)
}

// Shutdown closes every socket with 1012 (service restart), closes this node's rooms and waits for every
// goroutine of the hub, or for ctx. Participants are not made to leave: their clients
// resume on another node with their tokens.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	rs := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rs = append(rs, r)
	}
	h.rooms = map[string]*room{}
	h.mu.Unlock()

	h.stopRelay()
	h.stopSessionChecks()
	for _, c := range conns {
		c.fail(statusServiceRestart, "service restart")
	}
	for _, r := range rs {
		r.shutdown()
	}
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	h.cancel()
	if err != nil {
		<-done // handlers see the cancelled context and finish promptly
	}
	return err
}

// ---- rooms of this node ----

// acquireRoom returns the live room of a meeting, creating it (with its router and bus
// subscription) if needed, and holds it open until releaseRoom.
func (h *Hub) acquireRoom(meetingID string) (*room, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, newError(CodeInternal, "the server is shutting down")
	}
	r := h.rooms[meetingID]
	if r == nil {
		r = newRoom(h, meetingID)
		h.rooms[meetingID] = r
	}
	r.mu.Lock()
	r.holds++
	r.mu.Unlock()
	h.mu.Unlock()
	if err := r.subscribe(); err != nil {
		h.releaseRoom(r)
		return nil, err
	}
	return r, nil
}

// releaseRoom drops a hold taken by acquireRoom.
func (h *Hub) releaseRoom(r *room) {
	r.mu.Lock()
	r.holds--
	r.mu.Unlock()
	h.maybeCloseRoom(r)
}

// maybeCloseRoom closes r when it has no member and no hold left.
func (h *Hub) maybeCloseRoom(r *room) {
	h.mu.Lock()
	r.mu.Lock()
	if r.closed || len(r.members) > 0 || r.holds > 0 {
		r.mu.Unlock()
		h.mu.Unlock()
		return
	}
	r.closed = true
	if h.rooms[r.id] == r {
		delete(h.rooms, r.id)
	}
	r.mu.Unlock()
	h.mu.Unlock()
	r.release()
}

// forgetRoom removes r from the hub's map (when its meeting ended).
func (h *Hub) forgetRoom(r *room) {
	h.mu.Lock()
	if h.rooms[r.id] == r {
		delete(h.rooms, r.id)
	}
	h.mu.Unlock()
}

// ---- resume tokens ----

const resumePurpose = "resume"

type resumeClaims struct {
	MeetingID     string `json:"m"`
	ParticipantID string `json:"p"`
	UserID        string `json:"u"`
	IssuedAt      int64  `json:"t"`
	Nonce         string `json:"n"`
}

func (h *Hub) resumeToken(meetingID, participantID, userID string) string {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	b, _ := json.Marshal(resumeClaims{MeetingID: meetingID, ParticipantID: participantID, UserID: userID,
		IssuedAt: time.Now().UnixMilli(), Nonce: fmt.Sprintf("%x", nonce)})
	return h.p.Issuer.Sign(resumePurpose, b)
}

func (h *Hub) openResume(tok string) (resumeClaims, error) {
	b, err := h.p.Issuer.Open(resumePurpose, tok)
	if err != nil {
		return resumeClaims{}, errBadResume
	}
	var c resumeClaims
	if err := json.Unmarshal(b, &c); err != nil || c.MeetingID == "" || c.ParticipantID == "" || c.UserID == "" {
		return resumeClaims{}, errBadResume
	}
	return c, nil
}
