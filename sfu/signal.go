package sfu

import (
	"sync"

	"github.com/pion/webrtc/v3"
)

// signalState orders the signals of one peer connection and buffers
// candidates in both directions.
//
// Local candidates gathered before the SDP they belong to has been sent are
// held and flushed right after it, so the client never sees a candidate for
// a description it does not have. Remote candidates that arrive before a
// remote description is set are held until flushRemote.
//
// mu is held while calling SendSignal, which must not block: this is what
// keeps an SDP and its candidates in order when they come from different
// goroutines.
type signalState struct {
	kind PCKind
	pc   signalPC
	send func(Signal)

	mu          sync.Mutex
	sdpSent     bool
	localCands  []webrtc.ICECandidateInit
	remoteCands []webrtc.ICECandidateInit
}

func newSignalState(kind PCKind, pc signalPC, send func(Signal)) *signalState {
	if send == nil {
		send = func(Signal) {}
	}
	return &signalState{kind: kind, pc: pc, send: send}
}

// setPC gives the state the peer connection it was made without (the
// publisher's, created by the first offer).
func (s *signalState) setPC(pc signalPC) {
	s.mu.Lock()
	s.pc = pc
	s.mu.Unlock()
}

// stop drops every later signal: the peer connection is being closed, and
// the client may already talk to its replacement.
func (s *signalState) stop() {
	s.mu.Lock()
	s.send = func(Signal) {}
	s.localCands = nil
	s.mu.Unlock()
}

// beginSDP is called before SetLocalDescription: candidates gathered from now
// on wait for sendSDP.
func (s *signalState) beginSDP() {
	s.mu.Lock()
	s.sdpSent = false
	s.mu.Unlock()
}

// sendSDP sends a description and then every candidate held for it.
func (s *signalState) sendSDP(sd webrtc.SessionDescription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.send(Signal{PC: s.kind, SDP: &sd})
	for i := range s.localCands {
		c := s.localCands[i]
		s.send(Signal{PC: s.kind, Candidate: &c})
	}
	s.localCands = nil
	s.sdpSent = true
}

// onLocalCandidate is the peer connection's OnICECandidate handler.
func (s *signalState) onLocalCandidate(c *webrtc.ICECandidate) {
	if c == nil {
		return // end of gathering; trickle has nothing to send for it
	}
	init := c.ToJSON()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sdpSent {
		s.localCands = append(s.localCands, init)
		return
	}
	s.send(Signal{PC: s.kind, Candidate: &init})
}

// Bounds on client candidates: a candidate line is well under 300 bytes and a
// client gathers a handful per interface, so these only stop a client that
// floods the server before sending its description.
const (
	maxHeldCandidates = 64
	maxCandidateSize  = 1024 // candidate line plus sdpMid and usernameFragment
)

// candidateSize is the bytes a held candidate keeps alive.
func candidateSize(c webrtc.ICECandidateInit) int {
	n := len(c.Candidate)
	if c.SDPMid != nil {
		n += len(*c.SDPMid)
	}
	if c.UsernameFragment != nil {
		n += len(*c.UsernameFragment)
	}
	return n
}

// addRemote adds a client candidate, or holds it until the remote
// description is set.
func (s *signalState) addRemote(c webrtc.ICECandidateInit) error {
	if candidateSize(c) > maxCandidateSize {
		return ErrCandidateTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pc == nil || s.pc.RemoteDescription() == nil {
		if len(s.remoteCands) >= maxHeldCandidates {
			return ErrTooManyCandidates
		}
		s.remoteCands = append(s.remoteCands, c)
		return nil
	}
	return s.pc.AddICECandidate(c)
}

// flushRemote adds the held client candidates; called after
// SetRemoteDescription.
func (s *signalState) flushRemote() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pc == nil {
		return nil
	}
	var first error
	for _, c := range s.remoteCands {
		if err := s.pc.AddICECandidate(c); err != nil && first == nil {
			first = err
		}
	}
	s.remoteCands = nil
	return first
}

// resendLocal sends the current local description again, if there is one.
func (s *signalState) resendLocal() {
	s.mu.Lock()
	pc := s.pc
	s.mu.Unlock()
	if pc == nil {
		return
	}
	if ld := pc.LocalDescription(); ld != nil {
		s.mu.Lock()
		s.send(Signal{PC: s.kind, SDP: &webrtc.SessionDescription{Type: ld.Type, SDP: ld.SDP}})
		s.mu.Unlock()
	}
}
