package signaling

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pion/webrtc/v3"

	"github.com/onstagehq/onstage/rooms"
	"github.com/onstagehq/onstage/sfu"
)

// Chat replay bounds on resume.
const (
	replayMax  = 500
	replayPage = 500
)

// handlerTimeout bounds one message's calls into the domain.
const handlerTimeout = 15 * time.Second

// handle decodes and handles one client message. It runs on the socket's reader goroutine,
// so a socket's messages are handled one at a time, in order. Every message with an id gets
// exactly one ack or error.
func (h *Hub) handle(ctx context.Context, c *conn, raw []byte) {
	if h.relayFrame(c, raw) {
		return // the meeting's owner handles it (relay.go)
	}
	env, err := DecodeEnvelope(raw)
	if !c.bucket.allow(time.Now()) {
		h.stats.rateLimited.Add(1)
		c.sendError(env.ID, errRateLimited)
		return
	}
	if err != nil {
		c.sendError(env.ID, badRequest(err.Error()))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, handlerTimeout)
	defer cancel()

	var data any
	switch env.Type {
	case TypeJoinRoom:
		// join answers by itself: the ack (or joined) must precede replayed chat.
		if err := h.handleJoin(ctx, c, env); err != nil {
			c.sendError(env.ID, err)
		}
		return
	case TypePong:
	case TypeLeaveRoom:
		err = h.handleLeave(ctx, c)
	case TypeChatMessage:
		data, err = h.inRoom(c, func(m *member) (any, error) { return h.handleChat(ctx, c, m, env) })
	case TypeMediaControl:
		data, err = h.inRoom(c, func(m *member) (any, error) { return nil, h.handleMedia(ctx, c, m, env) })
	case TypeWebRTCSignal:
		data, err = h.inRoom(c, func(m *member) (any, error) { return nil, h.handleSignal(m, env) })
	case TypeSubscribe:
		data, err = h.inRoom(c, func(m *member) (any, error) { return nil, h.handleSubscribe(m, env) })
	case TypeHostAction:
		data, err = h.inRoom(c, func(m *member) (any, error) { return nil, h.handleHostAction(ctx, c, m, env) })
	case TypeGiveawayEnter:
		data, err = h.inRoom(c, func(m *member) (any, error) { return h.handleGiveawayEnter(ctx, c, m, env) })
	default:
		err = badRequest("unknown message type " + quoteType(env.Type))
	}
	if err != nil {
		c.sendError(env.ID, err)
		return
	}
	c.ack(env.ID, data)
}

func quoteType(t string) string {
	if utf8.RuneCountInString(t) > 40 {
		t = string([]rune(t)[:40]) + "…"
	}
	return `"` + t + `"`
}

// inRoom runs f for the member c speaks for, or fails with not_in_room.
func (h *Hub) inRoom(c *conn, f func(m *member) (any, error)) (any, error) {
	m := c.attached()
	if m == nil {
		return nil, errNotInRoom
	}
	return f(m)
}

// ---- join_room ----

