package signaling

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/onstagehq/onstage/internal/authn"
)

// Placement is what the hub needs of room placement; *rooms.Placer satisfies it. Owner
// returns the node that owns a meeting's media (placing the room when nobody does).
type Placement interface {
	Owner(ctx context.Context, meetingID string) (string, error)
}

// Reassigner is implemented by a Placement that can move a room off a node that no longer
// answers (*rooms.Placer does): the lease is dropped if deadNode still holds it and the room
// is placed again, never on deadNode.
type Reassigner interface {
	Reassign(ctx context.Context, meetingID, deadNode string) (string, error)
}

// Releaser is implemented by a Placement that holds leases (*rooms.Placer does): the lease of
// a room that closed on this node is given up, so its next join may place it anywhere.
type Releaser interface {
	Release(ctx context.Context, meetingID string)
}

// Relay subjects (docs/cluster.md):
//
//	onstage.relay.<owner>.open        request: an edge asks the owner to take a connection
//	onstage.relay.link.<link>.up      the client's frames and the edge's control, edge → owner
//	onstage.relay.link.<link>.down    the owner's frames and control, owner → edge
const (
	relaySubjectPrefix = "onstage.relay."
)

func relayOpenSubject(node string) string { return relaySubjectPrefix + node + ".open" }
func relayPingSubject(node string) string { return relaySubjectPrefix + node + ".ping" }
func relayUpSubject(link string) string   { return relaySubjectPrefix + "link." + link + ".up" }
func relayDownSubject(link string) string { return relaySubjectPrefix + "link." + link + ".down" }

// Relay message kinds: the first byte of every relay message.
const (
	relayFrame  byte = 'F' // a protocol frame, verbatim
	relayBeat   byte = 'H' // heartbeat
	relayClose  byte = 'C' // close: 2-byte status code, then the reason
	relayUnlink byte = 'U' // owner → edge: the connection is in no room here; handle it locally again
)

// Relay tuning.
const (
	relayHeartbeat   = time.Second
	relayDeadAfter   = 4 * time.Second
	relayOpenTimeout = 3 * time.Second
	relayInQueue     = 256
	// An edge probes each node it relays to every relayProbeInterval (a request on the
	// node's ping subject). NATS answers "no responders" at once when the node's connection
	// is gone (it was killed, or lost the bus); after relayProbeMisses such answers in a row
	// the edge asks the clients relayed there to reconnect, well before relayDeadAfter.
	relayProbeInterval = 250 * time.Millisecond
	relayProbeTimeout  = time.Second
	relayProbeMisses   = 2
	// StatusServiceRestart asks a client to reconnect (it lands on another node).
	statusServiceRestart = websocket.StatusCode(1012)
)

// relayOpen is the open request's payload: the identity the edge verified from the client's
// access token, the meeting it joins, the link, and who sends it to whom when. The edge signs
// it whole (relayOpenPurpose) with a key derived from the cluster's shared JWT secret, so
// that a message published on the bus by anybody else is refused (docs/cluster.md, "NATS is
// a trust boundary").
type relayOpen struct {
	Link      string `json:"link"`
	Edge      string `json:"edge"`
	Owner     string `json:"owner"`
	MeetingID string `json:"meeting_id"`
	UserID    string `json:"user_id"`
	Role      string `json:"role"`
	Name      string `json:"name"`
	// IssuedAt is the Unix time in milliseconds the edge signed the request at.
	IssuedAt int64 `json:"iat"`
}

// relayOpenPurpose separates the relay's signing key from every other use of the secret
// (authn.Issuer.Sign derives one key per purpose).
const relayOpenPurpose = "relay-open/v1"

// relayOpenMaxAge bounds how old (or how far ahead of this node's clock) a signed open
// request may be; the owner remembers the links it opened for twice as long, so a request
// captured on the bus cannot be replayed.
const relayOpenMaxAge = 30 * time.Second

// maxSeenLinks bounds the replay memory; only requests with a valid signature enter it.
const maxSeenLinks = 100_000

// Reasons an open request is refused.
var (
	errRelayBadSignature = errors.New("bad signature")
	errRelayBadRequest   = errors.New("bad open request")
	errRelayStale        = errors.New("stale or future open request")
	errRelayWrongOwner   = errors.New("open request for another node")
	errRelayBadRole      = errors.New("unknown role")
	errRelayReplayed     = errors.New("link already opened")
)

