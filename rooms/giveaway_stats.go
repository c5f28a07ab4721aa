package rooms

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onstagehq/onstage/internal/authn"
)

// The giveaway events on the bus, for projections such as the entry statistics. They are
// not room events: no socket sees them.
const (
	// BusParticipantRegistered is one entry: EntryNumber and Source.
	BusParticipantRegistered = "participant_registered"
	// BusWinnersDrawn is a draw or a reroll: Round and Winners (entry numbers).
	BusWinnersDrawn = "winners_drawn"
)

// GiveawaySubjectAll matches the giveaway events of every meeting.
const GiveawaySubjectAll = "onstage.giveaways.*.events"

// GiveawaySubject is the bus subject of one meeting's giveaway events.
func GiveawaySubject(meetingID string) string { return "onstage.giveaways." + meetingID + ".events" }

// projectorQueue is the queue group of the statistics projector: in a cluster each event
// is counted by one node.
const projectorQueue = "onstage-giveaway-stats"

// GiveawayBusEvent is a giveaway event as published on GiveawaySubject.
type GiveawayBusEvent struct {
	Type        string    `json:"type"`
	MeetingID   string    `json:"meeting_id"`
	GiveawayID  string    `json:"giveaway_id"`
	At          time.Time `json:"at"`
	EntryNumber int64     `json:"entry_number,omitempty"`
	Source      string    `json:"source,omitempty"`
	Round       int       `json:"round,omitempty"`
	Winners     []int64   `json:"winners,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Origin      string    `json:"origin"`
}

// publishGiveaway publishes a giveaway event; like publish, a failure is only logged.
func (s *Service) publishGiveaway(ctx context.Context, ev GiveawayBusEvent) {
	if s.bus == nil {
		return
	}
	ev.Origin = s.nodeID
	ev.At = ev.At.UTC()
	if err := s.bus.PublishJSON(GiveawaySubject(ev.MeetingID), ev); err != nil {
		s.log.WarnContext(ctx, "publish giveaway event", "type", ev.Type, "meeting_id", ev.MeetingID, "err", err)
	}
}

// startProjector subscribes the statistics projector. Without a bus nothing is counted.
func (s *Service) startProjector() {
	if s.gw.bus == nil {
		return
	}
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	s.gw.closed = false
	sub, err := s.gw.bus.Conn().QueueSubscribe(GiveawaySubjectAll, projectorQueue, s.project)
	if err != nil {
		s.log.Warn("subscribe giveaway statistics", "err", err)
		return
	}
	s.gw.sub = sub
}

func (s *Service) stopProjector() {
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	s.gw.closed = true
	if s.gw.sub != nil {
		_ = s.gw.sub.Unsubscribe()
		s.gw.sub = nil
	}
}

// project counts one entry in its minute and source. It holds gw.mu so that stopProjector
// waits for a count in progress.
func (s *Service) project(msg *nats.Msg) {
	var ev GiveawayBusEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.Type != BusParticipantRegistered {
		return
	}
	s.gw.mu.Lock()
	defer s.gw.mu.Unlock()
	if s.gw.closed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.store.with(ctx).countEntry(ev.MeetingID, ev.GiveawayID, ev.Source, ev.At.Truncate(time.Minute)); err != nil {
		s.log.Warn("count giveaway entry", "meeting_id", ev.MeetingID, "err", err)
	}
}

// GiveawayStats is a meeting's entry statistics, as the projector keeps them.
type GiveawayStats struct {
	PerMinute []EntryStat      `json:"per_minute"`
	PerSource map[string]int64 `json:"per_source"`
	Total     int64            `json:"total"`
}

// GiveawayStatistics returns the entry statistics of a meeting the caller may view.
func (s *Service) GiveawayStatistics(ctx context.Context, caller authn.Identity, meetingID string) (GiveawayStats, error) {
	st := s.store.with(ctx)
	if _, err := s.readable(st, caller, meetingID); err != nil {
		return GiveawayStats{}, err
	}
	rows, err := st.entryStats(meetingID)
	if err != nil {
		return GiveawayStats{}, err
	}
	out := GiveawayStats{PerMinute: rows, PerSource: map[string]int64{}}
	if out.PerMinute == nil {
		out.PerMinute = []EntryStat{}
	}
	for i := range rows {
		rows[i].Minute = rows[i].Minute.UTC()
		out.PerSource[rows[i].Source] += rows[i].Entries
		out.Total += rows[i].Entries
	}
	return out, nil
}