func (h *Hub) handleJoin(ctx context.Context, c *conn, env Envelope) error {
	var d JoinRoomData
	if err := decodeData(env.Data, &d); err != nil {
		return err
	}
	if c.attached() != nil {
		return errAlreadyJoined
	}
	meetingID := strings.TrimSpace(d.MeetingID)
	if meetingID == "" {
		if strings.TrimSpace(d.Code) == "" {
			return badRequest("meeting_id or code is required")
		}
		sum, err := h.p.Rooms.ByCode(ctx, d.Code)
		if err != nil {
			return err
		}
		meetingID = sum.ID
	}
	// Nothing is spent on a join (a placement lease, a room with its router and bus
	// subscription) before the meeting id, the meeting and the caller's right are checked.
	var (
		claims *resumeClaims
		adm    rooms.Admission
	)
	if d.ResumeToken != "" {
		cl, err := h.openResume(d.ResumeToken)
		if err != nil {
			return err
		}
		if cl.UserID != c.who.UserID || cl.MeetingID != meetingID {
			return errBadResume
		}
		if err := h.checkResumable(ctx, c, cl); err != nil {
			return err
		}
		claims = &cl
	} else {
		a, err := h.p.Rooms.Admit(ctx, c.who, meetingID, rooms.JoinInput{Password: d.Password, DisplayName: d.DisplayName, Attach: true})
		if err != nil {
			return err
		}
		adm = a
	}
	if relayed, err := h.relayJoin(ctx, c, meetingID, d, env.ID); relayed {
		return err
	}
	lastSeq := int64(0)
	if d.LastSeq != nil && *d.LastSeq > 0 {
		lastSeq = *d.LastSeq
	}

	r, err := h.acquireRoom(meetingID)
	if err != nil {
		return err
	}
	defer h.releaseRoom(r)

	// Reserve the user's join in this room; find a member it may take over or replace.
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return newError(CodeMeetingEnded, "the meeting has ended")
	}
	if r.joining[c.who.UserID] {
		r.mu.Unlock()
		return errAlreadyJoined
	}
	// An orphan left by a previous owner (takeover.go) is no member to take over: its grace
	// stops while the user joins, and starts again if the join fails.
	orphan := r.claimOrphanLocked(c.who.UserID)
	old := r.byUser[c.who.UserID]
	if claims != nil {
		if old != nil && old.pid != claims.ParticipantID {
			old = nil // the token names an earlier stay; the member is someone else now
		}
	} else if old != nil && old.hasSocket() {
		r.mu.Unlock()
		return errAlreadyJoined // old is no orphan, so nothing was claimed
	}
	r.joining[c.who.UserID] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.joining, c.who.UserID)
		r.mu.Unlock()
	}()

	if claims != nil {
		err = h.resume(ctx, c, r, env.ID, *claims, old, lastSeq, d.NewPeerConnections)
	} else {
		err = h.freshJoin(ctx, c, r, env.ID, d, adm, old)
	}
	if err != nil && orphan != nil {
		h.restoreOrphan(r, orphan)
	}
	return err
}

// freshJoin joins without a resume token: a new participant, or the user's participant
// that has no socket yet (after a REST join), or a replacement of the user's old
// participant whose socket is gone (participant_left disconnected, then participant_joined).
func (h *Hub) freshJoin(ctx context.Context, c *conn, r *room, id *string, d JoinRoomData, adm rooms.Admission, old *member) error {
	in := rooms.JoinInput{Password: d.Password, DisplayName: d.DisplayName, Attach: old == nil, Replace: old != nil, Admission: adm,
		CardKey: d.CardKey, DeviceID: d.DeviceID}
	if old != nil {
		// The old participant's media goes first, so its tracks are unpublished before
		// participant_left; rooms.Join then makes it leave in the same transaction.
		r.mu.Lock()
		r.removeMemberLocked(old)
		r.mu.Unlock()
		if c := old.takeConn(); c != nil {
			c.detachFrom(old)
		}
		r.removeMedia(old.pid)
	}
	m := &member{room: r, uid: c.who.UserID, gateOn: true}
	r.mu.Lock()
	r.gating[m] = true
	r.mu.Unlock()
	ungate := func() {
		r.mu.Lock()
		delete(r.gating, m)
		r.mu.Unlock()
	}

	res, err := h.p.Rooms.Join(ctx, c.who, r.id, in)
	if err != nil {
		ungate()
		if old != nil {
			// Join failed before making the old participant leave; it has no socket
			// nor media here any more, so it leaves now.
			_ = h.p.Rooms.Disconnect(context.WithoutCancel(ctx), r.id, old.pid)
		}
		return err
	}
	return h.attach(ctx, c, r, id, m, res)
}

// errParticipantLeft answers a resume of a participant that is no longer in the meeting.
var errParticipantLeft = newError(CodeNotFound, "the participant has left; join again without a resume token")

// checkResumable checks that the participant a verified resume token names is still in the
// meeting.
func (h *Hub) checkResumable(ctx context.Context, c *conn, cl resumeClaims) error {
	p, err := h.p.Rooms.ParticipantByID(ctx, cl.MeetingID, cl.ParticipantID)
	if err != nil {
		return err
	}
	if p.LeftAt != nil || p.UserID != c.who.UserID {
		return errParticipantLeft
	}
	return nil
}

