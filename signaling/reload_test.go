package signaling

import (
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/onstagehq/onstage/internal/check"
	"github.com/onstagehq/onstage/internal/testpeer"
	"github.com/onstagehq/onstage/sfu"
)

// TestResumeAfterReload resumes participants whose page was reloaded: new client peer
// connections, announced with new_peer_connections or only by a publisher offer with a new
// DTLS fingerprint. Media flows again on the new connections both ways, and nobody sees the
// participant leave or join.
func TestResumeAfterReload(t *testing.T) {
	for _, flag := range []bool{true, false} {
		name := "new_peer_connections"
		if !flag {
			name = "new_fingerprint"
		}
		t.Run(name, func(t *testing.T) { testResumeAfterReload(t, flag) })
	}
}

func testResumeAfterReload(t *testing.T, flag bool) {
	e := newEnv(t, envOpts{})
	host, guest := user("h"), user("g")
	mv := e.meeting(host, "")
	a := e.dial(host)
	ja := a.join(mv.ID, nil)
	b := e.dial(guest)
	jb := b.join(mv.ID, nil)
	a.waitType(TypeParticipantJoined)
	aID, bID := ja.Participant.ParticipantID, jb.Participant.ParticipantID

	stop := make(chan struct{})
	defer close(stop)
	pa := newPeer(t, a)
	tracksA := pa.MustPublish()
	go tracksA.Send(stop)
	pb := newPeer(t, b)
	tracksB := pb.MustPublish()
	go tracksB.Send(stop)
	check.ForErr(t, 20*time.Second, 20*time.Millisecond, func() error { return pb.Check(aID, 20) })
	check.ForErr(t, 20*time.Second, 20*time.Millisecond, func() error { return pa.Check(bID, 20) })

	// serverSaw adds the server's view of pid's connections to a failed check.
	serverSaw := func(pid string, f func() error) func() error {
		return func() error {
			err := f()
			if err == nil {
				return nil
			}
			state := "not in the router"
			if r := e.hub.roomFor(mv.ID); r != nil {
				if p := r.router.Participant(sfu.ParticipantID(pid)); p != nil {
					state = p.ConnState()
				}
			}
			return fmt.Errorf("%w; server: %s", err, state)
		}
	}

	// reload closes c's socket and peer connections, and resumes on a new socket with new
	// peer connections.
	reload := func(c *client, p *testpeer.Peer, tok string) (*client, *testpeer.Peer, JoinedView) {
		t.Helper()
		_ = c.ws.Close(websocket.StatusGoingAway, "")
		<-c.done
		p.Close()
		c2 := e.dial(c.who)
		p2 := newPeer(t, c2)
		extra := map[string]any{"resume_token": tok}
		if flag {
			extra["new_peer_connections"] = true
		}
		j := c2.join(mv.ID, extra)
		if flag {
			// What a reloaded web page sends right after the ack.
			c2.send(TypeWebRTCSignal, nil, WebRTCSignalData{PC: "subscriber", Restart: true})
		}
		return c2, p2, j
	}

	// B reloads: it receives A's media again on its new connections, and A receives B's
	// newly published tracks.
	b2, pb2, jb2 := reload(b, pb, jb.ResumeToken)
	if jb2.Participant.ParticipantID != bID {
		t.Fatalf("resumed as %s, want %s", jb2.Participant.ParticipantID, bID)
	}
	tracksB2 := pb2.MustPublish()
	go tracksB2.Send(stop)
	check.ForErr(t, 20*time.Second, 20*time.Millisecond, serverSaw(bID, func() error { return pb2.Check(aID, 20) }))
	newB := publishedBy(a, bID, 4) // the two tracks of the first stay, then the two new ones
	check.ForErr(t, 20*time.Second, 20*time.Millisecond, serverSaw(aID, func() error { return pa.CheckTracks(newB[2:], 20) }))

	// A reloads too: B (on its new connections) receives A's new tracks.
	a2, pa2, ja2 := reload(a, pa, ja.ResumeToken)
	if ja2.Participant.ParticipantID != aID {
		t.Fatalf("resumed as %s, want %s", ja2.Participant.ParticipantID, aID)
	}
	tracksA2 := pa2.MustPublish()
	go tracksA2.Send(stop)
	newA := publishedBy(b2, aID, 2)
	check.ForErr(t, 20*time.Second, 20*time.Millisecond, serverSaw(bID, func() error { return pb2.CheckTracks(newA, 20) }))
	check.ForErr(t, 20*time.Second, 20*time.Millisecond, serverSaw(aID, func() error { return pa2.Check(bID, 20) }))

	// Nobody left or joined: only B's first join was announced, to A's first socket.
	for _, c := range []*client{a, b, a2, b2} {
		if n := len(c.all(TypeParticipantLeft)); n != 0 {
			t.Fatalf("%s saw %d participant_left", c.who.UserID, n)
		}
	}
	if n := len(a.all(TypeParticipantJoined)) + len(a2.all(TypeParticipantJoined)) + len(b.all(TypeParticipantJoined)) + len(b2.all(TypeParticipantJoined)); n != 1 {
		t.Fatalf("%d participant_joined, want 1", n)
	}
	if r := e.hub.roomFor(mv.ID); r == nil || r.router.Stats().Participants != 2 || r.router.Stats().Tracks != 4 {
		t.Fatalf("router stats after the reloads: %+v", r.router.Stats())
	}
}

// publishedBy waits for n track_published of participant pid on c and returns their ids.
func publishedBy(c *client, pid string, n int) []string {
	c.t.Helper()
	var ids []string
	for len(ids) < n {
		var d TrackPublishedData
		c.waitFor(fmt.Sprintf("track_published %d of %s", len(ids)+1, pid), func(m msg) bool {
			return m.Type == TypeTrackPublished && contains(string(m.Data), `"participant_id":"`+pid+`"`)
		}).decode(c.t, &d)
		ids = append(ids, d.Track.TrackID)
	}
	return ids
}
