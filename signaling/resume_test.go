package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/onstagehq/onstage/internal/check"
	"github.com/onstagehq/onstage/rooms"
)

func TestResume(t *testing.T) {
	e := newEnv(t, envOpts{grace: 1500 * time.Millisecond})
	host, guest := user("h"), user("g")
	mv := e.meeting(host, "")
	a := e.dial(host)
	ja := a.join(mv.ID, nil)
	b := e.dial(guest)
	jb := b.join(mv.ID, nil)
	a.waitType(TypeParticipantJoined)
	pa := newPeer(t, a)
	tracks := pa.MustPublish()
	stop := make(chan struct{})
	defer close(stop)
	go tracks.Send(stop)
	b.waitType(TypeTrackPublished)

	b.mustAck(TypeChatMessage, map[string]any{"text": "one"})
	b.waitType(TypeChat)
	// b's socket drops; a keeps chatting (public, and private to b).
	_ = b.ws.Close(websocket.StatusGoingAway, "")
	<-b.done
	var seqs []int64
	for i, text := range []string{"two", "three"} {
		d := map[string]any{"text": text}
		if i == 1 {
			d["to"] = jb.Participant.ParticipantID
		}
		var ack ChatAckData
		a.mustAck(TypeChatMessage, d).decode(t, &ack)
		seqs = append(seqs, ack.Seq)
	}

	// Bad tokens: forged, another user's, another meeting's → unauthorized, socket stays.
	other := e.dial(user("o"))
	other.wantError(TypeJoinRoom, map[string]any{"meeting_id": mv.ID, "resume_token": jb.ResumeToken}, CodeUnauthorized)
	b2 := e.dial(guest)
	b2.wantError(TypeJoinRoom, map[string]any{"meeting_id": mv.ID, "resume_token": jb.ResumeToken + "x"}, CodeUnauthorized)
	mv2 := e.meeting(host, "")
	b2.wantError(TypeJoinRoom, map[string]any{"meeting_id": mv2.ID, "resume_token": jb.ResumeToken}, CodeUnauthorized)

	// Resume within the grace: same participant, empty history, then the missed chat.
	rid := "resume"
	b2.send(TypeJoinRoom, &rid, map[string]any{"meeting_id": mv.ID, "resume_token": jb.ResumeToken, "last_seq": 1})
	ack := b2.waitFor("resume ack", func(m msg) bool { return m.ID != nil && *m.ID == rid })
	if ack.Type != TypeAck {
		t.Fatalf("resume: %s", ack)
	}
	var jr JoinedView
	ack.decode(t, &jr)
	if jr.Participant.ParticipantID != jb.Participant.ParticipantID || len(jr.ChatHistory) != 0 || jr.ResumeToken == "" || jr.ResumeToken == jb.ResumeToken {
		t.Fatalf("resumed joined = %+v", jr)
	}
	if len(jr.Tracks) != 2 {
		t.Fatalf("tracks = %+v", jr.Tracks)
	}
	// Replay follows the ack, in order: seq 2 and 3, both visible to b.
	check.ForErr(t, 5*time.Second, 10*time.Millisecond, func() error {
		b2.mu.Lock()
		defer b2.mu.Unlock()
		var order []string
		for _, m := range b2.msgs {
			switch m.Type {
			case TypeAck, TypeChat:
				order = append(order, m.String())
			}
		}
		if len(order) < 3 {
			return fmt.Errorf("got %v", order)
		}
		want := []string{"ack", fmt.Sprintf(`"seq":%d`, seqs[0]), fmt.Sprintf(`"seq":%d`, seqs[1])}
		for i, w := range want {
			if !contains(order[i], w) {
				return fmt.Errorf("message %d = %s, want %s", i, order[i], w)
			}
		}
		return nil
	})
	// Live chat after the replay; no leave/join was broadcast to a.
	a.mustAck(TypeChatMessage, map[string]any{"text": "four"})
	if cv := chatOf(t, b2.waitFor("live chat", func(m msg) bool { return m.Type == TypeChat && contains(string(m.Data), "four") })); cv.Seq != seqs[1]+1 {
		t.Fatalf("live chat seq %d", cv.Seq)
	}
	if n := len(a.all(TypeParticipantLeft)); n != 0 {
		t.Fatalf("a saw %d participant_left", n)
	}
	if n := len(a.all(TypeParticipantJoined)); n != 1 {
		t.Fatalf("a saw %d participant_joined, want 1", n)
	}

	// A takeover: a third socket resumes while b2 is alive; b2 is closed.
	b3 := e.dial(guest)
	b3.join(mv.ID, map[string]any{"resume_token": jr.ResumeToken, "last_seq": seqs[1] + 1})
	<-b2.done
	// The older token is still valid while the participant is in.
	_ = b3.ws.Close(websocket.StatusNormalClosure, "")
	<-b3.done

	// A fresh join without a token while the user has a live socket is already_joined.
	a2 := e.dial(host)
	a2.wantError(TypeJoinRoom, map[string]any{"meeting_id": mv.ID}, CodeAlreadyJoined)

	// After the grace: participant_left disconnected, and the token gets not_found.
	var left ParticipantLeftData
	a.waitType(TypeParticipantLeft).decode(t, &left)
	if left.ParticipantID != jb.Participant.ParticipantID || left.Reason != rooms.ReasonDisconnected {
		t.Fatalf("participant_left = %+v", left)
	}
	b4 := e.dial(guest)
	b4.wantError(TypeJoinRoom, map[string]any{"meeting_id": mv.ID, "resume_token": jb.ResumeToken}, CodeNotFound)
	_ = ja
}