// resume restores the participant a resume token names: the same id, role and media, with
// no leave or join broadcast.
func (h *Hub) resume(ctx context.Context, c *conn, r *room, id *string, cl resumeClaims, m *member, lastSeq int64, newPCs bool) error {
	// A member this node already holds keeps its peer connections, unless the client has new
	// ones; one it does not hold gets new ones anyway.
	replacePCs := m != nil && newPCs
	if m == nil {
		// Not on this node (another node held it, or this node restarted): the participant
		// is resumed, as the domain still has it (checkResumable). The room was served
		// elsewhere: those of its participants that do not come back here leave after the
		// grace (takeover.go).
		h.adoptOrphans(ctx, r, cl.ParticipantID)
		m = &member{room: r, uid: c.who.UserID, gateOn: true}
		r.mu.Lock()
		r.gating[m] = true
		r.mu.Unlock()
	} else {
		// Take the member over: hold its events until the ack and replay are queued.
		r.mu.Lock()
		m.mu.Lock()
		if m.left || r.members[m.pid] != m {
			m.mu.Unlock()
			r.mu.Unlock()
			return errParticipantLeft
		}
		m.replaceSocketLocked(nil)
		m.gateOn, m.gate = true, nil
		m.mu.Unlock()
		r.mu.Unlock()
	}
	fail := func() {
		r.mu.Lock()
		delete(r.gating, m)
		m.mu.Lock()
		m.gateOn, m.gate = false, nil
		if m.pid != "" && m.conn == nil && !m.left && !r.closed {
			// The old socket was closed for this resume: the grace starts again.
			h.startGraceLocked(m)
		}
		m.mu.Unlock()
		r.mu.Unlock()
	}
	res, err := h.p.Rooms.Join(ctx, c.who, r.id, rooms.JoinInput{Attach: true})
	if err != nil {
		fail()
		return err
	}
	if !res.Attached || res.Participant.ParticipantID != cl.ParticipantID {
		// The participant left while we looked; Join made a new one. Undo it.
		fail()
		_ = h.p.Rooms.Disconnect(context.WithoutCancel(ctx), r.id, res.Participant.ParticipantID)
		return errParticipantLeft
	}
	lastSeq = h.clampLastSeq(ctx, r.id, lastSeq)
	replay, err := h.replay(ctx, r.id, cl.ParticipantID, lastSeq)
	if err != nil {
		fail()
		return err
	}
	if replacePCs {
		// Still gated: the fresh subscriber offer follows the ack.
		if _, err := h.replaceMedia(r, m); err != nil {
			fail()
			if errors.Is(err, errNotInRoom) {
				return errParticipantLeft
			}
			return err
		}
	}
	res.ChatHistory = []rooms.ChatView{}
	return h.attachResumed(c, r, id, m, res, replay, lastSeq)
}

// replay returns the visible chats after lastSeq, oldest first: the latest replayMax.
func (h *Hub) replay(ctx context.Context, meetingID, pid string, lastSeq int64) ([]rooms.ChatView, error) {
	var out []rooms.ChatView
	after := lastSeq
	for {
		page, err := h.p.Rooms.MessagesFor(ctx, meetingID, pid, after, replayPage)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(out) > replayMax {
			out = out[len(out)-replayMax:]
		}
		if len(page) < replayPage {
			return out, nil
		}
		after = page[len(page)-1].Seq
	}
}

// attach finishes a fresh join: the member enters the room and the router, and the socket
// gets the joined payload, then everything held meanwhile.
func (h *Hub) attach(ctx context.Context, c *conn, r *room, id *string, m *member, res rooms.JoinResult) error {
	pid := res.Participant.ParticipantID
	m.pid = pid
	if err := h.addMedia(r, m); err != nil {
		r.mu.Lock()
		delete(r.gating, m)
		r.mu.Unlock()
		if err != errAlreadyJoined {
			// The participant has no media here: it leaves rather than linger.
			_ = h.p.Rooms.Disconnect(context.WithoutCancel(ctx), r.id, pid)
		}
		return err
	}
	tok := h.resumeToken(r.id, pid, c.who.UserID)

	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.gating, m)
	if r.closed {
		m.mu.Lock()
		m.left = true
		m.mu.Unlock()
		// The router closes with the room, and the participant with it.
		return newError(CodeMeetingEnded, "the meeting has ended")
	}
	if !r.dropOrphanLocked(pid) {
		// An attach to a participant this node already holds (a REST join raced us).
		m.mu.Lock()
		m.left = true
		m.mu.Unlock()
		return errAlreadyJoined
	}
	r.members[pid] = m
	r.byUser[m.uid] = m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conn = c
	c.setMember(m)
	joined := h.joinedPayload(r, res, tok)
	h.sendJoined(c, id, joined)
	known := map[string]bool{}
	for _, p := range res.Participants {
		known[p.ParticipantID] = true
	}
	maxSeq := int64(0)
	for _, ch := range res.ChatHistory {
		maxSeq = max(maxSeq, ch.Seq)
	}
	m.openGateLocked(maxSeq, known, trackSet(joined.Tracks))
	return nil
}