// signOpen returns the signed open request.
func (h *Hub) signOpen(o relayOpen) []byte {
	b, _ := json.Marshal(o)
	return []byte(h.p.Issuer.Sign(relayOpenPurpose, b))
}

// verifyOpen checks a signed open request (the MAC in constant time, then its age, its
// destination, its role and that its link is new) and returns it.
func (h *Hub) verifyOpen(data []byte, now time.Time) (relayOpen, error) {
	raw, err := h.p.Issuer.Open(relayOpenPurpose, string(data))
	if err != nil {
		return relayOpen{}, errRelayBadSignature
	}
	var o relayOpen
	if err := json.Unmarshal(raw, &o); err != nil || !validLinkID(o.Link) || o.UserID == "" || o.MeetingID == "" {
		return relayOpen{}, errRelayBadRequest
	}
	if age := now.Sub(time.UnixMilli(o.IssuedAt)); age > relayOpenMaxAge || age < -relayOpenMaxAge {
		return relayOpen{}, errRelayStale
	}
	if o.Owner != h.p.NodeID {
		return relayOpen{}, errRelayWrongOwner
	}
	if !authn.Role(o.Role).Valid() {
		return relayOpen{}, errRelayBadRole
	}
	if !h.relay.rememberLink(o.Link, now) {
		return relayOpen{}, errRelayReplayed
	}
	return o, nil
}

// rememberLink records a link opened at now and reports whether it is new.
func (s *relayState) rememberLink(link string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.seenLinks[link]; seen {
		return false
	}
	if len(s.seenLinks) >= maxSeenLinks/2 {
		for l, at := range s.seenLinks {
			if now.Sub(at) > 2*relayOpenMaxAge {
				delete(s.seenLinks, l)
			}
		}
		if len(s.seenLinks) >= maxSeenLinks {
			return false
		}
	}
	s.seenLinks[link] = now
	return true
}

// validLinkID reports whether s looks like newLinkID's output, so that it is a safe
// subject token.
func validLinkID(s string) bool {
	if len(s) != 24 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

type relayOpenReply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// relayState is the hub's side of the relay: the links of its own sockets to other owners
// (edges) and the connections other nodes relay to it (remotes).
type relayState struct {
	mu      sync.Mutex
	edges   map[*conn]*edgeLink
	remotes map[*conn]*remoteConn
	// seenLinks are the links opened here recently, against replayed open requests.
	seenLinks map[string]time.Time
	openSub   *nats.Subscription
	pingSub   *nats.Subscription
	stopProbe chan struct{} // closed by stopRelay; ends probeOwners
	draining  atomic.Bool
}

func (h *Hub) relayEnabled() bool { return h.p.Bus != nil && h.p.Placement != nil }

// startRelay subscribes to this node's open subject. Called by NewHub.
func (h *Hub) startRelay() {
	h.relay.edges = map[*conn]*edgeLink{}
	h.relay.remotes = map[*conn]*remoteConn{}
	h.relay.seenLinks = map[string]time.Time{}
	if !h.relayEnabled() {
		return
	}
	sub, err := h.p.Bus.Conn().Subscribe(relayOpenSubject(h.p.NodeID), h.onRelayOpen)
	if err != nil {
		h.log.Error("relay: subscribe", "err", err)
		return
	}
	h.relay.openSub = sub
	ping, err := h.p.Bus.Conn().Subscribe(relayPingSubject(h.p.NodeID), func(m *nats.Msg) { _ = m.Respond(nil) })
	if err != nil {
		h.log.Error("relay: subscribe", "err", err)
		return
	}
	h.relay.pingSub = ping
	stop := make(chan struct{})
	h.relay.stopProbe = stop
	if h.track() {
		go func() {
			defer h.wg.Done()
			h.probeOwners(stop)
		}()
	}
}

func (h *Hub) stopRelay() {
	h.relay.mu.Lock()
	subs := []*nats.Subscription{h.relay.openSub, h.relay.pingSub}
	h.relay.openSub, h.relay.pingSub = nil, nil
	stop := h.relay.stopProbe
	h.relay.stopProbe = nil
	h.relay.mu.Unlock()
	for _, sub := range subs {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
	}
	if stop != nil {
		close(stop)
	}
}

// probeOwners watches the nodes this node's sockets are relayed to, until stop closes. A
// node that NATS reports as having no responders on its ping subject relayProbeMisses times
// in a row is gone, and its links are closed at once (ownerGone) rather than when its
// heartbeats have been missing for relayDeadAfter.
func (h *Hub) probeOwners(stop <-chan struct{}) {
	t := time.NewTicker(relayProbeInterval)
	defer t.Stop()
	misses := map[string]int{}
	nc := h.p.Bus.Conn()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		h.relay.mu.Lock()
		owners := make(map[string]struct{}, len(h.relay.edges))
		for _, l := range h.relay.edges {
			owners[l.owner] = struct{}{}
		}
		h.relay.mu.Unlock()
		for o := range misses {
			if _, ok := owners[o]; !ok {
				delete(misses, o)
			}
		}
		for o := range owners {
			_, err := nc.Request(relayPingSubject(o), nil, relayProbeTimeout)
			switch {
			case err == nil:
				delete(misses, o)
			case errors.Is(err, nats.ErrNoResponders):
				misses[o]++
				if misses[o] >= relayProbeMisses {
					delete(misses, o)
					h.ownerGone(o, "it left the bus")
				}
			default:
				// Our own bus is down, or the owner is slow: the heartbeats decide.
			}
		}
	}
}

