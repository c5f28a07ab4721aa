package signaling

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// peer is a client's two pion peer connections, driven over a test client's socket.
type peer struct {
	t   testing.TB
	c   *client
	pub *webrtc.PeerConnection
	sub *webrtc.PeerConnection

	mu          sync.Mutex
	pubRemote   bool
	subRemote   bool
	pubPending  []webrtc.ICECandidateInit
	subPending  []webrtc.ICECandidateInit
	pubSDPSent  bool
	pubLocal    []webrtc.ICECandidateInit
	received    map[string]*recvTrack // by msid track id
	answersSent int
}

type recvTrack struct {
	streamID, trackID, kind string
	packets                 int
	bad                     int
}

func newTestAPI(t testing.TB) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetPrflxAcceptanceMinWait(0)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
}

// newPeer makes both peer connections and routes the server's signals to them.
func newPeer(t testing.TB, c *client) *peer {
	t.Helper()
	api := newTestAPI(t)
	pub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, c: c, pub: pub, sub: sub, received: map[string]*recvTrack{}}
	t.Cleanup(func() { _ = pub.Close(); _ = sub.Close() })
	pub.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		p.mu.Lock()
		if !p.pubSDPSent {
			p.pubLocal = append(p.pubLocal, init)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.c.send(TypeWebRTCSignal, nil, WebRTCSignalData{PC: "publisher", Candidate: &init})
	})
	sub.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		// Subscriber candidates go after our answer, which is sent synchronously before
		// SetLocalDescription starts gathering.
		p.c.send(TypeWebRTCSignal, nil, WebRTCSignalData{PC: "subscriber", Candidate: &init})
	})
	sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		rt := &recvTrack{streamID: tr.StreamID(), trackID: tr.ID(), kind: tr.Kind().String()}
		p.mu.Lock()
		p.received[tr.ID()] = rt
		p.mu.Unlock()
		go func() {
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				ok := checkPayload(pkt.Payload)
				p.mu.Lock()
				if ok {
					rt.packets++
				} else {
					rt.bad++
				}
				p.mu.Unlock()
			}
		}()
	})
	c.mu.Lock()
	c.onSignal = p.onSignal
	c.mu.Unlock()
	return p
}

// onSignal runs on the client's read goroutine, one signal at a time, in order.
func (p *peer) onSignal(d WebRTCSignalData) {
	switch {
	case d.PC == "publisher" && d.SDP != nil:
		if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: d.SDP.SDP}); err != nil {
			p.t.Errorf("publisher answer: %v", err)
			return
		}
		p.mu.Lock()
		p.pubRemote = true
		pending := p.pubPending
		p.pubPending = nil
		p.mu.Unlock()
		for _, c := range pending {
			_ = p.pub.AddICECandidate(c)
		}
	case d.PC == "publisher" && d.Candidate != nil:
		p.mu.Lock()
		if !p.pubRemote {
			p.pubPending = append(p.pubPending, *d.Candidate)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		_ = p.pub.AddICECandidate(*d.Candidate)
	case d.PC == "subscriber" && d.SDP != nil:
		if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: d.SDP.SDP}); err != nil {
			p.t.Errorf("subscriber offer: %v", err)
			return
		}
		p.mu.Lock()
		p.subRemote = true
		pending := p.subPending
		p.subPending = nil
		p.mu.Unlock()
		for _, c := range pending {
			_ = p.sub.AddICECandidate(c)
		}
		ans, err := p.sub.CreateAnswer(nil)
		if err != nil {
			p.t.Errorf("subscriber answer: %v", err)
			return
		}
		p.c.send(TypeWebRTCSignal, nil, WebRTCSignalData{PC: "subscriber", SDP: &SDP{Type: "answer", SDP: ans.SDP}})
		if err := p.sub.SetLocalDescription(ans); err != nil {
			p.t.Errorf("subscriber local: %v", err)
		}
		p.mu.Lock()
		p.answersSent++
		p.mu.Unlock()
	case d.PC == "subscriber" && d.Candidate != nil:
		p.mu.Lock()
		if !p.subRemote {
			p.subPending = append(p.subPending, *d.Candidate)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		_ = p.sub.AddICECandidate(*d.Candidate)
	}
}

// publish adds VP8 and Opus tracks and sends the offer; it returns the local tracks.
func (p *peer) publish() (video, audio *webrtc.TrackLocalStaticRTP) {
	p.t.Helper()
	var err error
	video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "client")
	if err != nil {
		p.t.Fatal(err)
	}
	audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "client")
	if err != nil {
		p.t.Fatal(err)
	}
	for _, tr := range []webrtc.TrackLocal{audio, video} {
		if _, err := p.pub.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			p.t.Fatal(err)
		}
	}
	offer, err := p.pub.CreateOffer(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.pub.SetLocalDescription(offer); err != nil {
		p.t.Fatal(err)
	}
	p.c.mustAck(TypeWebRTCSignal, WebRTCSignalData{PC: "publisher", SDP: &SDP{Type: "offer", SDP: offer.SDP},
		Tracks: []TrackSourceData{{Mid: "0", Source: "microphone"}, {Mid: "1", Source: "camera"}}})
	p.mu.Lock()
	p.pubSDPSent = true
	held := p.pubLocal
	p.pubLocal = nil
	p.mu.Unlock()
	for i := range held {
		p.c.send(TypeWebRTCSignal, nil, WebRTCSignalData{PC: "publisher", Candidate: &held[i]})
	}
	return video, audio
}

// Payloads: a codec-shaped header, a counter and filler derived from it, so the receiver
// can check every byte.
func makeTestPayload(video bool, counter uint32, key bool) []byte {
	p := make([]byte, 120)
	if video {
		p[0] = 0x10
		p[1] = 0x01
		if key {
			p[1] = 0x00
		}
	} else {
		p[0], p[1] = 0xfc, 0xff
	}
	binary.BigEndian.PutUint32(p[2:], counter)
	for i := 6; i < len(p); i++ {
		p[i] = byte(counter) ^ byte(i)
	}
	return p
}

func checkPayload(p []byte) bool {
	if len(p) != 120 {
		return false
	}
	counter := binary.BigEndian.Uint32(p[2:])
	video := p[0] == 0x10
	want := makeTestPayload(video, counter, p[1] == 0x00)
	return bytes.Equal(p, want)
}

// sendMedia writes packets on both tracks until stop is closed.
func sendMedia(video, audio *webrtc.TrackLocalStaticRTP, stop <-chan struct{}) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var n uint32
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		n++
		key := n%25 == 1
		_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true}, Payload: makeTestPayload(true, n, key)})
		_ = audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(n), Timestamp: n * 960}, Payload: makeTestPayload(false, n, false)})
	}
}

// receivedFrom reports the tracks received with good packets, by kind.
func (p *peer) check(streamID string, minPackets int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	kinds := map[string]bool{}
	for _, rt := range p.received {
		if rt.bad > 0 {
			return fmt.Errorf("track %s: %d packets with altered payload", rt.trackID, rt.bad)
		}
		if rt.streamID == streamID && rt.packets >= minPackets {
			kinds[rt.kind] = true
		}
	}
	if !kinds["video"] || !kinds["audio"] {
		// The connection's states say where a stalled subscriber stopped.
		return fmt.Errorf("received %v from %s (%d tracks; subscriber %s, ICE %s, %d answers sent)",
			kinds, streamID, len(p.received), p.sub.SignalingState(), p.sub.ICEConnectionState(), p.answersSent)
	}
	return nil
}

var errNotYet = errors.New("not yet")
