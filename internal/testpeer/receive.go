package testpeer

import (
	"fmt"

	"github.com/pion/webrtc/v3"
)

// track is what arrived on one received track.
type track struct {
	streamID, trackID, kind string
	packets                 int // with the payload as sent
	bad                     int // with an altered payload
}

func (p *Peer) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	rt := &track{streamID: tr.StreamID(), trackID: tr.ID(), kind: tr.Kind().String()}
	p.mu.Lock()
	p.received[tr.ID()] = rt
	p.mu.Unlock()
	go func() {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			ok := validPayload(pkt.Payload)
			p.mu.Lock()
			if ok {
				rt.packets++
			} else {
				rt.bad++
			}
			p.mu.Unlock()
		}
	}()
}

// Check reports whether an audio and a video track of the stream (a participant id) each
// brought at least minPackets packets, and that no track brought an altered one.
func (p *Peer) Check(streamID string, minPackets int) error {
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
			kinds, streamID, len(p.received), p.Sub.SignalingState(), p.Sub.ICEConnectionState(), p.answers)
	}
	return nil
}

// CheckTracks reports whether each track of ids brought at least minPackets packets, none
// of them altered.
func (p *Peer) CheckTracks(ids []string, minPackets int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		rt := p.received[id]
		switch {
		case rt == nil:
			return fmt.Errorf("track %s not received", id)
		case rt.bad > 0:
			return fmt.Errorf("track %s: %d packets with altered payload", id, rt.bad)
		case rt.packets < minPackets:
			return fmt.Errorf("track %s: %d packets", id, rt.packets)
		}
	}
	return nil
}

// Packets returns the unaltered packets received on a track so far.
func (p *Peer) Packets(trackID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rt := p.received[trackID]; rt != nil {
		return rt.packets
	}
	return 0
}

// Received returns every packet received from a stream so far, altered or not, by kind.
func (p *Peer) Received(streamID string) (audio, video int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rt := range p.received {
		if rt.streamID != streamID {
			continue
		}
		switch rt.kind {
		case "audio":
			audio += rt.packets + rt.bad
		case "video":
			video += rt.packets + rt.bad
		}
	}
	return audio, video
}
