package signaling

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/onstagehq/onstage/internal/check"
	"github.com/onstagehq/onstage/rooms"
)

// pcClosed waits until both of a peer's connections are closed by the server (the client
// sees them fail or close once the server's side is gone, or its tracks end).
func (e *env) sfuGone(t testing.TB, meetingID, pid string) {
	t.Helper()
	check.ForErr(t, 10*time.Second, 10*time.Millisecond, func() error {
		r := e.hub.roomFor(meetingID)
		if r != nil && r.sfuParticipant(pid) != nil {
			return errors.New("sfu participant still present")
		}
		return nil
	})
}

func TestRESTActionsReachSockets(t *testing.T) {
	e := newEnv(t, envOpts{})
	host, guest := user("h"), user("g")
	mv := e.meeting(host, "")
	a := e.dial(host)
	ja := a.join(mv.ID, nil)
	b := e.dial(guest)
	jb := b.join(mv.ID, nil)
	pb := newPeer(t, b)
	tracks := pb.MustPublish()
	stop := make(chan struct{})
	defer close(stop)
	go tracks.Send(stop)
	a.waitType(TypeTrackPublished)
	a.waitType(TypeTrackPublished)
	check.ForErr(t, 10*time.Second, 10*time.Millisecond, func() error {
		if pb.Pub.ConnectionState() != webrtc.PeerConnectionStateConnected {
			return fmt.Errorf("publisher %v", pb.Pub.ConnectionState())
		}
		return nil
	})

	// REST kick (rooms.Service directly): the kicked socket and the others hear it, the
	// kicked one's tracks are unpublished first and its media is closed.
	if err := e.svc.Kick(context.Background(), host, mv.ID, rooms.ByUser(guest.UserID)); err != nil {
		t.Fatal(err)
	}
	var left ParticipantLeftData
	b.waitType(TypeParticipantLeft).decode(t, &left)
	if left.ParticipantID != jb.Participant.ParticipantID || left.Reason != rooms.ReasonKicked {
		t.Fatalf("kicked sees %+v", left)
	}
	a.waitType(TypeParticipantLeft).decode(t, &left)
	if left.Reason != rooms.ReasonKicked {
		t.Fatalf("host sees %+v", left)
	}
	if n := len(a.all(TypeTrackUnpublished)); n != 2 {
		t.Fatalf("track_unpublished before participant_left: %d", n)
	}
	e.sfuGone(t, mv.ID, jb.Participant.ParticipantID)
	// The kicked socket stays open but is out of the room.
	b.wantError(TypeChatMessage, map[string]any{"text": "hi"}, CodeNotInRoom)
	b.wantError(TypeJoinRoom, map[string]any{"meeting_id": mv.ID}, CodeForbidden)

	// REST end: meeting_ended, then the media closes.
	c := e.dial(user("c"))
	jc := c.join(mv.ID, nil)
	if _, err := e.svc.End(context.Background(), host, mv.ID); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client{a, c} {
		var d MeetingEndedData
		cl.waitType(TypeMeetingEnded).decode(t, &d)
		if d.Reason != rooms.ReasonHostEnded {
			t.Fatalf("meeting_ended %+v", d)
		}
	}
	e.sfuGone(t, mv.ID, ja.Participant.ParticipantID)
	e.sfuGone(t, mv.ID, jc.Participant.ParticipantID)
	a.wantError(TypeChatMessage, map[string]any{"text": "hi"}, CodeNotInRoom)
	a.wantError(TypeJoinRoom, map[string]any{"meeting_id": mv.ID}, CodeMeetingEnded)
	check.ForErr(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := e.hub.Stats().Rooms; n != 0 {
			return fmt.Errorf("%d rooms", n)
		}
		return nil
	})
}

func TestHostActions(t *testing.T) {
	e := newEnv(t, envOpts{})
	host, p1, p2 := user("h"), user("p1"), user("p2")
	mv := e.meeting(host, "")
	h := e.dial(host)
	jh := h.join(mv.ID, nil)
	a := e.dial(p1)
	ja := a.join(mv.ID, nil)
	b := e.dial(p2)
	jb := b.join(mv.ID, nil)

	// A plain participant may not moderate.
	for _, act := range []map[string]any{
		{"action": "kick", "target": jb.Participant.ParticipantID},
		{"action": "make_cohost", "target": jb.Participant.ParticipantID},
		{"action": "mute_all"},
		{"action": "end_meeting"},
		{"action": "transfer_host", "target": ja.Participant.ParticipantID},
	} {
		a.wantError(TypeHostAction, act, CodeForbidden)
	}
	a.wantError(TypeMediaControl, map[string]any{"source": "microphone", "muted": true, "target": jb.Participant.ParticipantID}, CodeForbidden)

	// Own media state.
	b.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": false})
	ms := h.waitType(TypeMediaState)
	var md MediaStateData
	ms.decode(t, &md)
	if md.ParticipantID != jb.Participant.ParticipantID || md.Muted || md.By != "" {
		t.Fatalf("media_state %+v", md)
	}
	// The host mutes b: media_state with by.
	h.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": true, "target": jb.Participant.ParticipantID})
	b.waitFor("muted by host", func(m msg) bool {
		var d MediaStateData
		m.decode(t, &d)
		return m.Type == TypeMediaState && d.Muted && d.By == jh.Participant.ParticipantID && d.ParticipantID == jb.Participant.ParticipantID
	})

	// make_cohost → role_changed; the co-host may mute_all.
	h.mustAck(TypeHostAction, map[string]any{"action": "make_cohost", "target": ja.Participant.ParticipantID})
	b.waitFor("role_changed cohost", func(m msg) bool {
		var d RoleChangedData
		m.decode(t, &d)
		return m.Type == TypeRoleChanged && d.ParticipantID == ja.Participant.ParticipantID && d.Role == "cohost"
	})
	b.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": false})
	a.mustAck(TypeHostAction, map[string]any{"action": "mute_all"})
	b.waitFor("mute_all", func(m msg) bool {
		var d MediaStateData
		m.decode(t, &d)
		return m.Type == TypeMediaState && d.Muted && d.By == ja.Participant.ParticipantID
	})
	h.mustAck(TypeHostAction, map[string]any{"action": "revoke_cohost", "target": ja.Participant.ParticipantID})
	a.wantError(TypeHostAction, map[string]any{"action": "mute_all"}, CodeForbidden)

	// kick over the socket.
	h.mustAck(TypeHostAction, map[string]any{"action": "kick", "target": jb.Participant.ParticipantID})
	var left ParticipantLeftData
	b.waitType(TypeParticipantLeft).decode(t, &left)
	if left.Reason != rooms.ReasonKicked {
		t.Fatalf("kick: %+v", left)
	}
	a.waitFor("kicked left", func(m msg) bool { return m.Type == TypeParticipantLeft })

	// transfer_host, then the new host ends the meeting.
	h.mustAck(TypeHostAction, map[string]any{"action": "transfer_host", "target": ja.Participant.ParticipantID})
	a.waitFor("a is host", func(m msg) bool {
		var d RoleChangedData
		m.decode(t, &d)
		return m.Type == TypeRoleChanged && d.ParticipantID == ja.Participant.ParticipantID && d.Role == "host"
	})
	a.mustAck(TypeHostAction, map[string]any{"action": "end_meeting"})
	for _, c := range []*client{h, a} {
		var d MeetingEndedData
		c.waitType(TypeMeetingEnded).decode(t, &d)
		if d.Reason != rooms.ReasonHostEnded {
			t.Fatalf("meeting_ended %+v", d)
		}
	}
}