// attachResumed finishes a resume: ack, replayed chat, then what was held meanwhile.
func (h *Hub) attachResumed(c *conn, r *room, id *string, m *member, res rooms.JoinResult, replay []rooms.ChatView, lastSeq int64) error {
	pid := res.Participant.ParticipantID
	isNew := m.pid == ""
	if isNew {
		m.pid = pid
		if err := h.addMedia(r, m); err != nil {
			r.mu.Lock()
			delete(r.gating, m)
			r.mu.Unlock()
			return err
		}
	}
	tok := h.resumeToken(r.id, pid, c.who.UserID)

	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.gating, m)
	if r.closed {
		return newError(CodeMeetingEnded, "the meeting has ended")
	}
	if isNew {
		if !r.dropOrphanLocked(pid) {
			return errAlreadyJoined
		}
		r.members[pid] = m
		r.byUser[m.uid] = m
	} else if r.members[pid] != m {
		return errParticipantLeft
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.left {
		return errParticipantLeft
	}
	m.replaceSocketLocked(c)
	c.setMember(m)
	joined := h.joinedPayload(r, res, tok)
	h.sendJoined(c, id, joined)
	maxSeq := lastSeq
	if len(replay) > 0 {
		frames := make([][]byte, 0, len(replay))
		for i := range replay {
			b, err := EncodeMessage(TypeChat, nil, replay[i])
			if err != nil {
				continue
			}
			frames = append(frames, b)
			maxSeq = max(maxSeq, replay[i].Seq)
		}
		c.enqueue(frames...)
	}
	held := m.held
	m.held = nil
	c.enqueue(held...)
	known := map[string]bool{}
	for _, p := range res.Participants {
		known[p.ParticipantID] = true
	}
	m.openGateLocked(maxSeq, known, trackSet(joined.Tracks))
	return nil
}

func trackSet(ts []TrackView) map[string]bool {
	out := make(map[string]bool, len(ts))
	for _, t := range ts {
		out[t.TrackID] = true
	}
	return out
}

// addMedia adds the member to the room's router (outside every lock: the SFU calls back).
func (h *Hub) addMedia(r *room, m *member) error {
	if r.router == nil {
		return nil
	}
	_, err := r.router.AddParticipant(sfu.ParticipantID(m.pid), sfu.ParticipantParams{
		SendSignal:         m.signalFn(),
		OnTrackPublished:   r.onTrackPublished,
		OnTrackUnpublished: r.onTrackUnpublished,
	})
	switch {
	case errors.Is(err, sfu.ErrRouterClosed):
		return newError(CodeMeetingEnded, "the meeting has ended")
	case errors.Is(err, sfu.ErrParticipantExists):
		return errAlreadyJoined
	}
	return err
}

// replaceMedia gives the member new peer connections, for a client that has new ones of its
// own (a reloaded page): the old ones are closed, unpublishing their tracks, and the new
// participant (same id) sends a fresh subscriber offer. Signals of the old connections,
// held or to come, are dropped. Called outside every lock: the SFU calls back.
func (h *Hub) replaceMedia(r *room, m *member) (*sfu.Participant, error) {
	if r.router == nil {
		return nil, nil
	}
	m.mu.Lock()
	send := m.newPCGenLocked()
	m.mu.Unlock()
	p, err := r.router.ReplaceParticipant(sfu.ParticipantID(m.pid), sfu.ParticipantParams{
		SendSignal:         send,
		OnTrackPublished:   r.onTrackPublished,
		OnTrackUnpublished: r.onTrackUnpublished,
	})
	switch {
	case errors.Is(err, sfu.ErrRouterClosed):
		return nil, newError(CodeMeetingEnded, "the meeting has ended")
	case errors.Is(err, sfu.ErrParticipantClosed):
		return nil, errNotInRoom
	}
	return p, err
}

