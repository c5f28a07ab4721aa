package rooms

import (
	"slices"
	"time"
)

// The JSON views below are shared by REST (docs/api.md) and the WebSocket (docs/protocol.md).

// UserRef names a user.
type UserRef struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
}

// MeetingView is a meeting as clients see it.
type MeetingView struct {
	ID               string     `json:"id"`
	Code             string     `json:"code"`
	Title            string     `json:"title"`
	Description      string     `json:"description"`
	Creator          UserRef    `json:"creator"`
	StartTime        time.Time  `json:"start_time"`
	DurationMinutes  int        `json:"duration_minutes"`
	HasPassword      bool       `json:"has_password"`
	MaxParticipants  int        `json:"max_participants"`
	IsPublic         bool       `json:"is_public"`
	RecordingEnabled bool       `json:"recording_enabled"`
	Status           Status     `json:"status"`
	StatusText       string     `json:"status_text"`
	ActualStart      *time.Time `json:"actual_start"`
	ActualEnd        *time.Time `json:"actual_end"`
	EndReason        string     `json:"end_reason"`
	OnlineCount      int        `json:"online_count"`
	CreatedAt        time.Time  `json:"created_at"`
	// CardProjectID is the card-key project whose keys admit joiners ("" for none).
	CardProjectID string `json:"card_project_id,omitempty"`
}

// MeetingSummary is what a join code reveals (GET /meetings/code/{code}).
type MeetingSummary struct {
	ID          string `json:"id"`
	Code        string `json:"code"`
	Title       string `json:"title"`
	Status      Status `json:"status"`
	HasPassword bool   `json:"has_password"`
	IsPublic    bool   `json:"is_public"`
}

// MediaView is a participant's media: true means published and not muted.
type MediaView struct {
	Microphone bool `json:"microphone"`
	Camera     bool `json:"camera"`
	Screen     bool `json:"screen"`
}

// ParticipantView is a participant as clients see it. Online is true while the participant
// is in the meeting (it has not left); sockets are the signaling layer's business.
type ParticipantView struct {
	ParticipantID string     `json:"participant_id"`
	UserID        string     `json:"user_id"`
	DisplayName   string     `json:"display_name"`
	Role          Role       `json:"role"`
	JoinedAt      time.Time  `json:"joined_at"`
	LeftAt        *time.Time `json:"left_at,omitempty"`
	Online        bool       `json:"online"`
	Media         MediaView  `json:"media"`
}

// ChatView is a chat message as clients see it; From and To are participant ids.
type ChatView struct {
	Seq      int64     `json:"seq"`
	From     string    `json:"from"`
	FromName string    `json:"from_name"`
	To       string    `json:"to,omitempty"`
	Text     string    `json:"text"`
	SentAt   time.Time `json:"sent_at"`
}

// JoinResult is the answer to a join: the meeting, the caller's participant, everyone in the
// meeting (the caller included) and the last 50 chat messages visible to the caller, oldest
// first.
type JoinResult struct {
	Meeting      MeetingView       `json:"meeting"`
	Participant  ParticipantView   `json:"participant"`
	Participants []ParticipantView `json:"participants"`
	ChatHistory  []ChatView        `json:"chat_history"`
	// Attached is true when Join with Attach returned an existing participant rather than
	// making a new one (no participant_joined event was published).
	Attached bool `json:"-"`
}

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// View returns the participant's JSON view.
func (p *Participant) View() ParticipantView {
	return ParticipantView{
		ParticipantID: p.ID, UserID: p.UserID, DisplayName: p.DisplayName, Role: p.Role,
		JoinedAt: utc(p.JoinedAt), LeftAt: utcPtr(p.LeftAt), Online: p.Active(),
		Media: MediaView{Microphone: p.Microphone, Camera: p.Camera, Screen: p.Screen},
	}
}

// View returns the message's JSON view.
func (c *ChatMessage) View() ChatView {
	return ChatView{Seq: c.Seq, From: c.FromParticipantID, FromName: c.FromName,
		To: c.ToParticipantID, Text: c.Text, SentAt: utc(c.SentAt)}
}

func (m *Meeting) view(creatorName string, online int) MeetingView {
	return MeetingView{
		ID: m.ID, Code: m.Code, Title: m.Title, Description: m.Description,
		Creator:   UserRef{ID: m.CreatorID, DisplayName: creatorName},
		StartTime: utc(m.StartTime), DurationMinutes: m.DurationMinutes,
		HasPassword: m.PasswordHash != "", MaxParticipants: m.MaxParticipants,
		IsPublic: m.IsPublic, RecordingEnabled: m.RecordingEnabled,
		Status: m.Status, StatusText: m.Status.Text(),
		ActualStart: utcPtr(m.ActualStart), ActualEnd: utcPtr(m.ActualEnd),
		EndReason: m.EndReason, OnlineCount: online, CreatedAt: utc(m.CreatedAt), CardProjectID: m.CardProjectID,
	}
}

func (m *Meeting) summary() MeetingSummary {
	return MeetingSummary{ID: m.ID, Code: m.Code, Title: m.Title, Status: m.Status,
		HasPassword: m.PasswordHash != "", IsPublic: m.IsPublic}
}

func participantViews(ps []Participant) []ParticipantView {
	out := make([]ParticipantView, 0, len(ps))
	for i := range ps {
		out = append(out, ps[i].View())
	}
	return out
}

func chatViews(ms []ChatMessage) []ChatView {
	out := make([]ChatView, 0, len(ms))
	for i := range ms {
		out = append(out, ms[i].View())
	}
	slices.SortFunc(out, func(a, b ChatView) int { return int(a.Seq - b.Seq) })
	return out
}
