package signaling

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/onstagehq/onstage/rooms"
	"github.com/onstagehq/onstage/sfu"
)

// maxHeldSignals bounds the signals kept for a member whose socket is gone, to be delivered
// when it resumes (a subscriber offer made meanwhile, and its candidates).
const maxHeldSignals = 256

// room is one live meeting on this node: its members (participants whose socket is, or
// was within the grace, on this node), its media router and its event subscription.
type room struct {
	hub    *Hub
	id     string
	router *sfu.Router

	subMu sync.Mutex // guards sub; taken before mu, never inside another lock
	sub   *nats.Subscription

	mu        sync.Mutex // guards the fields below; see the package doc for the lock order
	closed    bool
	holds     int                // joins in progress (acquireRoom) keeping the room open
	members   map[string]*member // by participant id
	byUser    map[string]*member
	joining   map[string]bool  // user ids with a join_room in progress
	gating    map[*member]bool // members being joined, not yet in members
	tracks    map[sfu.TrackID]sfu.TrackInfo
	order     []sfu.TrackID // published tracks in publish order
	unsubDone bool
	adopted   bool // the participants left over by a previous owner got their grace (takeover.go)

	media mediaSync // the domain's media state and the router in agreement (media.go)
}

func newRoom(h *Hub, id string) *room {
	r := &room{
		hub: h, id: id,
		members: map[string]*member{}, byUser: map[string]*member{},
		joining: map[string]bool{}, gating: map[*member]bool{},
		tracks: map[sfu.TrackID]sfu.TrackInfo{},
	}
	if h.p.Engine != nil {
		r.router = h.p.Engine.NewRouter(sfu.RouterParams{ID: id, OnSpeakers: r.onSpeakers})
	}
	return r
}

// subscribe starts the delivery of the meeting's domain events, once. It returns when the
// subscription is active on the server, so no event published afterwards is missed.
func (r *room) subscribe() error {
	if r.hub.p.Bus == nil {
		return nil
	}
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if r.sub != nil || r.unsubscribed() {
		return nil
	}
	nc := r.hub.p.Bus.Conn()
	sub, err := nc.Subscribe(rooms.Subject(r.id), r.onBusMessage)
	if err != nil {
		return err
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		_ = sub.Unsubscribe()
		return err
	}
	r.sub = sub
	return nil
}

func (r *room) unsubscribed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unsubDone
}

// release stops the subscription and closes the router. Called once r is closed.
func (r *room) release() {
	r.mu.Lock()
	r.unsubDone = true
	r.mu.Unlock()
	r.subMu.Lock()
	if r.sub != nil {
		_ = r.sub.Unsubscribe()
		r.sub = nil
	}
	r.subMu.Unlock()
	if r.router != nil {
		r.router.Close()
	}
	r.hub.roomReleased(r.id)
}

// shutdown closes the room for Hub.Shutdown: grace timers stop, nobody leaves.
func (r *room) shutdown() {
	r.mu.Lock()
	r.closed = true
	for _, m := range r.members {
		m.mu.Lock()
		m.stopGraceLocked()
		m.mu.Unlock()
	}
	r.mu.Unlock()
	r.release()
}

// ---- delivery ----

// outItem is one message for members: a domain event or a frame.
type outItem struct {
	// ev is a domain event, encoded once for every member (eventItem): evFrames are its
	// messages, each with the rule of who sees it.
	ev       *rooms.Event
	evFrames []evFrame
	frame    []byte
	// trackID is set on track_published, to skip tracks a joiner already got in `joined`.
	trackID sfu.TrackID
	// signal marks a webrtc_signal frame, dropped when the peer connections are replaced.
	signal bool
}

// evFrame is one encoded message of a domain event and who sees it.
type evFrame struct {
	b []byte
	// seq is a chat's seq (0 for other messages).
	seq int64
	// hidden is the participant that does not get it (the one that joined or left), if any.
	hidden string
	// from and to are set on a private chat: only they get it.
	from, to string
}