// joinedPayload builds `joined`. Requires r.mu.
func (h *Hub) joinedPayload(r *room, res rooms.JoinResult, tok string) JoinedData {
	parts := res.Participants
	if parts == nil {
		parts = []rooms.ParticipantView{}
	}
	chat := res.ChatHistory
	if chat == nil {
		chat = []rooms.ChatView{}
	}
	return JoinedData{
		Participant: res.Participant, Meeting: res.Meeting, Participants: parts,
		Tracks: r.trackViewsLocked(), ChatHistory: chat,
		ICEServers: iceServerViews(h.p.ICEServers), ResumeToken: tok,
	}
}

func (h *Hub) sendJoined(c *conn, id *string, d JoinedData) {
	if id != nil {
		c.sendMsg(TypeAck, id, d)
		return
	}
	c.sendMsg(TypeJoined, nil, d)
}

// hasSocket reports whether a live socket speaks for m.
func (m *member) hasSocket() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conn != nil && !m.conn.closed()
}

// ---- leave_room ----

func (h *Hub) handleLeave(ctx context.Context, c *conn) error {
	m := c.attached()
	if m == nil {
		return errNotInRoom
	}
	r := m.room
	r.mu.Lock()
	r.removeMemberLocked(m)
	r.mu.Unlock()
	m.takeConn()
	c.detachFrom(m)
	r.removeMedia(m.pid)
	err := h.p.Rooms.Leave(ctx, c.who, r.id)
	h.maybeCloseRoom(r)
	if err != nil {
		if pe, _ := toProtocol(err); pe.Code == CodeNotInRoom || pe.Code == CodeMeetingEnded {
			return nil // already out: leaving is done either way
		}
		return err
	}
	return nil
}

// ---- chat_message ----

func (h *Hub) handleChat(ctx context.Context, c *conn, m *member, env Envelope) (any, error) {
	var d ChatMessageData
	if err := decodeData(env.Data, &d); err != nil {
		return nil, err
	}
	if d.Text == nil {
		return nil, badRequest("text is required")
	}
	cv, err := h.p.Rooms.PostChat(ctx, c.who, m.room.id, *d.Text, d.To)
	if err != nil {
		return nil, err
	}
	return ChatAckData{Seq: cv.Seq}, nil
}

// ---- media_control ----

func (h *Hub) handleMedia(ctx context.Context, c *conn, m *member, env Envelope) error {
	var d MediaControlData
	if err := decodeData(env.Data, &d); err != nil {
		return err
	}
	if d.Muted == nil {
		return badRequest("muted is required")
	}
	_, err := h.p.Rooms.SetMedia(ctx, c.who, m.room.id, d.Target, d.Source, *d.Muted)
	return err
}

// ---- webrtc_signal ----

func (h *Hub) handleSignal(m *member, env Envelope) error {
	var d WebRTCSignalData
	if err := decodeData(env.Data, &d); err != nil {
		return err
	}
	var kind sfu.PCKind
	switch d.PC {
	case "publisher":
		kind = sfu.PCPublisher
	case "subscriber":
		kind = sfu.PCSubscriber
	default:
		return badRequest("pc must be publisher or subscriber")
	}
	if d.SDP == nil && d.Candidate == nil && !d.Restart {
		return badRequest("sdp, candidate or restart is required")
	}
	for _, t := range d.Tracks {
		if t.Mid == "" || !rooms.ValidSource(t.Source) {
			return badRequest("tracks entries need a mid and a source")
		}
	}
	p := m.room.sfuParticipant(m.pid)
	if p == nil {
		return errNotInRoom
	}
	if d.SDP != nil {
		sd := webrtc.SessionDescription{SDP: d.SDP.SDP}
		switch {
		case kind == sfu.PCPublisher && d.SDP.Type == "offer":
			sd.Type = webrtc.SDPTypeOffer
			if p.NewDTLSPeer(sd) {
				// Another client peer connection (a reloaded page): both of ours are
				// replaced, and the offer goes to the new publisher connection.
				np, err := h.replaceMedia(m.room, m)
				if err != nil {
					return err
				}
				p = np
			}
			tracks := make([]sfu.TrackSource, 0, len(d.Tracks))
			for _, t := range d.Tracks {
				tracks = append(tracks, sfu.TrackSource{Mid: t.Mid, Source: sfu.Source(t.Source)})
			}
			if err := p.HandleOffer(sd, tracks); err != nil {
				return mediaInputError(err)
			}
		case kind == sfu.PCSubscriber && d.SDP.Type == "answer":
			sd.Type = webrtc.SDPTypeAnswer
			if err := p.HandleAnswer(sd); err != nil {
				return mediaInputError(err)
			}
		default:
			return badRequest("the publisher sends offers and the subscriber answers")
		}
	}
	if d.Candidate != nil {
		if err := p.AddCandidate(kind, *d.Candidate); err != nil {
			return mediaInputError(err)
		}
	}
	if d.Restart {
		if kind != sfu.PCSubscriber {
			return badRequest("restart the publisher with an ICE-restart offer")
		}
		if err := p.RestartSubscriberICE(); err != nil {
			return mediaInputError(err)
		}
	}
	return nil
}

