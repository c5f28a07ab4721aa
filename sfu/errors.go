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

	// ErrLiteNeedsMux is returned by newLiteTransport without the
	// single-port UDP mux, which a lite transport receives through.
	ErrLiteNeedsMux = errors.New("sfu: lite transport needs the single-port UDP mux")

	// ErrLiteMuxClosed is returned by newLiteTransport once the engine's
	// mux is closed.
	ErrLiteMuxClosed = errors.New("sfu: udp mux closed")

	// ErrTransportNotReady is returned when media is written to a lite
	// transport before its SRTP keys exist (DTLS not done) or after it failed.
	ErrTransportNotReady = errors.New("sfu: transport not ready")

	// ErrTransportClosed is returned when a lite transport is used after Close.
	ErrTransportClosed = errors.New("sfu: transport closed")

	// ErrFingerprintChanged is returned by setRemote for an answer whose
	// certificate fingerprints differ from the first answer's: the DTLS
	// association is not renegotiated.
	ErrFingerprintChanged = errors.New("sfu: remote DTLS fingerprint changed")

	// ErrNoFingerprint is returned by setRemote without a usable remote
	// certificate fingerprint (sha-1/224/256/384/512).
	ErrNoFingerprint = errors.New("sfu: no usable remote DTLS fingerprint")

	// ErrNoICECredentials is returned by setRemote with an empty remote
	// ufrag or password.
	ErrNoICECredentials = errors.New("sfu: missing remote ICE credentials")

	// ErrLiteCertificate is returned when the DTLS certificate cannot be
	// converted for the lite transport.
	ErrLiteCertificate = errors.New("sfu: unusable DTLS certificate")
)

// errLitePacketTooLarge: an RTP packet that would not fit one datagram.
var errLitePacketTooLarge = errors.New("sfu: rtp packet too large")

// errFingerprintMismatch: the DTLS peer's certificate matches no
// fingerprint of its description.
var errFingerprintMismatch = errors.New("sfu: remote certificate does not match its fingerprint")

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