func (f *evFrame) visibleTo(pid string) bool {
	if f.to != "" {
		return pid == f.from || pid == f.to
	}
	return f.hidden == "" || f.hidden != pid
}

// eventItem encodes a domain event once, whatever the number of members: the JSON of a
// message is the same for everyone who sees it, so a broadcast only chooses, per member,
// which of these frames to queue.
func eventItem(ev *rooms.Event) outItem {
	it := outItem{ev: ev}
	if ev.Type == rooms.EventChat {
		chats := ev.ChatViews()
		it.evFrames = make([]evFrame, 0, len(chats))
		for i := range chats {
			b, err := EncodeMessage(TypeChat, nil, &chats[i])
			if err != nil {
				continue
			}
			f := evFrame{b: b, seq: chats[i].Seq}
			if chats[i].To != "" {
				f.from, f.to = chats[i].From, chats[i].To
			}
			it.evFrames = append(it.evFrames, f)
		}
		return it
	}
	typ, data, hidden, ok := eventMessage(ev)
	if !ok {
		return it
	}
	b, err := EncodeMessage(typ, nil, data)
	if err != nil {
		return it
	}
	it.evFrames = []evFrame{{b: b, hidden: hidden}}
	return it
}

// broadcastLocked delivers it to every member and gated joiner. Requires r.mu.
func (r *room) broadcastLocked(it outItem) {
	for _, m := range r.members {
		m.deliver(it)
	}
	for m := range r.gating {
		m.deliver(it)
	}
}

func (r *room) broadcast(it outItem) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.broadcastLocked(it)
}

func (r *room) broadcastMsg(typ string, data any) {
	b, err := EncodeMessage(typ, nil, data)
	if err != nil {
		r.hub.log.Error("encode message", "type", typ, "err", err)
		return
	}
	r.broadcast(outItem{frame: b})
}

// ---- SFU callbacks ----

func (r *room) onSpeakers(sp []sfu.Speaker) {
	out := SpeakersData{Speakers: make([]SpeakerView, 0, len(sp))}
	for _, s := range sp {
		out.Speakers = append(out.Speakers, SpeakerView{ParticipantID: string(s.ParticipantID), Level: s.Level})
	}
	r.broadcastMsg(TypeSpeakers, out)
}

func (r *room) onTrackPublished(info sfu.TrackInfo) {
	defer r.mediaPublicationChanged(info) // once r.mu is released (media.go)
	b, err := EncodeMessage(TypeTrackPublished, nil, TrackPublishedData{Track: trackView(info)})
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if _, ok := r.tracks[info.TrackID]; !ok {
		r.order = append(r.order, info.TrackID)
	}
	r.tracks[info.TrackID] = info
	r.broadcastLocked(outItem{frame: b, trackID: info.TrackID})
}

func (r *room) onTrackUnpublished(info sfu.TrackInfo) {
	defer r.mediaPublicationChanged(info) // once r.mu is released (media.go)
	b, err := EncodeMessage(TypeTrackUnpublished, nil, TrackUnpublishedData{TrackID: string(info.TrackID)})
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tracks[info.TrackID]; !ok {
		return
	}
	delete(r.tracks, info.TrackID)
	for i, id := range r.order {
		if id == info.TrackID {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
	if !r.closed {
		r.broadcastLocked(outItem{frame: b})
	}
}

// trackViewsLocked lists the published tracks in publish order. Requires r.mu.
func (r *room) trackViewsLocked() []TrackView {
	out := make([]TrackView, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, trackView(r.tracks[id]))
	}
	return out
}

func trackView(t sfu.TrackInfo) TrackView {
	layers := append([]string{}, t.Layers...)
	return TrackView{TrackID: string(t.TrackID), ParticipantID: string(t.ParticipantID), Kind: t.Kind,
		Source: string(t.Source), StreamID: t.StreamID, Layers: layers}
}

// ---- domain events ----

func (r *room) onBusMessage(msg *nats.Msg) {
	var ev rooms.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		r.hub.log.Warn("decode meeting event", "meeting_id", r.id, "err", err)
		return
	}
	if r.hub.deliveredLocally(ev) {
		return
	}
	if !r.hub.track() {
		return
	}
	defer r.hub.wg.Done()
	r.onEvent(ev)
}

