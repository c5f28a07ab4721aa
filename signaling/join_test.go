package signaling

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/rooms"
)

// countingPlacement places every meeting on this node and records what it was asked.
type countingPlacement struct {
	node string
	mu   sync.Mutex
	ids  []string
}

func (p *countingPlacement) Owner(_ context.Context, meetingID string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, meetingID)
	return p.node, nil
}

func (p *countingPlacement) asked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ids...)
}

// A join_room is checked (the meeting id's shape, the meeting, the caller's right to join)
// before anything is spent on it: no placement, hence no room, router or subscription.
func TestJoinCheckedBeforePlacement(t *testing.T) {
	e := newEnv(t, envOpts{})
	pl := &countingPlacement{node: e.hub.p.NodeID}
	e.hub.p.Placement = pl // before any socket: the hub reads it only on joins

	hostID := user("h")
	open := e.meeting(hostID, "")
	locked := e.meeting(hostID, "secret")
	private, err := e.svc.Create(context.Background(), hostID, rooms.CreateInput{
		Title: "private", StartTime: open.StartTime, DurationMinutes: 60})
	if err != nil {
		t.Fatal(err)
	}
	ended := e.meeting(hostID, "")
	h := e.dial(hostID)
	h.join(ended.ID, nil)
	h.mustAck(TypeHostAction, map[string]any{"action": ActionEndMeeting})
	h.waitType(TypeMeetingEnded)
	if got := pl.asked(); len(got) != 1 || got[0] != ended.ID {
		t.Fatalf("placements = %v, want only %s", got, ended.ID)
	}

	c := e.dial(user("c"))
	g := e.dial(authn.Identity{UserID: "guest_g", Role: authn.RoleGuest, Name: "g"})
	for _, tt := range []struct {
		name string
		cl   *client
		data map[string]any
		code string
	}{
		{"single-token wildcard", c, map[string]any{"meeting_id": "*"}, CodeNotFound},
		{"full wildcard", c, map[string]any{"meeting_id": ">"}, CodeNotFound},
		{"wildcard inside", c, map[string]any{"meeting_id": "a.*.events"}, CodeNotFound},
		{"unknown meeting", c, map[string]any{"meeting_id": "0190b7c4-5f1e-7a3b-9c2d-4e5f6a7b8c9d"}, CodeNotFound},
		{"ended meeting", c, map[string]any{"meeting_id": ended.ID}, CodeMeetingEnded},
		{"wrong password", c, map[string]any{"meeting_id": locked.ID, "password": "guess"}, CodeWrongPassword},
		{"guest in a private meeting", g, map[string]any{"meeting_id": private.ID}, CodeForbidden},
		{"forged resume token", c, map[string]any{"meeting_id": open.ID, "resume_token": "x.y"}, CodeUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cl.wantError(TypeJoinRoom, tt.data, tt.code)
		})
	}
	if got := pl.asked(); len(got) != 1 {
		t.Fatalf("refused joins were placed: %v", got[1:])
	}

	// A resume token of a participant that has left: not_found, nothing placed.
	d := e.dial(user("d"))
	jd := d.join(open.ID, nil)
	d.mustAck(TypeLeaveRoom, nil)
	n := len(pl.asked())
	d2 := e.dial(user("d"))
	d2.wantError(TypeJoinRoom, map[string]any{"meeting_id": open.ID, "resume_token": jd.ResumeToken}, CodeNotFound)
	if got := pl.asked(); len(got) != n {
		t.Fatalf("a resume of a participant that left was placed: %v", got[n:])
	}

	// The right password joins, with one placement.
	c.join(locked.ID, map[string]any{"password": "secret"})
	if got := pl.asked(); len(got) != n+1 || got[n] != locked.ID {
		t.Fatalf("placements = %v", got)
	}
}

// The rules of chat text and media sources are the domain's alone: their errors reach the
// client as bad_request naming the field and the domain's reason.
func TestDomainOwnsInputRules(t *testing.T) {
	e := newEnv(t, envOpts{})
	hostID := user("h")
	mv := e.meeting(hostID, "")
	c := e.dial(hostID)
	c.join(mv.ID, nil)
	for _, tt := range []struct {
		name, typ string
		data      map[string]any
		want      string
	}{
		{"bad source", TypeMediaControl, map[string]any{"source": "tv", "muted": true}, "source must be microphone, camera or screen"},
		{"chat too long", TypeChatMessage, map[string]any{"text": strings.Repeat("é", rooms.MaxChatText+1)}, "text must be at most 2000 characters"},
		{"chat blank", TypeChatMessage, map[string]any{"text": " \t"}, "text required"},
	} {
		m := c.request(tt.typ, tt.data)
		var d ErrorData
		if m.Type == TypeError {
			m.decode(t, &d)
		}
		if d.Code != CodeBadRequest || !strings.HasSuffix(d.Message, ": "+tt.want) {
			t.Errorf("%s: got %s, want bad_request ending with %q", tt.name, m, ": "+tt.want)
		}
	}
	c.mustAck(TypeChatMessage, map[string]any{"text": strings.Repeat("é", rooms.MaxChatText)})
}
