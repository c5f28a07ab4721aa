package sfu

import "github.com/pion/webrtc/v3"

// ParticipantID names a participant inside a Router. The SFU treats it as an
// opaque string; it also becomes the msid stream id of the participant's
// tracks as seen by subscribers.
type ParticipantID string

// TrackID names a published track. It is unique within the process and is the
// msid track id subscribers see.
type TrackID string

// PCKind tells which of a participant's two peer connections a Signal or a
// candidate belongs to.
type PCKind string

// Peer connection kinds.
const (
	// PCPublisher is the client-offered connection carrying the client's media.
	PCPublisher PCKind = "publisher"
	// PCSubscriber is the server-offered connection carrying everyone else's media.
	PCSubscriber PCKind = "subscriber"
)

// Source is what a published track captures.
type Source string

// Track sources.
const (
	SourceMicrophone Source = "microphone"
	SourceCamera     Source = "camera"
	SourceScreen     Source = "screen"
)

// Quality is a subscriber's preferred simulcast layer.
type Quality string

// Qualities, mapped onto the simulcast rids q, h and f.
const (
	QualityLow    Quality = "low"
	QualityMedium Quality = "medium"
	QualityHigh   Quality = "high"
)

// layerIndex maps a quality onto a layer index (0 = q, 1 = h, 2 = f).
func (q Quality) layerIndex() (int, error) {
	switch q {
	case QualityLow:
		return 0, nil
	case QualityMedium:
		return 1, nil
	case QualityHigh, "":
		return 2, nil
	}
	return 0, ErrInvalidQuality
}

// Simulcast rids in layer order; a rid outside this list is placed by its
// position in the offer.
var simulcastRIDs = [...]string{"q", "h", "f"}

// maxLayers bounds the number of simulcast layers a track can carry.
const maxLayers = len(simulcastRIDs)

// Signal is a message the SFU wants delivered to a client: an SDP or a
// trickled ICE candidate for one of its peer connections.
type Signal struct {
	PC        PCKind
	SDP       *webrtc.SessionDescription
	Candidate *webrtc.ICECandidateInit
}

// TrackSource tells the source of the track sent on a publisher m-line.
type TrackSource struct {
	Mid    string
	Source Source
}

// TrackInfo describes a published track.
type TrackInfo struct {
	TrackID       TrackID
	ParticipantID ParticipantID
	Kind          string // "audio" or "video"
	Source        Source
	StreamID      string
	Layers        []string // simulcast rids, empty without simulcast
}

// Speaker is a participant whose smoothed audio level is above the speaking
// threshold. Level is a linear amplitude in 0..1 derived from RFC 6464 dBov.
type Speaker struct {
	ParticipantID ParticipantID
	Level         float64
}

// RouterStats is a snapshot of a Router's counters.
type RouterStats struct {
	Participants     int
	Tracks           int
	DownTracks       int
	ForwardedPackets uint64
	ForwardedBytes   uint64
	// QueueDropped, StaleDropped and Retransmitted: see EngineStats.
	QueueDropped  uint64
	StaleDropped  uint64
	Retransmitted uint64
}