// onEvent applies one domain event to the room's sockets and media.
func (r *room) onEvent(ev rooms.Event) {
	r.applyMute(&ev) // media.go
	switch ev.Type {
	case rooms.EventParticipantLeft:
		r.participantLeft(ev)
	case rooms.EventMeetingEnded:
		r.meetingEnded(ev)
	case rooms.EventParticipantJoined, rooms.EventRoleChanged, rooms.EventMediaState, rooms.EventChat:
		r.broadcast(eventItem(&ev))
	case rooms.EventGiveawayOpened, rooms.EventGiveawayClosed, rooms.EventGiveawayWinners:
		r.broadcast(eventItem(&ev))
	}
}

// participantLeft removes a member of this node that left through any path (REST leave,
// kick, another node's grace), unpublishing its tracks first, then tells everyone.
func (r *room) participantLeft(ev rooms.Event) {
	r.mu.Lock()
	m := r.members[ev.ParticipantID]
	if m != nil {
		r.removeMemberLocked(m)
	}
	r.mu.Unlock()
	if m != nil {
		// The member learns it is out (kicked, or left from elsewhere); its socket stays open.
		if c := m.takeConn(); c != nil {
			c.detachFrom(m)
			c.sendMsg(TypeParticipantLeft, nil, ParticipantLeftData{ParticipantID: ev.ParticipantID, Reason: ev.Reason})
		}
		r.removeMedia(m.pid)
	}
	r.broadcast(eventItem(&ev))
	if m != nil {
		r.hub.maybeCloseRoom(r)
	}
}

// meetingEnded tells everyone, detaches every socket and closes the media.
func (r *room) meetingEnded(ev rooms.Event) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.broadcastLocked(eventItem(&ev))
	r.closed = true
	ms := make([]*member, 0, len(r.members))
	for _, m := range r.members {
		ms = append(ms, m)
	}
	r.members, r.byUser = map[string]*member{}, map[string]*member{}
	for _, m := range ms {
		m.mu.Lock()
		m.left = true
		m.stopGraceLocked()
		m.mu.Unlock()
	}
	r.mu.Unlock()
	for _, m := range ms {
		if c := m.takeConn(); c != nil {
			c.detachFrom(m)
		}
	}
	r.hub.forgetRoom(r)
	r.release()
}

// removeMemberLocked takes m out of the room's maps. Requires r.mu.
func (r *room) removeMemberLocked(m *member) {
	if r.members[m.pid] == m {
		delete(r.members, m.pid)
	}
	if r.byUser[m.uid] == m {
		delete(r.byUser, m.uid)
	}
	m.mu.Lock()
	m.left = true
	m.stopGraceLocked()
	m.mu.Unlock()
}

// removeMedia removes a participant from the router: its tracks are unpublished (each
// broadcast as track_unpublished) before this returns.
func (r *room) removeMedia(pid string) {
	if r.router != nil {
		r.router.RemoveParticipant(sfu.ParticipantID(pid))
	}
}

// ---- members ----

// gated is a message held for a member between the start of its join and its ack.
type gated struct {
	it outItem
}

// member is a participant of the meeting whose socket is (or, within the grace, was) on
// this node.
type member struct {
	room *room
	pid  string // set once the join succeeded
	uid  string
	// orphan marks a placeholder for a participant a previous owner served that has not
	// come back here: no socket, no media, only its reconnect grace (takeover.go).
	orphan bool

	mu        sync.Mutex // guards the fields below
	conn      *conn
	left      bool
	gateOn    bool
	gate      []gated
	held      [][]byte // signals while no socket is attached
	grace     *time.Timer
	graceGen  uint64
	sfuClosed bool
	pcGen     uint64 // generation of the member's SFU participant; older signals are dropped
	// chatSeq is the highest chat seq the socket has (queued, in `joined` or replayed). A
	// meeting's chats are published in seq order, so one at or below it is a copy: a chat
	// replayed or in the history whose event arrives after the socket got it.
	chatSeq int64
}

