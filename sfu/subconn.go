package sfu

import (
	"log/slog"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"
)

// subscriberConn is a participant's server-offered connection, the one its
// down-tracks are sent on: a Pion PeerConnection (pionSubscriber) or
// onstage's own ICE-lite, DTLS and SRTP transport (liteSubscriber).
//
// The participant serialises offers and answers (negMu); add and remove are
// called with the participant's mu held and must not block.
type subscriberConn interface {
	signalPC

	// add puts d into the next offer; remove takes it out of it. A
	// down-track is bound (DownTrack.bind) once an answer accepted it.
	add(d *DownTrack) error
	remove(d *DownTrack)
	// hasMedia reports whether an offer would carry any m-section.
	hasMedia() bool
	// offer makes the next offer and applies it locally; begin runs just
	// before it is applied (candidates gathered from then on wait for it).
	offer(restart bool, begin func()) (webrtc.SessionDescription, error)
	// awaitingAnswer reports whether an offer is outstanding.
	awaitingAnswer() bool
	setAnswer(answer webrtc.SessionDescription) error
	writeRTCP(pkts []rtcp.Packet) error
	// describe is the connection's state for logs and test failures.
	describe() string
	close() error
}

// signalPC is what a signalState needs of a connection.
type signalPC interface {
	LocalDescription() *webrtc.SessionDescription
	RemoteDescription() *webrtc.SessionDescription
	AddICECandidate(c webrtc.ICECandidateInit) error
}

// subscriberEvents are the connection's callbacks to its participant.
type subscriberEvents struct {
	// onICE runs when ICE connects or fails (Pion's ICE connection state).
	onICE func(webrtc.ICEConnectionState)
	// onState runs on every connection state change.
	onState func(webrtc.PeerConnectionState)
	// onCandidate is a local candidate to trickle (nil: end of gathering).
	onCandidate func(*webrtc.ICECandidate)
	// log is the participant's logger.
	log *slog.Logger
}
