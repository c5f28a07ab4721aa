package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/onstagehq/onstage/internal/check"
	"github.com/onstagehq/onstage/rooms"
)

// publishSources adds one track per source (Opus for the microphone, VP8 otherwise), sends
// the offer with tracks[] and returns the local tracks by source.
func (p *peer) publishSources(sources ...string) map[string]*webrtc.TrackLocalStaticRTP {
	p.t.Helper()
	out := map[string]*webrtc.TrackLocalStaticRTP{}
	var decl []TrackSourceData
	for i, src := range sources {
		codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
		if src == "microphone" {
			codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(codec, src, "client")
		if err != nil {
			p.t.Fatal(err)
		}
		if _, err := p.pub.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			p.t.Fatal(err)
		}
		out[src] = tr
		decl = append(decl, TrackSourceData{Mid: fmt.Sprint(i), Source: src})
	}
	offer, err := p.pub.CreateOffer(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.pub.SetLocalDescription(offer); err != nil {
		p.t.Fatal(err)
	}
	p.c.mustAck(TypeWebRTCSignal, WebRTCSignalData{PC: "publisher", SDP: &SDP{Type: "offer", SDP: offer.SDP}, Tracks: decl})
	p.mu.Lock()
	p.pubSDPSent = true
	held := p.pubLocal
	p.pubLocal = nil
	p.mu.Unlock()
	for i := range held {
		p.c.send(TypeWebRTCSignal, nil, WebRTCSignalData{PC: "publisher", Candidate: &held[i]})
	}
	return out
}

// sendSources writes a packet on every track every 20 ms until stop is closed: a client that
// ignores whatever it is told.
func sendSources(tracks map[string]*webrtc.TrackLocalStaticRTP, stop <-chan struct{}) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var n uint32
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		n++
		for src, tr := range tracks {
			if src == "microphone" {
				_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(n), Timestamp: n * 960}, Payload: makeTestPayload(false, n, false)})
				continue
			}
			_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true}, Payload: makeTestPayload(true, n, n%25 == 1)})
		}
	}
}

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

// packets returns the good packets received on a track.
func (p *peer) packets(trackID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rt := p.received[trackID]; rt != nil {
		return rt.packets
	}
	return 0
}

// flowing waits until packets arrive on the track, and fails if they do not.
func (p *peer) flowing(t testing.TB, what, trackID string) {
	t.Helper()
	before := p.packets(trackID)
	check.ForErr(t, 20*time.Second, 20*time.Millisecond, func() error {
		if n := p.packets(trackID); n < before+10 {
			return fmt.Errorf("%s: %d packets, want more than %d", what, n, before+10)
		}
		return nil
	})
}

// stopped fails unless no packet arrives on the track for a second, a second after now. It
// logs when the last packet arrived (a measurement, not asserted).
func (p *peer) stopped(t testing.TB, what, trackID string) {
	t.Helper()
	start, n := time.Now(), p.packets(trackID)
	last := start
	for time.Since(start) < time.Second {
		time.Sleep(5 * time.Millisecond)
		if m := p.packets(trackID); m != n {
			last, n = time.Now(), m
		}
	}
	if last == start {
		t.Logf("%s: no packet arrived after the mute's ack", what)
	} else {
		t.Logf("%s: last packet %v after the mute's ack", what, last.Sub(start).Round(time.Millisecond))
	}
	time.Sleep(time.Second)
	if m := p.packets(trackID); m != n {
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
	tracks := ps.publishSources("microphone", "camera")
	stop := make(chan struct{})
	defer close(stop)
	go sendSources(tracks, stop)
	spid := js.Participant.ParticipantID
	mic, cam := l.trackOf(spid, "microphone"), l.trackOf(spid, "camera")
	pl.flowing(t, "microphone before the mute", mic)

	h.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": true, "target": spid})
	pl.stopped(t, "microphone muted by the host", mic)
	pl.flowing(t, "camera, not muted", cam)

	// Nobody but the owner unmutes: neither the host nor another participant.
	h.wantError(TypeMediaControl, map[string]any{"source": "microphone", "muted": false, "target": spid}, CodeForbidden)
	l.wantError(TypeMediaControl, map[string]any{"source": "microphone", "muted": false, "target": spid}, CodeForbidden)
	n := pl.packets(mic)
	time.Sleep(500 * time.Millisecond)
	if m := pl.packets(mic); m != n {
		t.Fatalf("%d packets after refused unmutes", m-n)
	}

	s.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": false})
	pl.flowing(t, "microphone unmuted by its owner", mic)

	// A host's mute of the camera: held back too, and back with a keyframe request on unmute.
	h.mustAck(TypeMediaControl, map[string]any{"source": "camera", "muted": true, "target": spid})
	pl.stopped(t, "camera muted by the host", cam)
	s.mustAck(TypeMediaControl, map[string]any{"source": "camera", "muted": false})
	pl.flowing(t, "camera unmuted by its owner", cam)
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
	tracks := ps.publishSources("microphone", "camera")
	stop := make(chan struct{})
	defer close(stop)
	go sendSources(tracks, stop)
	mic, cam := l.trackOf(spid, "microphone"), l.trackOf(spid, "camera")
	pl.flowing(t, "camera", cam)
	if n := pl.packets(mic); n != 0 {
		t.Fatalf("%d packets of a microphone muted before it was published", n)
	}
	s.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": false})
	pl.flowing(t, "microphone unmuted by its owner", mic)
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
	tracks := pp.publishSources("microphone", "camera", "screen")
	stop := make(chan struct{})
	defer close(stop)
	go sendSources(tracks, stop)
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
	for _, snd := range pp.pub.GetSenders() {
		if snd.Track() != nil && snd.Track().ID() == "screen" {
			if err := pp.pub.RemoveTrack(snd); err != nil {
				t.Fatal(err)
			}
		}
	}
	offer, err := pp.pub.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pp.pub.SetLocalDescription(offer); err != nil {
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
	tracks := ps.publishSources("microphone", "camera")
	stop := make(chan struct{})
	defer close(stop)
	go sendSources(tracks, stop)
	spid := js.Participant.ParticipantID
	mic, cam := l.trackOf(spid, "microphone"), l.trackOf(spid, "camera")
	pl.flowing(t, "microphone before the mute", mic)

	if _, err := p.a.svc.SetMedia(context.Background(), hostID, mv.ID, spid, "microphone", true); err != nil {
		t.Fatal(err)
	}
	pl.stopped(t, "microphone muted on node-a", mic)
	s.mustAck(TypeMediaControl, map[string]any{"source": "microphone", "muted": false})
	pl.flowing(t, "microphone unmuted by its owner", mic)

	h.mustAck(TypeMediaControl, map[string]any{"source": "camera", "muted": true, "target": spid})
	pl.stopped(t, "camera muted by the relayed host", cam)
}
