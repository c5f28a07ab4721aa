package sfu

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pion/webrtc/v3"
)

// Subscribe reads a subscription's state under the participant's lock: run
// with -race, a removal racing with Subscribe is reported otherwise.
func TestSubscribeRacesRemoval(t *testing.T) {
	tr, _ := newBenchTrack(0, nil)
	defer tr.fan.close()
	r := &Router{}
	// negotiating: an offer is outstanding, so the removal's negotiate pass
	// (there is no peer connection here) returns at once.
	p := &Participant{router: r, downs: map[TrackID]*subscription{}, negotiating: true}
	for i := 0; i < 100; i++ {
		d := newDownTrack(tr, &p.subConnected, nil)
		p.mu.Lock()
		p.downs[tr.info.TrackID] = &subscription{dt: d, offered: true}
		p.mu.Unlock()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_ = p.Subscribe(tr.info.TrackID, QualityLow, false)
		}()
		go func() {
			defer wg.Done()
			p.removeDownTrack(tr.info.TrackID)
		}()
		wg.Wait()
	}
	p.wg.Wait()
}

// offerFrom returns an offer of a fresh Pion peer connection sending the
// given track kinds.
func offerFrom(t *testing.T, kinds ...webrtc.RTPCodecType) webrtc.SessionDescription {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for i, k := range kinds {
		mime := webrtc.MimeTypeOpus
		if k == webrtc.RTPCodecTypeVideo {
			mime = webrtc.MimeTypeVP8
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime}, fmt.Sprint("t", i), "s")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer
}

func TestOfferTrackLimits(t *testing.T) {
	audio, video := webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo
	tests := []struct {
		name   string
		kinds  []webrtc.RTPCodecType
		tracks []TrackSource
		ok     bool
	}{
		{"microphone and camera", []webrtc.RTPCodecType{audio, video}, nil, true},
		{"camera, screen and screen audio", []webrtc.RTPCodecType{audio, video, video, audio},
			[]TrackSource{{"3", SourceScreen}}, true},
		{"two microphones", []webrtc.RTPCodecType{audio, audio}, nil, false},
		{"two cameras", []webrtc.RTPCodecType{video, video}, []TrackSource{{"1", SourceCamera}}, false},
		{"three videos", []webrtc.RTPCodecType{video, video, video}, nil, false},
		{"video from the microphone", []webrtc.RTPCodecType{video}, []TrackSource{{"0", SourceMicrophone}}, false},
		{"audio from the camera", []webrtc.RTPCodecType{audio}, []TrackSource{{"0", SourceCamera}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
			defer r.Close()
			p, err := r.AddParticipant("alice", ParticipantParams{})
			if err != nil {
				t.Fatal(err)
			}
			err = p.HandleOffer(offerFrom(t, tc.kinds...), tc.tracks)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && !errors.Is(err, ErrTooManyTracks):
				t.Fatalf("got %v, want ErrTooManyTracks", err)
			}
			if pub := p.pub.Load(); !tc.ok && pub != nil && pub.RemoteDescription() != nil {
				t.Fatal("a refused offer was applied")
			}
		})
	}
}

func TestOfferSimulcastLayerLimit(t *testing.T) {
	offer := offerFrom(t, webrtc.RTPCodecTypeVideo)
	offer.SDP = strings.Replace(offer.SDP, "a=mid:0\r\n",
		"a=mid:0\r\na=rid:a send\r\na=rid:b send\r\na=rid:c send\r\na=rid:d send\r\na=simulcast:send a;b;c;d\r\n", 1)
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	p, err := r.AddParticipant("alice", ParticipantParams{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.HandleOffer(offer, nil); !errors.Is(err, ErrTooManyTracks) {
		t.Fatalf("got %v, want ErrTooManyTracks", err)
	}
}

// An offer that the peer connection refuses changes nothing, not even the
// sources its m-lines are said to carry.
func TestRefusedOfferKeepsSources(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	p, err := r.AddParticipant("alice", ParticipantParams{})
	if err != nil {
		t.Fatal(err)
	}
	offer := offerFrom(t, webrtc.RTPCodecTypeVideo)
	var lines []string
	for _, l := range strings.Split(offer.SDP, "\r\n") {
		if !strings.HasPrefix(l, "a=ice-ufrag") {
			lines = append(lines, l)
		}
	}
	bad := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: strings.Join(lines, "\r\n")}
	if err := p.HandleOffer(bad, []TrackSource{{"0", SourceScreen}}); err == nil {
		t.Fatal("an offer without ICE credentials was accepted")
	}
	p.mu.Lock()
	src, ok := p.sources["0"]
	p.mu.Unlock()
	if ok {
		t.Fatalf("m-line 0 recorded as %s by a refused offer", src)
	}
}

func TestHeldCandidatesBounded(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	p, err := r.AddParticipant("alice", ParticipantParams{})
	if err != nil {
		t.Fatal(err)
	}
	c := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}
	for i := 0; i < maxHeldCandidates; i++ {
		if err := p.AddCandidate(PCPublisher, c); err != nil {
			t.Fatalf("candidate %d: %v", i, err)
		}
	}
	if err := p.AddCandidate(PCPublisher, c); !errors.Is(err, ErrTooManyCandidates) {
		t.Fatalf("candidate %d: got %v, want ErrTooManyCandidates", maxHeldCandidates, err)
	}
	big := webrtc.ICECandidateInit{Candidate: "candidate:" + strings.Repeat("x", 2000)}
	if err := p.AddCandidate(PCSubscriber, big); !errors.Is(err, ErrCandidateTooLarge) {
		t.Fatalf("got %v, want ErrCandidateTooLarge", err)
	}
}

// A participant that only subscribes never gets a publisher connection; its
// first offer makes one, and candidates sent before it are kept for it.
func TestPublisherConnectionOnFirstOffer(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	p, err := r.AddParticipant("alice", ParticipantParams{})
	if err != nil {
		t.Fatal(err)
	}
	if p.pub.Load() != nil {
		t.Fatal("a publisher connection before any offer")
	}
	c := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}
	if err := p.AddCandidate(PCPublisher, c); err != nil {
		t.Fatal(err)
	}
	if err := p.HandleOffer(offerFrom(t, webrtc.RTPCodecTypeAudio), nil); err != nil {
		t.Fatal(err)
	}
	if pub := p.pub.Load(); pub == nil || pub.RemoteDescription() == nil {
		t.Fatal("the offer made no publisher connection")
	}
}