// ownerGone closes, with 1012, every socket of this node relayed to node, which is known to
// be gone: its clients resume at once, and their joins place the room on a live node.
func (h *Hub) ownerGone(node, why string) {
	n := h.closeLinks(func(l *edgeLink) bool { return l.owner == node },
		"the meeting's media server was lost; reconnect", "media server lost")
	if n > 0 {
		h.log.Warn("relay: a meeting owner is gone; its relayed clients reconnect", "owner", node, "why", why, "sockets", n)
	}
}

// meetingHere closes, with 1012, the sockets of this node still relayed to another node for
// a meeting this node now runs itself (it took the room over): their clients resume here.
func (h *Hub) meetingHere(meetingID string) {
	n := h.closeLinks(func(l *edgeLink) bool { return l.meeting == meetingID && l.owner != h.p.NodeID },
		"the meeting moved to another media server; reconnect", "the meeting moved")
	if n > 0 {
		h.log.Info("relay: took a meeting over; its relayed clients reconnect here", "meeting_id", meetingID, "sockets", n)
	}
}

// closeLinks stops the edge links that match and closes their sockets with 1012.
func (h *Hub) closeLinks(match func(*edgeLink) bool, msg, reason string) int {
	var ls []*edgeLink
	h.relay.mu.Lock()
	for _, l := range h.relay.edges {
		if match(l) {
			ls = append(ls, l)
		}
	}
	h.relay.mu.Unlock()
	for _, l := range ls {
		l.stop(false)
		l.c.sendError(nil, newError(CodeInternal, msg))
		l.c.fail(statusServiceRestart, reason)
	}
	return len(ls)
}

func newLinkID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func closeMsg(code websocket.StatusCode, reason string) []byte {
	b := make([]byte, 3, 3+len(reason))
	b[0] = relayClose
	binary.BigEndian.PutUint16(b[1:], uint16(code))
	return append(b, reason...)
}

func parseClose(b []byte) (websocket.StatusCode, string) {
	if len(b) < 3 {
		return websocket.StatusNormalClosure, ""
	}
	return websocket.StatusCode(binary.BigEndian.Uint16(b[1:3])), string(b[3:])
}

func frameMsg(f []byte) []byte {
	b := make([]byte, 1+len(f))
	b[0] = relayFrame
	copy(b[1:], f)
	return b
}

// ---- edge: the node holding the WebSocket ----

// edgeLink forwards one socket of this node to the room's owner.
type edgeLink struct {
	h       *Hub
	c       *conn
	id      string
	owner   string
	meeting string
	sub     *nats.Subscription
	seen    atomic.Int64 // unix nanos of the owner's last message
	done    chan struct{}
	once    sync.Once
}

