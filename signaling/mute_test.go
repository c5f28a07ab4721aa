package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/check"
	"github.com/onstagehq/onstage/internal/testpeer"
	"github.com/onstagehq/onstage/rooms"
)

// trackOf waits for the track_published of a participant's source and returns its id.
func (c *client) trackOf(pid, source string) string {
	c.t.Helper()
	var id string
	c.waitFor("track_published of "+source, func(m msg) bool {
		if m.Type != TypeTrackPublished {
			return false
		}
		var d TrackPublishedData
		if json.Unmarshal(m.Data, &d) != nil || d.Track.ParticipantID != pid || d.Track.Source != source {
			return false
		}
		id = d.Track.TrackID
		return true
	})
	return id
}

// flowing waits until packets arrive on p's track, and fails if they do not.
func flowing(t testing.TB, p *testpeer.Peer, what, trackID string) {
	t.Helper()
	before := p.Packets(trackID)
	check.ForErr(t, 20*time.Second, 20*time.Millisecond, func() error {
		if n := p.Packets(trackID); n < before+10 {
			return fmt.Errorf("%s: %d packets, want more than %d", what, n, before+10)
		}
		return nil
	})
}

// stopped fails unless no packet arrives on p's track for a second, a second after now. It
// logs when the last packet arrived (a measurement, not asserted).
func stopped(t testing.TB, p *testpeer.Peer, what, trackID string) {
	t.Helper()
	start, n := time.Now(), p.Packets(trackID)
	last := start
	for time.Since(start) < time.Second {
		time.Sleep(5 * time.Millisecond)
		if m := p.Packets(trackID); m != n {
			last, n = time.Now(), m
		}
	}
	if last == start {
		t.Logf("%s: no packet arrived after the mute's ack", what)
	} else {
		t.Logf("%s: last packet %v after the mute's ack", what, last.Sub(start).Round(time.Millisecond))
	}
	time.Sleep(time.Second)
	if m := p.Packets(trackID); m != n {
		t.Fatalf("%s: %d packets still arrived more than a second after the mute", what, m-n)
	}
}

// A host's mute is enforced by the SFU: the muted client keeps sending, the others stop
// hearing it within a second, until the owner (and only the owner) unmutes.
func TestHostMuteStopsForwarding(t *testing.T) {
	e := newEnv(t, envOpts{})
	hostID, spk, lis := user("h"), user("s"), user("l")
	mv := e.meeting(hostID, "")
	h := e.dial(hostID)
	h.join(mv.ID, nil)
	s := e.dial(spk)
	js := s.join(mv.ID, nil)
	l := e.dial(lis)
	l.join(mv.ID, nil)
	pl := newPeer(t, l)
	ps := newPeer(t, s)
	tracks := ps.MustPublish("microphone", "camera")
	stop := make(chan struct{})
	defer close(stop)
	go tracks.Send(stop)
	spid := js.Participant.ParticipantID
	mic, cam := l.trackOf(spid, "microphone"), l.trackOf(spid, "camera")
	flowing(t, pl, "microphone before the mute", mic)

	h.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": true, "target": spid})
	stopped(t, pl, "microphone muted by the host", mic)
	flowing(t, pl, "camera, not muted", cam)

	// Nobody but the owner unmutes: neither the host nor another participant.
	h.wantError(TypeMediaControl, map[string]any{"source": "microphone", "muted": false, "target": spid}, CodeForbidden)
	l.wantError(TypeMediaControl, map[string]any{"source": "microphone", "muted": false, "target": spid}, CodeForbidden)
	n := pl.Packets(mic)
	time.Sleep(500 * time.Millisecond)
	if m := pl.Packets(mic); m != n {
		t.Fatalf("%d packets after refused unmutes", m-n)
	}

	s.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": false})
	flowing(t, pl, "microphone unmuted by its owner", mic)

	// A host's mute of the camera: held back too, and back with a keyframe request on unmute.
	h.mustAck(TypeMediaControl, map[string]any{"source": "camera", "muted": true, "target": spid})
	stopped(t, pl, "camera muted by the host", cam)
	s.mustAck(TypeMediaControl, map[string]any{"source": "camera", "muted": false})
	flowing(t, pl, "camera unmuted by its owner", cam)
}

// A source muted before it is published is held back from its first packet.
func TestMuteHoldsBackLaterPublication(t *testing.T) {
	e := newEnv(t, envOpts{})
	hostID, spk, lis := user("h"), user("s"), user("l")
	mv := e.meeting(hostID, "")
	h := e.dial(hostID)
	h.join(mv.ID, nil)
	s := e.dial(spk)
	js := s.join(mv.ID, nil)
	l := e.dial(lis)
	l.join(mv.ID, nil)
	pl := newPeer(t, l)
	spid := js.Participant.ParticipantID
	h.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": true, "target": spid})
	s.waitFor("media_state of the mute", func(m msg) bool { return m.Type == TypeMediaState })

	ps := newPeer(t, s)
	tracks := ps.MustPublish("microphone", "camera")
	stop := make(chan struct{})
	defer close(stop)
	go tracks.Send(stop)
	mic, cam := l.trackOf(spid, "microphone"), l.trackOf(spid, "camera")
	flowing(t, pl, "camera", cam)
	if n := pl.Packets(mic); n != 0 {
		t.Fatalf("%d packets of a microphone muted before it was published", n)
	}
	s.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": false})
	flowing(t, pl, "microphone unmuted by its owner", mic)
}

