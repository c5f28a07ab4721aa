package rooms

import (
	"context"
	"time"
)

// EventType names a domain event.
type EventType string

// The events the meeting domain publishes after each committed change.
const (
	// EventParticipantJoined carries Participant.
	EventParticipantJoined EventType = "participant_joined"
	// EventParticipantLeft carries ParticipantID and Reason (left, kicked, disconnected).
	EventParticipantLeft EventType = "participant_left"
	// EventRoleChanged carries ParticipantID and Role.
	EventRoleChanged EventType = "role_changed"
	// EventMediaState carries Media.
	EventMediaState EventType = "media_state"
	// EventMeetingEnded carries Reason (host_ended, last_left, expired); every participant
	// still in the meeting has left with it (no participant_left is sent for them).
	EventMeetingEnded EventType = "meeting_ended"
	// EventChat carries Chat, or Chats: the chats committed together, in seq order (see
	// ChatViews). A private one (To set) is for its sender and recipient only.
	EventChat EventType = "chat"
	// EventGiveawayOpened carries Giveaway (giveaway.go).
	EventGiveawayOpened EventType = "giveaway_opened"
	// EventGiveawayClosed carries Giveaway with its entry_list_hash.
	EventGiveawayClosed EventType = "giveaway_closed"
	// EventGiveawayWinners carries Draw: the winners of a draw or a reroll.
	EventGiveawayWinners EventType = "giveaway_winners"
)

// SubjectPrefix starts every meeting subject.
const SubjectPrefix = "onstage.meetings."

// SubjectAll matches the events of every meeting (a NATS wildcard subject).
const SubjectAll = SubjectPrefix + "*.events"

// Subject is the bus subject of one meeting's events: onstage.meetings.<meeting_id>.events.
func Subject(meetingID string) string { return SubjectPrefix + meetingID + ".events" }

// MediaChange is a media_state event's payload; By is set when a moderator muted someone else.
// Publication marks a change of the shown state caused by the source being published or
// unpublished (Muted is then the opposite of the shown state); otherwise the change is a mute
// or an unmute, which the media server enforces.
type MediaChange struct {
	ParticipantID string `json:"participant_id"`
	Source        string `json:"source"`
	Muted         bool   `json:"muted"`
	By            string `json:"by,omitempty"`
	Publication   bool   `json:"publication,omitempty"`
}

// Event is one change in a meeting, as published on Subject(MeetingID).
type Event struct {
	Type          EventType        `json:"type"`
	MeetingID     string           `json:"meeting_id"`
	At            time.Time        `json:"at"`
	Participant   *ParticipantView `json:"participant,omitempty"`
	ParticipantID string           `json:"participant_id,omitempty"`
	Reason        string           `json:"reason,omitempty"`
	Role          Role             `json:"role,omitempty"`
	Media         *MediaChange     `json:"media,omitempty"`
	Chat          *ChatView        `json:"chat,omitempty"`
	Giveaway      *GiveawayView    `json:"giveaway,omitempty"`
	Draw          *DrawView        `json:"draw,omitempty"`
	Chats         []ChatView       `json:"chats,omitempty"`
	// Origin is the NodeID of the node that made the change.
	Origin string `json:"origin"`
}

// ChatViews returns a chat event's chats in seq order: Chats, or the one Chat.
func (ev *Event) ChatViews() []ChatView {
	if len(ev.Chats) > 0 {
		return ev.Chats
	}
	if ev.Chat != nil {
		return []ChatView{*ev.Chat}
	}
	return nil
}

// publisher is what the service needs of the bus.
type publisher interface {
	PublishJSON(subject string, v any) error
}

// events collects the events of one change; they are published only after it commits.
type events []Event

func (s *Service) event(t EventType, meetingID string) Event {
	return Event{Type: t, MeetingID: meetingID, At: s.now().UTC(), Origin: s.nodeID}
}

// publish sends evs in order. A missing or failing bus is logged, never returned: the
// change is committed already and the request succeeds.
func (s *Service) publish(ctx context.Context, evs events) {
	if len(evs) == 0 {
		return
	}
	for _, ev := range evs {
		if s.bus == nil {
			continue
		}
		if err := s.bus.PublishJSON(Subject(ev.MeetingID), ev); err != nil {
			s.log.WarnContext(ctx, "publish meeting event", "type", ev.Type, "meeting_id", ev.MeetingID, "err", err)
		}
	}
	if s.onEvent != nil {
		for _, ev := range evs {
			s.onEvent(ev)
		}
	}
}