// relayFrame forwards a client frame when c is relayed, and reports whether it was.
func (h *Hub) relayFrame(c *conn, raw []byte) bool {
	if !h.relayEnabled() {
		return false
	}
	h.relay.mu.Lock()
	l := h.relay.edges[c]
	h.relay.mu.Unlock()
	if l == nil {
		return false
	}
	if err := h.p.Bus.Conn().Publish(relayUpSubject(l.id), frameMsg(raw)); err != nil {
		c.sendError(nil, newError(CodeInternal, "the meeting's media server cannot be reached; reconnect"))
		c.fail(statusServiceRestart, "signaling relay lost")
	}
	return true
}

// remote returns c's relay state when c is a connection another node relays to this one.
func (h *Hub) remote(c *conn) *remoteConn {
	h.relay.mu.Lock()
	defer h.relay.mu.Unlock()
	return h.relay.remotes[c]
}

// relayJoin decides where a join_room for meetingID runs. It reports handled=false when this
// node owns the meeting (the join goes on here), and handled=true when the join was sent to
// the owner (err is nil: the owner answers) or failed (err is the answer).
func (h *Hub) relayJoin(ctx context.Context, c *conn, meetingID string, d JoinRoomData, id *string) (bool, error) {
	if !h.relayEnabled() {
		return false, nil
	}
	rc := h.remote(c)
	if rc != nil && meetingID != rc.meeting {
		// The edge's signed open named another meeting: this link serves that one only.
		return true, newError(CodeForbidden, "this relayed connection belongs to another meeting")
	}
	owner, err := h.p.Placement.Owner(ctx, meetingID)
	if err != nil {
		return true, err
	}
	if rc != nil {
		if owner != h.p.NodeID {
			// Placement moved while the edge relayed to us: the client starts over.
			c.fail(statusServiceRestart, "the meeting moved to another node")
			return true, newError(CodeInternal, "the meeting moved to another node; reconnect")
		}
		return false, nil
	}
	if owner == h.p.NodeID {
		h.meetingHere(meetingID)
		return false, nil
	}
	d.MeetingID, d.Code = meetingID, ""
	frame, err := EncodeMessage(TypeJoinRoom, id, d)
	if err != nil {
		return true, err
	}
	for attempt := 0; ; attempt++ {
		err := h.openLink(ctx, c, owner, meetingID, frame)
		if err == nil {
			return true, nil
		}
		ra, ok := h.p.Placement.(Reassigner)
		if !ok || attempt > 0 || !errors.Is(err, nats.ErrNoResponders) {
			h.log.Warn("relay: owner unreachable", "meeting_id", meetingID, "owner", owner, "err", err)
			return true, newError(CodeInternal, "the meeting's media server is unavailable; retry shortly")
		}
		// Nobody listens for the owner: it died or lost the bus. Move the room, and ask the
		// clients of this node relayed to it to come back at once.
		h.log.Warn("relay: owner does not answer; moving the room", "meeting_id", meetingID, "owner", owner)
		h.ownerGone(owner, "a join found no responders")
		owner, err = ra.Reassign(ctx, meetingID, owner)
		if err != nil {
			return true, err
		}
		if owner == h.p.NodeID {
			h.meetingHere(meetingID)
			return false, nil
		}
	}
}

// openLink asks owner to take c, and sends it the first frame.
func (h *Hub) openLink(ctx context.Context, c *conn, owner, meetingID string, first []byte) error {
	nc := h.p.Bus.Conn()
	l := &edgeLink{h: h, c: c, id: newLinkID(), owner: owner, meeting: meetingID, done: make(chan struct{})}
	l.seen.Store(time.Now().UnixNano())
	sub, err := nc.Subscribe(relayDownSubject(l.id), l.onDown)
	if err != nil {
		return err
	}
	l.sub = sub
	req := h.signOpen(relayOpen{Link: l.id, Edge: h.p.NodeID, Owner: owner, MeetingID: meetingID,
		UserID: c.who.UserID, Role: string(c.who.Role), Name: c.who.Name, IssuedAt: time.Now().UnixMilli()})
	octx, cancel := context.WithTimeout(ctx, relayOpenTimeout)
	defer cancel()
	msg, err := nc.RequestWithContext(octx, relayOpenSubject(owner), req)
	if err != nil {
		_ = sub.Unsubscribe()
		return err
	}
	var rep relayOpenReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil || !rep.OK {
		_ = sub.Unsubscribe()
		return newError(CodeInternal, "the meeting's media server refused the connection: "+rep.Error)
	}
	if !h.track() {
		_ = sub.Unsubscribe()
		_ = nc.Publish(relayUpSubject(l.id), closeMsg(websocket.StatusGoingAway, "going away"))
		return newError(CodeInternal, "the server is shutting down")
	}
	h.relay.mu.Lock()
	h.relay.edges[c] = l
	h.relay.mu.Unlock()
	if err := nc.Publish(relayUpSubject(l.id), frameMsg(first)); err != nil {
		h.wg.Done()
		l.stop(true)
		return err
	}
	go func() {
		defer h.wg.Done()
		l.beat()
	}()
	return nil
}