// mediaInputError maps an SFU error caused by client input (an unparsable SDP or
// candidate) to bad_request; the SFU's sentinel errors keep their own mapping.
func mediaInputError(err error) error {
	switch {
	case errors.Is(err, sfu.ErrParticipantClosed), errors.Is(err, sfu.ErrRouterClosed),
		errors.Is(err, sfu.ErrNoOfferOutstanding), errors.Is(err, sfu.ErrInvalidSDPType),
		errors.Is(err, sfu.ErrInvalidPCKind), errors.Is(err, sfu.ErrTrackNotFound):
		return err
	}
	return badRequest("rejected by the media server: " + err.Error())
}

func (r *room) sfuParticipant(pid string) *sfu.Participant {
	if r.router == nil {
		return nil
	}
	return r.router.Participant(sfu.ParticipantID(pid))
}

// ---- subscribe ----

func (h *Hub) handleSubscribe(m *member, env Envelope) error {
	var d SubscribeData
	if err := decodeData(env.Data, &d); err != nil {
		return err
	}
	if d.TrackID == "" {
		return badRequest("track_id is required")
	}
	switch d.Quality {
	case "", "low", "medium", "high":
	default:
		return badRequest("quality must be low, medium or high")
	}
	p := m.room.sfuParticipant(m.pid)
	if p == nil {
		return errNotInRoom
	}
	paused := d.Paused != nil && *d.Paused
	return p.Subscribe(sfu.TrackID(d.TrackID), sfu.Quality(d.Quality), paused)
}

// ---- host_action ----

func (h *Hub) handleHostAction(ctx context.Context, c *conn, m *member, env Envelope) error {
	var d HostActionData
	if err := decodeData(env.Data, &d); err != nil {
		return err
	}
	needTarget := func() error {
		if d.Target == "" {
			return badRequest("target is required for " + d.Action)
		}
		return nil
	}
	mid := m.room.id
	switch d.Action {
	case ActionKick:
		if err := needTarget(); err != nil {
			return err
		}
		return h.p.Rooms.Kick(ctx, c.who, mid, rooms.ByParticipant(d.Target))
	case ActionMakeCohost, ActionRevokeCohost:
		if err := needTarget(); err != nil {
			return err
		}
		role := rooms.RoleCohost
		if d.Action == ActionRevokeCohost {
			role = rooms.RoleParticipant
		}
		_, err := h.p.Rooms.SetRole(ctx, c.who, mid, rooms.ByParticipant(d.Target), role)
		return err
	case ActionTransferHost:
		if err := needTarget(); err != nil {
			return err
		}
		_, err := h.p.Rooms.TransferHost(ctx, c.who, mid, rooms.ByParticipant(d.Target))
		return err
	case ActionMuteAll:
		_, err := h.p.Rooms.MuteAll(ctx, c.who, mid, "")
		return err
	case ActionEndMeeting:
		_, err := h.p.Rooms.End(ctx, c.who, mid)
		return err
	}
	return badRequest("unknown action " + quoteType(d.Action))
}
