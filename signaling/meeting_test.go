package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/onstagehq/onstage/internal/check"
	"github.com/onstagehq/onstage/rooms"
)

func chatOf(t testing.TB, m msg) rooms.ChatView {
	var cv rooms.ChatView
	m.decode(t, &cv)
	return cv
}

func TestMediaAndChat(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.hub.p.ICEServers = []webrtc.ICEServer{{URLs: []string{"stun:stun.example:3478"}}}
	host, guest, third := user("h"), user("g"), user("x")
	mv := e.meeting(host, "pw")

	a := e.dial(host)
	ja := a.join(mv.ID, nil)
	if ja.Participant.Role != rooms.RoleHost || len(ja.Participants) != 1 || ja.ResumeToken == "" {
		t.Fatalf("joined = %+v", ja)
	}
	if len(ja.ICEServers) != 1 || ja.ICEServers[0].URLs[0] != "stun:stun.example:3478" {
		t.Fatalf("ice_servers = %+v", ja.ICEServers)
	}
	b := e.dial(guest)
	b.wantError(TypeJoinRoom, map[string]any{"meeting_id": mv.ID, "password": "wrong"}, CodeWrongPassword)
	// By code, and without an id: a `joined` message.
	b.send(TypeJoinRoom, nil, map[string]any{"code": mv.Code, "password": "pw"})
	var jb JoinedView
	b.waitType(TypeJoined).decode(t, &jb)
	if jb.Participant.Role != rooms.RoleParticipant || len(jb.Participants) != 2 {
		t.Fatalf("joined = %+v", jb)
	}
	pj := a.waitType(TypeParticipantJoined)
	var pjd struct{ Participant rooms.ParticipantView }
	pj.decode(t, &pjd)
	if pjd.Participant.ParticipantID != jb.Participant.ParticipantID {
		t.Fatalf("participant_joined = %s", pj)
	}

	// a publishes VP8 + Opus; b receives both, payloads unchanged.
	pa := newPeer(t, a)
	pb := newPeer(t, b)
	tracks := pa.MustPublish()
	stop := make(chan struct{})
	defer close(stop)
	go tracks.Send(stop)
	for _, c := range []*client{a, b} {
		for i := 0; i < 2; i++ {
			m := c.waitType(TypeTrackPublished)
			var d TrackPublishedData
			m.decode(t, &d)
			if d.Track.ParticipantID != ja.Participant.ParticipantID || d.Track.StreamID != ja.Participant.ParticipantID || d.Track.Layers == nil {
				t.Fatalf("track_published = %s", m)
			}
		}
	}
	check.ForErr(t, 20*time.Second, 20*time.Millisecond, func() error { return pb.Check(ja.Participant.ParticipantID, 20) })

	// A third participant sees the published tracks in joined.
	c3 := e.dial(third)
	j3 := c3.join(mv.ID, map[string]any{"password": "pw"})
	if len(j3.Tracks) != 2 {
		t.Fatalf("tracks in joined = %+v", j3.Tracks)
	}

	// Chat both ways with increasing seq, reaching everyone.
	var last int64
	for i, c := range []*client{a, b, a, b} {
		ack := c.mustAck(TypeChatMessage, map[string]any{"text": fmt.Sprintf("hello %d", i)})
		var d ChatAckData
		ack.decode(t, &d)
		if d.Seq != last+1 {
			t.Fatalf("seq = %d after %d", d.Seq, last)
		}
		last = d.Seq
		for _, r := range []*client{a, b, c3} {
			cv := chatOf(t, r.waitType(TypeChat))
			if cv.Seq != d.Seq || cv.Text != fmt.Sprintf("hello %d", i) || cv.SentAt.IsZero() || cv.FromName == "" {
				t.Fatalf("chat = %+v", cv)
			}
		}
	}
	// Private: a → b reaches a and b only.
	ack := a.mustAck(TypeChatMessage, map[string]any{"text": "psst", "to": jb.Participant.ParticipantID})
	var pd ChatAckData
	ack.decode(t, &pd)
	for _, r := range []*client{a, b} {
		cv := chatOf(t, r.waitType(TypeChat))
		if cv.Seq != pd.Seq || cv.To != jb.Participant.ParticipantID || cv.From != ja.Participant.ParticipantID {
			t.Fatalf("private chat = %+v", cv)
		}
	}
	// A later public message reaches c3 while the private one never does.
	a.mustAck(TypeChatMessage, map[string]any{"text": "public again"})
	cv := chatOf(t, c3.waitType(TypeChat))
	if cv.Seq != pd.Seq+1 {
		t.Fatalf("third got seq %d, want %d (the private one skipped)", cv.Seq, pd.Seq+1)
	}
	for _, m := range c3.all(TypeChat) {
		if chatOf(t, m).Text == "psst" {
			t.Fatal("private chat reached a third participant")
		}
	}

	// subscribe to one of a's tracks.
	b.mustAck(TypeSubscribe, map[string]any{"track_id": j3.Tracks[0].TrackID, "quality": "low", "paused": false})

	// The publisher leaves: each track unpublished, then participant_left.
	a.mustAck(TypeLeaveRoom, nil)
	var seen []string
	check.ForErr(t, 10*time.Second, 10*time.Millisecond, func() error {
		seen = nil
		b.mu.Lock()
		for _, m := range b.msgs {
			if m.Type == TypeTrackUnpublished || m.Type == TypeParticipantLeft {
				seen = append(seen, m.Type)
			}
		}
		b.mu.Unlock()
		if len(seen) < 3 {
			return fmt.Errorf("seen %v", seen)
		}
		return nil
	})
	if seen[0] != TypeTrackUnpublished || seen[1] != TypeTrackUnpublished || seen[2] != TypeParticipantLeft {
		t.Fatalf("order = %v", seen)
	}
	var left ParticipantLeftData
	b.waitType(TypeParticipantLeft).decode(t, &left)
	if left.ParticipantID != ja.Participant.ParticipantID || left.Reason != "left" {
		t.Fatalf("participant_left = %+v", left)
	}
	// The host role went to b (the longest present).
	check.ForErr(t, 10*time.Second, 10*time.Millisecond, func() error {
		for _, m := range b.all(TypeRoleChanged) {
			var d RoleChangedData
			_ = json.Unmarshal(m.Data, &d)
			if d.ParticipantID == jb.Participant.ParticipantID && d.Role == "host" {
				return nil
			}
		}
		return errors.New("no role_changed to host")
	})
	// a may join again on the same socket.
	a.join(mv.ID, nil)
	_ = context.Background()
}
