package signaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/pion/webrtc/v3"
)

// Message types of docs/protocol.md. Client → server:
const (
	TypeJoinRoom     = "join_room"
	TypeLeaveRoom    = "leave_room"
	TypeChatMessage  = "chat_message"
	TypeMediaControl = "media_control"
	TypeWebRTCSignal = "webrtc_signal"
	TypeSubscribe    = "subscribe"
	TypeHostAction   = "host_action"
	TypePong         = "pong"
)

// Server → client (TypeWebRTCSignal is used both ways):
const (
	TypeJoined            = "joined"
	TypeParticipantJoined = "participant_joined"
	TypeParticipantLeft   = "participant_left"
	TypeTrackPublished    = "track_published"
	TypeTrackUnpublished  = "track_unpublished"
	TypeChat              = "chat"
	TypeMediaState        = "media_state"
	TypeRoleChanged       = "role_changed"
	TypeSpeakers          = "speakers"
	TypeMeetingEnded      = "meeting_ended"
	TypePing              = "ping"
	TypeAck               = "ack"
	TypeError             = "error"
)

// Limits of the contract.
const (
	// MaxMessageBytes is the largest client message accepted; a larger one closes with 1009.
	MaxMessageBytes = 65536
	// MaxIDLength bounds an envelope id.
	MaxIDLength = 64
)

// Host actions.
const (
	ActionKick         = "kick"
	ActionMakeCohost   = "make_cohost"
	ActionRevokeCohost = "revoke_cohost"
	ActionTransferHost = "transfer_host"
	ActionMuteAll      = "mute_all"
	ActionEndMeeting   = "end_meeting"
)

// Envelope is one decoded client message. Data is the raw JSON object (never nil: an absent
// or null data decodes as "{}").
type Envelope struct {
	Type string
	ID   *string
	Data json.RawMessage
}

// OutEnvelope is one server message as written on the wire.
type OutEnvelope struct {
	Type string  `json:"type"`
	ID   *string `json:"id,omitempty"`
	Data any     `json:"data"`
}

// ErrorData is the data of an `error` message.
type ErrorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var emptyObject = json.RawMessage(`{}`)

// errBadEnvelope marks input that is not a valid envelope; the decoded ID, if any, is still
// returned so that the error can echo it.
var errBadEnvelope = errors.New("bad envelope")

// DecodeEnvelope parses a client frame. On failure it returns the envelope's id when one
// could be read, so the error reply can echo it, and an error wrapping errBadEnvelope.
func DecodeEnvelope(b []byte) (Envelope, error) {
	var raw struct {
		Type json.RawMessage `json:"type"`
		ID   json.RawMessage `json:"id"`
		Data json.RawMessage `json:"data"`
	}
	if !utf8.Valid(b) {
		return Envelope{}, fmt.Errorf("%w: not UTF-8", errBadEnvelope)
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Envelope{}, fmt.Errorf("%w: not a JSON object", errBadEnvelope)
	}
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return Envelope{}, fmt.Errorf("%w: malformed JSON", errBadEnvelope)
	}
	var env Envelope
	if len(raw.ID) > 0 && !isNull(raw.ID) {
		var id string
		if err := json.Unmarshal(raw.ID, &id); err != nil {
			return Envelope{}, fmt.Errorf("%w: id must be a string", errBadEnvelope)
		}
		if utf8.RuneCountInString(id) > MaxIDLength {
			return Envelope{}, fmt.Errorf("%w: id longer than %d characters", errBadEnvelope, MaxIDLength)
		}
		env.ID = &id
	}
	if len(raw.Type) == 0 || isNull(raw.Type) {
		return env, fmt.Errorf("%w: type is required", errBadEnvelope)
	}
	if err := json.Unmarshal(raw.Type, &env.Type); err != nil {
		return env, fmt.Errorf("%w: type must be a string", errBadEnvelope)
	}
	if env.Type == "" {
		return env, fmt.Errorf("%w: type is required", errBadEnvelope)
	}
	switch {
	case len(raw.Data) == 0 || isNull(raw.Data):
		env.Data = emptyObject
	case raw.Data[0] == '{':
		env.Data = raw.Data
	default:
		return env, fmt.Errorf("%w: data must be an object", errBadEnvelope)
	}
	return env, nil
}

func isNull(b json.RawMessage) bool { return string(b) == "null" }

// decodeData unmarshals an envelope's data object into dst. Unknown fields are ignored
// (clients may be newer than the server); wrong field types are bad_request.
func decodeData(data json.RawMessage, dst any) error {
	if err := json.Unmarshal(data, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badRequest(fmt.Sprintf("field %s has the wrong type", te.Field))
		}
		return badRequest("malformed data")
	}
	return nil
}