// deliver passes an item to the member's socket, holding it while the member is gated.
// Called with r.mu held.
func (m *member) deliver(it outItem) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gateOn {
		m.gate = append(m.gate, gated{it: it})
		return
	}
	if m.conn == nil || m.left {
		return
	}
	m.conn.enqueue(m.framesForLocked(it)...)
}

// framesForLocked picks the frames of an item this member gets, minus chats it has already,
// and notes the chats picked. Requires m.mu.
func (m *member) framesForLocked(it outItem) [][]byte {
	if it.ev == nil {
		return [][]byte{it.frame}
	}
	var out [][]byte
	for i := range it.evFrames {
		f := &it.evFrames[i]
		if !f.visibleTo(m.pid) {
			continue
		}
		if f.seq != 0 {
			if f.seq <= m.chatSeq {
				continue
			}
			m.chatSeq = f.seq
		}
		out = append(out, f.b)
	}
	return out
}

// eventMessage maps a domain event other than chat to its message, and names the
// participant that does not get it, if any.
func eventMessage(ev *rooms.Event) (typ string, data any, hidden string, ok bool) {
	switch ev.Type {
	case rooms.EventParticipantJoined:
		if ev.Participant == nil {
			return "", nil, "", false
		}
		return TypeParticipantJoined, ParticipantJoinedData{Participant: ev.Participant}, ev.Participant.ParticipantID, true
	case rooms.EventParticipantLeft:
		return TypeParticipantLeft, ParticipantLeftData{ParticipantID: ev.ParticipantID, Reason: ev.Reason}, ev.ParticipantID, true
	case rooms.EventRoleChanged:
		return TypeRoleChanged, RoleChangedData{ParticipantID: ev.ParticipantID, Role: string(ev.Role)}, "", true
	case rooms.EventMediaState:
		if ev.Media == nil {
			return "", nil, "", false
		}
		return TypeMediaState, MediaStateData{ParticipantID: ev.Media.ParticipantID, Source: ev.Media.Source,
			Muted: ev.Media.Muted, By: ev.Media.By}, "", true
	case rooms.EventMeetingEnded:
		return TypeMeetingEnded, MeetingEndedData{Reason: ev.Reason}, "", true
	case rooms.EventGiveawayOpened, rooms.EventGiveawayClosed, rooms.EventGiveawayWinners:
		typ, data, ok := giveawayMessage(ev) // giveaway.go
		return typ, data, "", ok
	}
	return "", nil, "", false
}

// signalFn returns the SendSignal of the member's current SFU participant.
func (m *member) signalFn() func(sfu.Signal) {
	m.mu.Lock()
	gen := m.pcGen
	m.mu.Unlock()
	return func(s sfu.Signal) { m.signal(gen, s) }
}

// newPCGenLocked starts a new generation of peer connections: signals of the previous ones,
// held or to come, are dropped. It returns the new generation's SendSignal. Requires m.mu.
func (m *member) newPCGenLocked() func(sfu.Signal) {
	m.pcGen++
	gen := m.pcGen
	m.held = nil
	kept := m.gate[:0]
	for _, g := range m.gate {
		if !g.it.signal {
			kept = append(kept, g)
		}
	}
	m.gate = kept
	return func(s sfu.Signal) { m.signal(gen, s) }
}

