package sfu

import (
	"fmt"
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"
)

// pionSubscriber is a subscriber connection made of a Pion PeerConnection:
// one RTPSender per down-track, whose RTCP a goroutine each reads.
type pionSubscriber struct {
	*webrtc.PeerConnection
	wg *sync.WaitGroup // the participant's: the RTCP readers

	senders map[*DownTrack]*webrtc.RTPSender // guarded by the participant's mu
}

func newPionSubscriber(pc *webrtc.PeerConnection, wg *sync.WaitGroup, ev subscriberEvents) *pionSubscriber {
	pc.OnICECandidate(ev.onCandidate)
	pc.OnConnectionStateChange(ev.onState)
	pc.OnICEConnectionStateChange(ev.onICE)
	return &pionSubscriber{PeerConnection: pc, wg: wg, senders: map[*DownTrack]*webrtc.RTPSender{}}
}

func (s *pionSubscriber) add(d *DownTrack) error {
	sender, err := s.AddTrack(d)
	if err != nil {
		return err
	}
	s.senders[d] = sender
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		d.readRTCP(sender)
	}()
	return nil
}

func (s *pionSubscriber) remove(d *DownTrack) {
	if sender := s.senders[d]; sender != nil {
		_ = s.RemoveTrack(sender)
		delete(s.senders, d)
	}
}

func (s *pionSubscriber) hasMedia() bool { return len(s.GetTransceivers()) > 0 }

func (s *pionSubscriber) offer(restart bool, begin func()) (webrtc.SessionDescription, error) {
	offer, err := s.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		return offer, err
	}
	begin()
	return offer, s.SetLocalDescription(offer)
}

func (s *pionSubscriber) awaitingAnswer() bool {
	return s.SignalingState() == webrtc.SignalingStateHaveLocalOffer
}

func (s *pionSubscriber) setAnswer(answer webrtc.SessionDescription) error {
	return s.SetRemoteDescription(answer)
}

func (s *pionSubscriber) writeRTCP(pkts []rtcp.Packet) error { return s.WriteRTCP(pkts) }

func (s *pionSubscriber) describe() string {
	return fmt.Sprintf("pion %s, ICE %s", s.SignalingState(), s.ICEConnectionState())
}

func (s *pionSubscriber) close() error { return s.Close() }