// EncodeMessage renders one server message.
func EncodeMessage(typ string, id *string, data any) ([]byte, error) {
	if data == nil {
		data = emptyObject
	}
	return json.Marshal(OutEnvelope{Type: typ, ID: id, Data: data})
}

// ---- client → server payloads ----

// JoinRoomData is join_room's data.
type JoinRoomData struct {
	MeetingID   string `json:"meeting_id"`
	Code        string `json:"code"`
	Password    string `json:"password"`
	CardKey     string `json:"card_key"`
	DeviceID    string `json:"device_id"`
	DisplayName string `json:"display_name"`
	ResumeToken string `json:"resume_token"`
	LastSeq     *int64 `json:"last_seq"`
	// NewPeerConnections (an onstage addition) says the resuming client has new peer
	// connections (a reloaded page): the participant's are replaced.
	NewPeerConnections bool `json:"new_peer_connections"`
}

// ChatMessageData is chat_message's data.
type ChatMessageData struct {
	Text *string `json:"text"`
	To   string  `json:"to"`
}

// MediaControlData is media_control's data.
type MediaControlData struct {
	Source string `json:"source"`
	Muted  *bool  `json:"muted"`
	Target string `json:"target"`
}

// SDP is a session description as JSON.
type SDP struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// TrackSourceData maps a publisher m-line to a source.
type TrackSourceData struct {
	Mid    string `json:"mid"`
	Source string `json:"source"`
}

// WebRTCSignalData is webrtc_signal's data, both ways.
type WebRTCSignalData struct {
	PC        string                   `json:"pc"`
	SDP       *SDP                     `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Tracks    []TrackSourceData        `json:"tracks,omitempty"`
	Restart   bool                     `json:"restart,omitempty"`
}

// SubscribeData is subscribe's data.
type SubscribeData struct {
	TrackID string `json:"track_id"`
	Quality string `json:"quality"`
	Paused  *bool  `json:"paused"`
}

// HostActionData is host_action's data.
type HostActionData struct {
	Action string `json:"action"`
	Target string `json:"target"`
}

// ---- server → client payloads ----

// TrackView is a published track as clients see it.
type TrackView struct {
	TrackID       string   `json:"track_id"`
	ParticipantID string   `json:"participant_id"`
	Kind          string   `json:"kind"`
	Source        string   `json:"source"`
	StreamID      string   `json:"stream_id"`
	Layers        []string `json:"layers"`
}

// ICEServerView is an RTCIceServer.
type ICEServerView struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// JoinedData is the `joined` payload (also the data of join_room's ack).
type JoinedData struct {
	Participant  any             `json:"participant"`
	Meeting      any             `json:"meeting"`
	Participants any             `json:"participants"`
	Tracks       []TrackView     `json:"tracks"`
	ChatHistory  any             `json:"chat_history"`
	ICEServers   []ICEServerView `json:"ice_servers"`
	ResumeToken  string          `json:"resume_token"`
}

// ParticipantJoinedData is participant_joined's data.
type ParticipantJoinedData struct {
	Participant any `json:"participant"`
}

// ParticipantLeftData is participant_left's data.
type ParticipantLeftData struct {
	ParticipantID string `json:"participant_id"`
	Reason        string `json:"reason"`
}

// TrackPublishedData is track_published's data.
type TrackPublishedData struct {
	Track TrackView `json:"track"`
}

// TrackUnpublishedData is track_unpublished's data.
type TrackUnpublishedData struct {
	TrackID string `json:"track_id"`
}

// MediaStateData is media_state's data.
type MediaStateData struct {
	ParticipantID string `json:"participant_id"`
	Source        string `json:"source"`
	Muted         bool   `json:"muted"`
	By            string `json:"by,omitempty"`
}

// RoleChangedData is role_changed's data.
type RoleChangedData struct {
	ParticipantID string `json:"participant_id"`
	Role          string `json:"role"`
}

// SpeakerView is one entry of speakers.
type SpeakerView struct {
	ParticipantID string  `json:"participant_id"`
	Level         float64 `json:"level"`
}

// SpeakersData is speakers' data.
type SpeakersData struct {
	Speakers []SpeakerView `json:"speakers"`
}

// MeetingEndedData is meeting_ended's data.
type MeetingEndedData struct {
	Reason string `json:"reason"`
}

// ChatAckData is the ack of chat_message.
type ChatAckData struct {
	Seq int64 `json:"seq"`
}

func iceServerViews(in []webrtc.ICEServer) []ICEServerView {
	out := make([]ICEServerView, 0, len(in))
	for _, s := range in {
		v := ICEServerView{URLs: append([]string{}, s.URLs...), Username: s.Username}
		if c, ok := s.Credential.(string); ok {
			v.Credential = c
		}
		out = append(out, v)
	}
	return out
}
