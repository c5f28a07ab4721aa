// Package rooms is onstage's meeting domain: meetings, participants, roles, chat, host
// hand-over, auto-end and expiry. REST (api/meetings) and WebSocket (signaling) both call the
// same Service, so a rule holds the same whichever way a participant arrives. It knows no
// transport: it stores state with gorm, caches meeting summaries and publishes events on the
// bus after every committed change.
package rooms

import (
	"time"

	"github.com/google/uuid"
)

// Status is a meeting's lifecycle state.
type Status string

// The statuses: scheduled → live → ended; scheduled → cancelled.
const (
	StatusScheduled Status = "scheduled"
	StatusLive      Status = "live"
	StatusEnded     Status = "ended"
	StatusCancelled Status = "cancelled"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusScheduled, StatusLive, StatusEnded, StatusCancelled:
		return true
	}
	return false
}

// Text is the human-readable status shown as status_text.
func (s Status) Text() string {
	switch s {
	case StatusScheduled:
		return "Not started"
	case StatusLive:
		return "In progress"
	case StatusEnded:
		return "Ended"
	case StatusCancelled:
		return "Cancelled"
	}
	return string(s)
}

// over reports whether the meeting can no longer be joined.
func (s Status) over() bool { return s == StatusEnded || s == StatusCancelled }

// Role is a participant's role in a meeting.
type Role string

// The roles. A meeting has at most one active host.
const (
	RoleHost        Role = "host"
	RoleCohost      Role = "cohost"
	RoleParticipant Role = "participant"
)

// moderates reports whether the role may moderate (kick, mute others, end).
func (r Role) moderates() bool { return r == RoleHost || r == RoleCohost }

// Reasons a participant left (participant_left.reason) or a meeting ended
// (meeting_ended.reason, Meeting.EndReason).
const (
	ReasonLeft         = "left"
	ReasonKicked       = "kicked"
	ReasonDisconnected = "disconnected"
	ReasonMeetingEnded = "meeting_ended"

	ReasonHostEnded = "host_ended"
	ReasonLastLeft  = "last_left"
	ReasonExpired   = "expired"
)

// Media sources a participant publishes.
const (
	SourceMicrophone = "microphone"
	SourceCamera     = "camera"
	SourceScreen     = "screen"
)

// Meeting is a stored meeting.
type Meeting struct {
	ID               string `gorm:"primaryKey"`
	Code             string
	Title            string
	Description      string
	CreatorID        string
	StartTime        time.Time
	DurationMinutes  int
	PasswordHash     string
	MaxParticipants  int
	IsPublic         bool
	RecordingEnabled bool
	Status           Status
	ActualStart      *time.Time
	ActualEnd        *time.Time
	EndReason        string
	// ChatSeq is the seq of the meeting's last chat message; the next one takes ChatSeq+1.
	ChatSeq int64
	// CardProjectID, when set, gates joining with a card key of that card-key project.
	CardProjectID string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// TableName is the meetings table.
func (Meeting) TableName() string { return "meetings" }

// ends is when the meeting's booked time is over.
func (m *Meeting) ends() time.Time {
	return m.StartTime.Add(time.Duration(m.DurationMinutes) * time.Minute)
}

// Participant is one stay of a user in a meeting: a user who leaves and joins again gets a
// new Participant. At most one Participant per (meeting, user) is active (LeftAt nil).
type Participant struct {
	ID          string `gorm:"primaryKey"`
	MeetingID   string
	UserID      string
	DisplayName string
	Role        Role
	JoinedAt    time.Time
	LeftAt      *time.Time
	LeaveReason string
	// Microphone, Camera and Screen are what clients see (MediaView): the source is published
	// and not muted. They are derived by the one rule in media.go from the columns below and
	// stored so that queries can read them.
	Microphone bool
	Camera     bool
	Screen     bool
	// *Published: the participant publishes a track of the source (the media server says so).
	MicrophonePublished bool
	CameraPublished     bool
	ScreenPublished     bool
	// *Muted: the participant, or a moderator, muted the source.
	MicrophoneMuted bool
	CameraMuted     bool
	ScreenMuted     bool
}

// TableName is the participants table.
func (Participant) TableName() string { return "meeting_participants" }

// Active reports whether the participant is still in the meeting.
func (p *Participant) Active() bool { return p.LeftAt == nil }

// ChatMessage is a stored chat message. ToParticipantID is empty for a public message.
type ChatMessage struct {
	ID                string `gorm:"primaryKey"`
	MeetingID         string
	Seq               int64
	FromParticipantID string
	FromName          string
	ToParticipantID   string
	Text              string
	SentAt            time.Time
}

// TableName is the chat table.
func (ChatMessage) TableName() string { return "meeting_chat_messages" }

// Handover records the host role passing from one participant to another.
type Handover struct {
	ID                string `gorm:"primaryKey"`
	MeetingID         string
	FromParticipantID string
	ToParticipantID   string
	FromUserID        string
	ToUserID          string
	// Reason is "left", "disconnected", "kicked" or "transfer".
	Reason string
	At     time.Time
}

// TableName is the hand-over table.
func (Handover) TableName() string { return "meeting_host_handovers" }

// Kick records that a user was removed from a meeting and may not join it again.
type Kick struct {
	ID        string `gorm:"primaryKey"`
	MeetingID string
	UserID    string
	ByUserID  string
	At        time.Time
}

// TableName is the kicks table.
func (Kick) TableName() string { return "meeting_kicks" }

// newID returns a time-ordered unique ID (UUID v7).
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}