// signal is the member's sfu SendSignal for peer connection generation gen: it never blocks.
func (m *member) signal(gen uint64, s sfu.Signal) {
	d := WebRTCSignalData{PC: string(s.PC), Candidate: s.Candidate}
	if s.SDP != nil {
		d.SDP = &SDP{Type: s.SDP.Type.String(), SDP: s.SDP.SDP}
	}
	b, err := EncodeMessage(TypeWebRTCSignal, nil, d)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.left, gen != m.pcGen:
	case m.gateOn:
		m.gate = append(m.gate, gated{it: outItem{frame: b, signal: true}})
	case m.conn != nil:
		m.conn.enqueue(b)
	case len(m.held) < maxHeldSignals:
		m.held = append(m.held, b)
	}
}

// takeConn detaches and returns the member's socket.
func (m *member) takeConn() *conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.conn
	m.conn = nil
	m.gateOn, m.gate = false, nil
	return c
}

// stopGraceLocked cancels a running grace. Requires m.mu.
func (m *member) stopGraceLocked() {
	if m.grace != nil {
		m.grace.Stop()
		m.grace = nil
	}
	m.graceGen++
}

// openGateLocked ends the gate: the held items are delivered, minus what the joiner already
// has (chats up to maxSeq, participants in known, tracks in knownTracks). Requires m.mu.
func (m *member) openGateLocked(maxSeq int64, known map[string]bool, knownTracks map[string]bool) {
	items := m.gate
	m.gate, m.gateOn = nil, false
	m.chatSeq = maxSeq
	if m.conn == nil {
		return
	}
	var frames [][]byte
	for _, g := range items {
		it := g.it
		if it.ev != nil {
			switch it.ev.Type {
			case rooms.EventParticipantJoined:
				if it.ev.Participant != nil && known[it.ev.Participant.ParticipantID] {
					continue
				}
			case rooms.EventParticipantLeft:
				if known != nil && !known[it.ev.ParticipantID] {
					continue
				}
			}
		}
		if it.trackID != "" && knownTracks[string(it.trackID)] {
			continue
		}
		frames = append(frames, m.framesForLocked(it)...)
	}
	m.conn.enqueue(frames...)
}

// socketGone starts the reconnect grace of the member c spoke for, if any.
func (h *Hub) socketGone(c *conn) {
	m := c.attached()
	if m == nil {
		return
	}
	c.detachFrom(m)
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn != c || m.left || r.closed {
		return
	}
	m.conn = nil
	m.gateOn, m.gate = false, nil
	h.startGraceLocked(m)
}

// startGraceLocked starts m's reconnect grace. Requires m.mu.
func (h *Hub) startGraceLocked(m *member) {
	m.stopGraceLocked()
	gen := m.graceGen
	m.grace = time.AfterFunc(h.p.Grace, func() {
		if !h.track() {
			return
		}
		defer h.wg.Done()
		h.graceExpired(m, gen)
	})
}

// graceExpired makes a member whose socket did not come back leave with reason
// disconnected.
func (h *Hub) graceExpired(m *member, gen uint64) {
	r := m.room
	r.mu.Lock()
	m.mu.Lock()
	stale := m.graceGen != gen || m.conn != nil || m.left || r.closed
	m.mu.Unlock()
	if stale {
		r.mu.Unlock()
		return
	}
	r.removeMemberLocked(m)
	r.mu.Unlock()
	r.removeMedia(m.pid)
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	if err := h.p.Rooms.Disconnect(ctx, r.id, m.pid); err != nil {
		if pe, _ := toProtocol(err); pe.Code != CodeNotInRoom && pe.Code != CodeNotFound {
			h.log.Warn("disconnect after grace", "meeting_id", r.id, "participant_id", m.pid, "err", err)
		}
	}
	h.maybeCloseRoom(r)
}

// replaceSocket attaches c to m, closing the socket m had (a takeover on resume).
// Requires r.mu and m.mu.
func (m *member) replaceSocketLocked(c *conn) {
	old := m.conn
	m.conn = c
	m.stopGraceLocked()
	if old != nil && old != c {
		old.detachFrom(m)
		old.fail(websocket.StatusNormalClosure, "resumed on another connection")
	}
}