// onDown handles the owner's messages for this link, in order.
func (l *edgeLink) onDown(msg *nats.Msg) {
	b := msg.Data
	if len(b) == 0 {
		return
	}
	l.seen.Store(time.Now().UnixNano())
	switch b[0] {
	case relayFrame:
		l.c.enqueue(b[1:])
	case relayClose:
		code, reason := parseClose(b)
		l.stop(false)
		l.c.fail(code, reason)
	case relayUnlink:
		l.stop(false)
	}
}

// beat sends heartbeats until the link stops, and closes the socket with 1012 when the owner
// goes silent.
func (l *edgeLink) beat() {
	t := time.NewTicker(relayHeartbeat)
	defer t.Stop()
	nc := l.h.p.Bus.Conn()
	for {
		select {
		case <-l.done:
			return
		case <-l.c.done:
			l.stop(true)
			return
		case <-l.h.ctx.Done():
			l.stop(true)
			return
		case <-t.C:
			_ = nc.Publish(relayUpSubject(l.id), []byte{relayBeat})
			if time.Since(time.Unix(0, l.seen.Load())) > relayDeadAfter {
				l.h.log.Warn("relay: the meeting's owner went silent; asking the client to reconnect", "owner", l.owner)
				l.stop(false)
				l.c.sendError(nil, newError(CodeInternal, "the meeting's media server was lost; reconnect"))
				l.c.fail(statusServiceRestart, "media server lost")
				return
			}
		}
	}
}

// stop ends the link; tell sends the owner a close so it starts the participant's grace.
func (l *edgeLink) stop(tell bool) {
	l.once.Do(func() {
		close(l.done)
		h := l.h
		h.relay.mu.Lock()
		if h.relay.edges[l.c] == l {
			delete(h.relay.edges, l.c)
		}
		h.relay.mu.Unlock()
		_ = l.sub.Unsubscribe()
		if tell {
			_ = h.p.Bus.Conn().Publish(relayUpSubject(l.id), closeMsg(websocket.StatusNormalClosure, "socket closed"))
		}
	})
}

// relaySocketGone ends c's link, if any, when its socket closed.
func (h *Hub) relaySocketGone(c *conn) {
	h.relay.mu.Lock()
	l := h.relay.edges[c]
	h.relay.mu.Unlock()
	if l != nil {
		l.stop(true)
	}
}

// ---- owner: the node running the room ----

// remoteConn is a connection another node relays to this one: the same conn and handlers as
// a WebSocket, fed from the link's up subject and written to its down subject.
type remoteConn struct {
	h        *Hub
	c        *conn
	link     string
	edge     string
	meeting  string // the meeting the signed open request named
	in       chan []byte
	sub      *nats.Subscription
	seen     atomic.Int64
	unlinked atomic.Bool
	peerGone atomic.Bool
}

