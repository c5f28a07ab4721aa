package sfu

import "errors"

var (
	// ErrRouterClosed is returned when a Router is used after Close.
	ErrRouterClosed = errors.New("sfu: router closed")

	// ErrParticipantExists is returned by AddParticipant when the ID is
	// already present in the Router.
	ErrParticipantExists = errors.New("sfu: participant already exists")

	// ErrParticipantClosed is returned when a Participant is used after it
	// was closed or removed from its Router.
	ErrParticipantClosed = errors.New("sfu: participant closed")

	// ErrTrackNotFound is returned by Subscribe for a track the participant
	// is not subscribed to (unknown, unpublished or its own).
	ErrTrackNotFound = errors.New("sfu: track not found")

	// ErrNoOfferOutstanding is returned by HandleAnswer when the server has
	// no subscriber offer waiting for an answer.
	ErrNoOfferOutstanding = errors.New("sfu: no subscriber offer outstanding")

	// ErrInvalidPCKind is returned for a PCKind other than PCPublisher and
	// PCSubscriber.
	ErrInvalidPCKind = errors.New("sfu: invalid peer connection kind")

	// ErrInvalidQuality is returned by Subscribe for an unknown Quality.
	ErrInvalidQuality = errors.New("sfu: invalid quality")

	// ErrInvalidSDPType is returned when an offer or answer carries the
	// wrong SDP type.
	ErrInvalidSDPType = errors.New("sfu: unexpected SDP type")

	// ErrTooManyCandidates is returned by AddCandidate when a peer
	// connection already holds the most candidates it keeps before its
	// remote description is set.
	ErrTooManyCandidates = errors.New("sfu: too many ICE candidates before the description")

	// ErrCandidateTooLarge is returned by AddCandidate for a candidate
	// longer than any real one.
	ErrCandidateTooLarge = errors.New("sfu: ICE candidate too large")

	// ErrTooManyTracks is returned by HandleOffer for an offer that sends
	// more than a participant may publish: one microphone, one camera (up
	// to three simulcast layers) and one screen with its audio.
	ErrTooManyTracks = errors.New("sfu: offer publishes more tracks than allowed")

	// ErrCodecNotNegotiated is returned from DownTrack.Bind when the
	// subscriber did not accept the publisher's codec.
	ErrCodecNotNegotiated = errors.New("sfu: codec not negotiated by subscriber")
)

// errBadPadding is an internal parse error for malformed RTP padding.
var errBadPadding = errors.New("sfu: bad rtp padding")

// ErrInvalidOffer is returned when a subscriber offer cannot be written:
// no media sections, a duplicate or malformed mid, a kind other than audio
// or video, and the like (see liteOffer.marshal).
var ErrInvalidOffer = errors.New("sfu: invalid subscriber offer")

// ErrInvalidAnswer is returned when a client's answer to a subscriber offer
// is not SDP, does not answer that offer, or lacks what the transport needs
// (ICE credentials, a DTLS fingerprint and role, rtcp-mux, BUNDLE).
var ErrInvalidAnswer = errors.New("sfu: invalid subscriber answer")
