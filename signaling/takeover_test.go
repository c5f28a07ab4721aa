package signaling

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/check"
	"github.com/onstagehq/onstage/rooms"
)

// restJoin makes who an active participant of the meeting without any socket on the hub,
// as if it had been on a previous owner, and returns its participant id.
func (e *env) restJoin(who authn.Identity, meetingID string) string {
	e.t.Helper()
	res, err := e.svc.Join(context.Background(), who, meetingID, rooms.JoinInput{})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Participant.ParticipantID
}

func (e *env) activeIDs(host authn.Identity, meetingID string) map[string]bool {
	e.t.Helper()
	ps, err := e.svc.Participants(context.Background(), host, meetingID)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range ps {
		out[p.ParticipantID] = true
	}
	return out
}

// A room taken over from a dead owner: the first resume here starts the grace of every
// participant that has not come back; those that resume or join within it stay, the others
// leave with reason disconnected.
func TestTakeoverGraceForParticipantsNotBack(t *testing.T) {
	const grace = 1500 * time.Millisecond
	e := newEnv(t, envOpts{grace: grace})
	host, gone, back, fresh := user("h"), user("gone"), user("back"), user("fresh")
	mv := e.meeting(host, "")
	ids := map[string]string{}
	for _, u := range []authn.Identity{host, gone, back, fresh} {
		ids[u.UserID] = e.restJoin(u, mv.ID)
	}
	tok := func(u authn.Identity) string { return e.hub.resumeToken(mv.ID, ids[u.UserID], u.UserID) }

	a := e.dial(host)
	ja := a.join(mv.ID, map[string]any{"resume_token": tok(host), "new_peer_connections": true})
	if ja.Participant.ParticipantID != ids["h"] {
		t.Fatalf("resumed as %s, want %s", ja.Participant.ParticipantID, ids["h"])
	}
	r := e.hub.roomFor(mv.ID)
	r.mu.Lock()
	n := len(r.members)
	r.mu.Unlock()
	if n != 4 {
		t.Fatalf("room holds %d members, want the resumed one and 3 in their grace", n)
	}

	// One resumes with its token, one joins afresh: both keep their participant.
	b := e.dial(back)
	if jb := b.join(mv.ID, map[string]any{"resume_token": tok(back), "new_peer_connections": true}); jb.Participant.ParticipantID != ids["back"] {
		t.Fatalf("back resumed as %s, want %s", jb.Participant.ParticipantID, ids["back"])
	}
	f := e.dial(fresh)
	if jf := f.join(mv.ID, nil); jf.Participant.ParticipantID != ids["fresh"] {
		t.Fatalf("fresh joined as %s, want %s", jf.Participant.ParticipantID, ids["fresh"])
	}

	// After the grace the one that never came back leaves, and everyone here is told.
	var left ParticipantLeftData
	a.waitType(TypeParticipantLeft).decode(t, &left)
	if left.ParticipantID != ids["gone"] || left.Reason != rooms.ReasonDisconnected {
		t.Fatalf("participant_left = %+v", left)
	}
	b.waitFor("participant_left", func(m msg) bool { return m.Type == TypeParticipantLeft })
	time.Sleep(grace + 500*time.Millisecond) // nothing else leaves
	if n := len(a.all(TypeParticipantLeft)); n != 1 {
		t.Fatalf("host saw %d participant_left, want 1", n)
	}
	active := e.activeIDs(host, mv.ID)
	if len(active) != 3 || active[ids["gone"]] || !active[ids["back"]] || !active[ids["fresh"]] || !active[ids["h"]] {
		t.Fatalf("active participants = %v", active)
	}
	g := e.dial(gone)
	g.wantError(TypeJoinRoom, map[string]any{"meeting_id": mv.ID, "resume_token": tok(gone)}, CodeNotFound)
}

// A resume that fails puts the orphan it claimed back in its grace.
func TestTakeoverFailedJoinKeepsGrace(t *testing.T) {
	e := newEnv(t, envOpts{grace: time.Second})
	host, gone := user("h"), user("gone")
	mv := e.meeting(host, "")
	hp, gp := e.restJoin(host, mv.ID), e.restJoin(gone, mv.ID)
	a := e.dial(host)
	a.join(mv.ID, map[string]any{"resume_token": e.hub.resumeToken(mv.ID, hp, host.UserID)})
	// A token naming someone else's participant: the resume fails.
	g := e.dial(gone)
	g.wantError(TypeJoinRoom, map[string]any{"meeting_id": mv.ID, "resume_token": e.hub.resumeToken(mv.ID, hp, gone.UserID)}, CodeNotFound)
	var left ParticipantLeftData
	a.waitType(TypeParticipantLeft).decode(t, &left)
	if left.ParticipantID != gp || left.Reason != rooms.ReasonDisconnected {
		t.Fatalf("participant_left = %+v", left)
	}
}

// A plain first join of a fresh room starts no grace for participants that joined over REST.
func TestFreshJoinLeavesRESTParticipantsAlone(t *testing.T) {
	const grace = 300 * time.Millisecond
	e := newEnv(t, envOpts{grace: grace})
	host, rest := user("h"), user("rest")
	mv := e.meeting(host, "")
	rp := e.restJoin(rest, mv.ID)
	a := e.dial(host)
	ja := a.join(mv.ID, nil)
	time.Sleep(3 * grace)
	if n := len(a.all(TypeParticipantLeft)); n != 0 {
		t.Fatalf("host saw %d participant_left", n)
	}
	active := e.activeIDs(host, mv.ID)
	if len(active) != 2 || !active[rp] || !active[ja.Participant.ParticipantID] {
		t.Fatalf("active participants = %v", active)
	}
	check.ForErr(t, time.Second, 10*time.Millisecond, func() error {
		r := e.hub.roomFor(mv.ID)
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.members) != 1 {
			return fmt.Errorf("room holds %d members, want 1", len(r.members))
		}
		return nil
	})
}