// A participant that publishes microphone, camera and screen and never sends media_control
// shows all three on to a late joiner; muting or unpublishing turns one off.
func TestLateJoinerSeesPublishedSources(t *testing.T) {
	e := newEnv(t, envOpts{})
	hostID, pub, late := user("h"), user("p"), user("late")
	mv := e.meeting(hostID, "")
	h := e.dial(hostID)
	h.join(mv.ID, nil)
	p := e.dial(pub)
	jp := p.join(mv.ID, nil)
	pid := jp.Participant.ParticipantID
	pp := newPeer(t, p)
	tracks := pp.MustPublish("microphone", "camera", "screen")
	stop := make(chan struct{})
	defer close(stop)
	go tracks.Send(stop)
	for _, src := range []string{"microphone", "camera", "screen"} {
		h.trackOf(pid, src)
	}
	all := rooms.MediaView{Microphone: true, Camera: true, Screen: true}
	// The others are told as well: media_state, not muted, for each source.
	check.ForErr(t, 10*time.Second, 10*time.Millisecond, func() error {
		got := rooms.MediaView{}
		for _, m := range h.all(TypeMediaState) {
			var d MediaStateData
			m.decode(t, &d)
			if d.ParticipantID == pid && !d.Muted {
				switch d.Source {
				case "microphone":
					got.Microphone = true
				case "camera":
					got.Camera = true
				case "screen":
					got.Screen = true
				}
			}
		}
		if got != all {
			return fmt.Errorf("media_state seen: %+v", got)
		}
		return nil
	})

	l := e.dial(late)
	jl := l.join(mv.ID, nil)
	mediaOf := func(ps []rooms.ParticipantView) rooms.MediaView {
		for _, x := range ps {
			if x.ParticipantID == pid {
				return x.Media
			}
		}
		t.Fatalf("%s not in participants", pid)
		return rooms.MediaView{}
	}
	if got := mediaOf(jl.Participants); got != all {
		t.Fatalf("late joiner sees %+v, want %+v", got, all)
	}

	// Muted: off for the next joiner.
	p.mustAck(TypeMediaControl, map[string]any{"source": "camera", "muted": true})
	ps, err := e.svc.Participants(context.Background(), hostID, mv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mediaOf(ps), (rooms.MediaView{Microphone: true, Screen: true}); got != want {
		t.Fatalf("after the camera mute: %+v, want %+v", got, want)
	}

	// Unpublished (the screen's sender removed, and a new offer): off, without media_control.
	for _, snd := range pp.Pub.GetSenders() {
		if snd.Track() != nil && snd.Track().ID() == "screen" {
			if err := pp.Pub.RemoveTrack(snd); err != nil {
				t.Fatal(err)
			}
		}
	}
	offer, err := pp.Pub.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pp.Pub.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	p.mustAck(TypeWebRTCSignal, WebRTCSignalData{PC: "publisher", SDP: &SDP{Type: "offer", SDP: offer.SDP},
		Tracks: []TrackSourceData{{Mid: "0", Source: "microphone"}, {Mid: "1", Source: "camera"}, {Mid: "2", Source: "screen"}}})
	h.waitType(TypeTrackUnpublished)
	check.ForErr(t, 10*time.Second, 10*time.Millisecond, func() error {
		ps, err := e.svc.Participants(context.Background(), hostID, mv.ID)
		if err != nil {
			return err
		}
		if got, want := mediaOf(ps), (rooms.MediaView{Microphone: true}); got != want {
			return fmt.Errorf("after the screen's unpublication: %+v, want %+v", got, want)
		}
		return nil
	})
}

// A mute made on a node that does not own the room (here, the meeting domain called on
// node-a, as a REST action there would) is enforced by the owner's SFU, which applies the
// media_state event it receives over the bus; a host whose socket node-a relays is enforced
// the same way.
func TestMuteFromAnotherNode(t *testing.T) {
	p := newPair(t)
	hostID, spk, lis := user("h"), user("s"), user("l")
	mv := p.b.meeting(hostID, "")
	p.placeOnB(t, mv.ID)
	h := p.a.dial(hostID) // relayed to node-b
	h.join(mv.ID, nil)
	s := p.b.dial(spk)
	js := s.join(mv.ID, nil)
	l := p.b.dial(lis)
	l.join(mv.ID, nil)
	pl := newPeer(t, l)
	ps := newPeer(t, s)
	tracks := ps.MustPublish("microphone", "camera")
	stop := make(chan struct{})
	defer close(stop)
	go tracks.Send(stop)
	spid := js.Participant.ParticipantID
	mic, cam := l.trackOf(spid, "microphone"), l.trackOf(spid, "camera")
	flowing(t, pl, "microphone before the mute", mic)

	if _, err := p.a.svc.SetMedia(context.Background(), hostID, mv.ID, spid, "microphone", true); err != nil {
		t.Fatal(err)
	}
	stopped(t, pl, "microphone muted on node-a", mic)
	s.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": false})
	flowing(t, pl, "microphone unmuted by its owner", mic)

	h.mustAck(TypeMediaControl, map[string]any{"source": "camera", "muted": true, "target": spid})
	stopped(t, pl, "camera muted by the relayed host", cam)
}