func TestFreshJoinReplacesGoneSocket(t *testing.T) {
	e := newEnv(t, envOpts{grace: 30 * time.Second})
	host, guest := user("h"), user("g")
	mv := e.meeting(host, "")
	a := e.dial(host)
	a.join(mv.ID, nil)
	b := e.dial(guest)
	jb := b.join(mv.ID, nil)
	a.waitType(TypeParticipantJoined)
	_ = b.ws.Close(websocket.StatusNormalClosure, "")
	<-b.done
	// The old socket is gone (within the grace): a fresh join replaces the participant.
	check.ForErr(t, 5*time.Second, 10*time.Millisecond, func() error {
		r := e.hub.roomFor(mv.ID)
		r.mu.Lock()
		defer r.mu.Unlock()
		if m := r.members[jb.Participant.ParticipantID]; m == nil || m.hasSocket() {
			return errors.New("old socket still attached")
		}
		return nil
	})
	b2 := e.dial(guest)
	jb2 := b2.join(mv.ID, nil)
	if jb2.Participant.ParticipantID == jb.Participant.ParticipantID {
		t.Fatal("same participant after a fresh join")
	}
	var left ParticipantLeftData
	a.waitType(TypeParticipantLeft).decode(t, &left)
	if left.ParticipantID != jb.Participant.ParticipantID || left.Reason != rooms.ReasonDisconnected {
		t.Fatalf("participant_left = %+v", left)
	}
	m := a.waitType(TypeParticipantJoined)
	var d struct{ Participant rooms.ParticipantView }
	m.decode(t, &d)
	if d.Participant.ParticipantID != jb2.Participant.ParticipantID {
		t.Fatalf("participant_joined = %s", m)
	}
	// Left came before joined.
	a.mu.Lock()
	var order []string
	for _, m := range a.msgs {
		if m.Type == TypeParticipantLeft || m.Type == TypeParticipantJoined {
			order = append(order, m.Type)
		}
	}
	a.mu.Unlock()
	if len(order) != 3 || order[1] != TypeParticipantLeft || order[2] != TypeParticipantJoined {
		t.Fatalf("order = %v", order)
	}
	ps, err := e.svc.Participants(context.Background(), host, mv.ID)
	if err != nil || len(ps) != 2 {
		t.Fatalf("participants = %v, %v", ps, err)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (func() bool {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
		return false
	})())
}

var _ = json.Marshal
