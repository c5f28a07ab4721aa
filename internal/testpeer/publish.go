package testpeer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// Tracks are a peer's local tracks, by source.
type Tracks map[string]*webrtc.TrackLocalStaticRTP

// Publish adds one send-only track per source (Opus for the microphone, VP8 otherwise; a
// microphone and a camera when none is named), sends the offer with its tracks[] and waits for
// the ack.
func (p *Peer) Publish(sources ...string) (Tracks, error) {
	if len(sources) == 0 {
		sources = []string{"microphone", "camera"}
	}
	out := Tracks{}
	var decl []TrackSource
	for i, src := range sources {
		codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
		if src == "microphone" {
			codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(codec, src, "client")
		if err != nil {
			return nil, err
		}
		if _, err := p.Pub.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			return nil, err
		}
		out[src] = tr
		decl = append(decl, TrackSource{Mid: fmt.Sprint(i), Source: src})
	}
	offer, err := p.Pub.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	if err := p.Pub.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	if err := p.conn.RequestSignal(Signal{PC: "publisher", SDP: &offer, Tracks: decl}); err != nil {
		return nil, err
	}
	held := p.release(&p.pubLocal)
	for i := range held {
		p.send(Signal{PC: "publisher", Candidate: &held[i]})
	}
	return out, nil
}

// MustPublish is Publish that fails the test if it cannot publish. Call it from the test's
// goroutine.
func (p *Peer) MustPublish(sources ...string) Tracks {
	p.t.Helper()
	tracks, err := p.Publish(sources...)
	if err != nil {
		p.t.Fatalf("publish %v: %v", sources, err)
	}
	return tracks
}

// Send writes a packet on every track every 20 ms until stop is closed, a keyframe every
// 25th on video: a client that ignores whatever it is told.
func (ts Tracks) Send(stop <-chan struct{}) {
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
		for src, tr := range ts {
			if src == "microphone" {
				_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(n), Timestamp: n * 960}, Payload: payload(false, n, false)})
				continue
			}
			_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true}, Payload: payload(true, n, n%25 == 1)})
		}
	}
}

// Payloads: a codec-shaped header, a counter and filler derived from it, so the receiver
// can check every byte.
func payload(video bool, counter uint32, key bool) []byte {
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

func validPayload(p []byte) bool {
	if len(p) != 120 {
		return false
	}
	counter := binary.BigEndian.Uint32(p[2:])
	return bytes.Equal(p, payload(p[0] == 0x10, counter, p[1] == 0x00))
}