func (h *Hub) onRelayOpen(msg *nats.Msg) {
	reply := func(r relayOpenReply) {
		b, _ := json.Marshal(r)
		_ = msg.Respond(b)
	}
	req, err := h.verifyOpen(msg.Data, time.Now())
	if err != nil {
		// Only a node with the cluster's secret can sign: anything else on the bus is refused.
		h.log.Warn("relay: open request refused", "err", err)
		reply(relayOpenReply{Error: err.Error()})
		return
	}
	if !h.track() {
		reply(relayOpenReply{Error: "shutting down"})
		return
	}
	who := authn.Identity{UserID: req.UserID, Role: authn.Role(req.Role), Name: req.Name}
	c := newConn(h, nil, h.nextConn.Add(1), who)
	c.log = c.log.With("relayed_from", req.Edge)
	rc := &remoteConn{h: h, c: c, link: req.Link, edge: req.Edge, meeting: req.MeetingID, in: make(chan []byte, relayInQueue)}
	rc.seen.Store(time.Now().UnixNano())
	sub, err := h.p.Bus.Conn().Subscribe(relayUpSubject(req.Link), rc.onUp)
	if err != nil {
		h.wg.Done()
		reply(relayOpenReply{Error: "subscribe failed"})
		return
	}
	rc.sub = sub
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = sub.Unsubscribe()
		h.wg.Done()
		reply(relayOpenReply{Error: "shutting down"})
		return
	}
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	h.relay.mu.Lock()
	h.relay.remotes[c] = rc
	h.relay.mu.Unlock()
	h.stats.connections.Add(1)
	h.stats.connectionsTotal.Add(1)
	// The subscription must be active before the edge sends the first frame.
	if err := h.p.Bus.Conn().Flush(); err != nil {
		c.fail(websocket.StatusGoingAway, "relay unavailable")
	}
	reply(relayOpenReply{OK: true})
	go func() {
		defer h.wg.Done()
		rc.run()
	}()
}

// onUp queues the edge's messages for the reader, never blocking.
func (rc *remoteConn) onUp(msg *nats.Msg) {
	b := msg.Data
	if len(b) == 0 {
		return
	}
	rc.seen.Store(time.Now().UnixNano())
	switch b[0] {
	case relayFrame:
		select {
		case rc.in <- b[1:]:
		default:
			rc.c.fail(websocket.StatusPolicyViolation, "relay queue full")
		}
	case relayClose:
		rc.peerGone.Store(true)
		rc.c.fail(websocket.StatusNormalClosure, "")
	}
}

// run is the relayed connection's life: the reader handles frames in order on this
// goroutine, the writer forwards what the handlers queue.
func (rc *remoteConn) run() {
	h, c := rc.h, rc.c
	writerDone := make(chan struct{})
	h.wg.Add(1) // our own hold is still counted, so Wait cannot have started
	go func() {
		defer h.wg.Done()
		defer close(writerDone)
		rc.writeLoop()
	}()
	for {
		select {
		case <-c.done:
		case b := <-rc.in:
			h.stats.messagesIn.Add(1)
			h.handle(h.ctx, c, b)
			if !c.closed() && c.attached() == nil {
				// Not in a room on this node (a failed join, or a leave): the edge takes
				// the connection back.
				rc.unlinked.Store(true)
				c.fail(websocket.StatusNormalClosure, "")
			}
			continue
		}
		break
	}
	<-writerDone
	_ = rc.sub.Unsubscribe()
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	h.relay.mu.Lock()
	delete(h.relay.remotes, c)
	h.relay.mu.Unlock()
	h.stats.connections.Add(-1)
	h.socketGone(c)
}

// writeLoop forwards queued frames to the edge and sends heartbeats; when c fails it flushes
// what is queued and tells the edge to close (or to take the connection back).
func (rc *remoteConn) writeLoop() {
	nc := rc.h.p.Bus.Conn()
	down := relayDownSubject(rc.link)
	t := time.NewTicker(relayHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-rc.c.done:
			for {
				frames, ok := rc.c.send.pop()
				if !ok {
					break
				}
				for _, f := range frames {
					_ = nc.Publish(down, frameMsg(f))
				}
			}
			switch {
			case rc.peerGone.Load():
			case rc.unlinked.Load():
				_ = nc.Publish(down, []byte{relayUnlink})
			default:
				_ = nc.Publish(down, closeMsg(rc.c.closeCode, rc.c.closeMsg))
			}
			return
		case <-rc.c.send.ready:
			frames, _ := rc.c.send.pop()
			for _, f := range frames {
				if err := nc.Publish(down, frameMsg(f)); err != nil {
					rc.c.fail(statusServiceRestart, "signaling relay lost")
				}
			}
		case <-t.C:
			_ = nc.Publish(down, []byte{relayBeat})
			if time.Since(time.Unix(0, rc.seen.Load())) > relayDeadAfter {
				rc.peerGone.Store(true)
				rc.c.fail(websocket.StatusGoingAway, "relay peer lost")
			}
		}
	}
}
