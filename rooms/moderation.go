package rooms

import (
	"context"
	"fmt"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
)

// Target names a participant of a meeting either by user id (REST routes) or by participant
// id (the WebSocket's host_action target). Either way it must be active in the meeting.
type Target struct {
	UserID        string
	ParticipantID string
}

// ByUser targets the user's active participant.
func ByUser(userID string) Target { return Target{UserID: userID} }

// ByParticipant targets a participant by its id.
func ByParticipant(participantID string) Target { return Target{ParticipantID: participantID} }

// resolve returns the target's active participant in the meeting, or ErrParticipantNotFound.
func (t Target) resolve(tx *Store, meetingID string) (*Participant, error) {
	var (
		p   *Participant
		err error
	)
	switch {
	case t.ParticipantID != "":
		p, err = tx.participant(meetingID, t.ParticipantID)
	case t.UserID != "":
		p, err = tx.activeParticipant(meetingID, t.UserID)
	}
	if err != nil {
		return nil, err
	}
	if p == nil || !p.Active() {
		return nil, ErrParticipantNotFound
	}
	return p, nil
}

// moderator returns the caller's active participant in the locked meeting when its role is
// among roles, else ErrForbidden.
func moderator(tx *Store, meetingID string, caller authn.Identity, roles ...Role) (*Participant, error) {
	p, err := tx.activeParticipant(meetingID, caller.UserID)
	if err != nil {
		return nil, err
	}
	if p != nil {
		for _, r := range roles {
			if p.Role == r {
				return p, nil
			}
		}
	}
	return nil, ErrForbidden
}

// SetRole makes the target a co-host or a plain participant. Only the host may. The host's
// own role changes only by TransferHost.
func (s *Service) SetRole(ctx context.Context, caller authn.Identity, meetingID string, target Target, role Role) (ParticipantView, error) {
	if role != RoleCohost && role != RoleParticipant {
		return ParticipantView{}, apperr.Invalidf(map[string]string{"role": "must be cohost or participant"})
	}
	var (
		evs events
		p   *Participant
	)
	err := s.store.Tx(ctx, func(tx *Store) error {
		evs = nil
		m, err := tx.lockMeeting(meetingID)
		if err != nil {
			return err
		}
		if _, err := moderator(tx, m.ID, caller, RoleHost); err != nil {
			return err
		}
		if p, err = target.resolve(tx, m.ID); err != nil {
			return err
		}
		if p.Role == RoleHost {
			return apperr.Invalidf(map[string]string{"user_id": "the host's role changes only by a host transfer"})
		}
		if p.Role == role {
			return nil
		}
		if err := tx.setRole(p.ID, role); err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		p.Role = role
		evs = events{s.roleEvent(m.ID, p.ID, role)}
		return nil
	})
	if err != nil {
		return ParticipantView{}, err
	}
	s.publish(ctx, evs)
	return p.View(), nil
}

// TransferHost makes the target the host; the caller, who must be the host, becomes a co-host.
// The hand-over is recorded.
func (s *Service) TransferHost(ctx context.Context, caller authn.Identity, meetingID string, target Target) (ParticipantView, error) {
	var (
		evs events
		p   *Participant
	)
	err := s.store.Tx(ctx, func(tx *Store) error {
		evs = nil
		m, err := tx.lockMeeting(meetingID)
		if err != nil {
			return err
		}
		host, err := moderator(tx, m.ID, caller, RoleHost)
		if err != nil {
			return err
		}
		if p, err = target.resolve(tx, m.ID); err != nil {
			return err
		}
		if p.ID == host.ID {
			return apperr.Invalidf(map[string]string{"user_id": "you are the host already"})
		}
		if err := tx.setRole(host.ID, RoleCohost); err != nil {
			return err
		}
		if err := tx.setRole(p.ID, RoleHost); err != nil {
			return err
		}
		if err := tx.insertHandover(&Handover{ID: newID(), MeetingID: m.ID, FromParticipantID: host.ID, ToParticipantID: p.ID,
			FromUserID: host.UserID, ToUserID: p.UserID, Reason: "transfer", At: s.clock()}); err != nil {
			return fmt.Errorf("record hand-over: %w", err)
		}
		p.Role = RoleHost
		evs = events{s.roleEvent(m.ID, host.ID, RoleCohost), s.roleEvent(m.ID, p.ID, RoleHost)}
		return nil
	})
	if err != nil {
		return ParticipantView{}, err
	}
	s.publish(ctx, evs)
	return p.View(), nil
}

// Kick removes the target from the meeting (participant_left with reason "kicked") and bars
// its user from joining it again. The host may kick anyone else; a co-host may kick plain
// participants only.
func (s *Service) Kick(ctx context.Context, caller authn.Identity, meetingID string, target Target) error {
	var evs events
	err := s.store.Tx(ctx, func(tx *Store) error {
		evs = nil
		m, err := tx.lockMeeting(meetingID)
		if err != nil {
			return err
		}
		mod, err := moderator(tx, m.ID, caller, RoleHost, RoleCohost)
		if err != nil {
			return err
		}
		p, err := target.resolve(tx, m.ID)
		if err != nil {
			return err
		}
		switch {
		case p.ID == mod.ID:
			return ErrForbidden.WithMessage("you cannot kick yourself; leave instead")
		case p.Role == RoleHost, p.Role == RoleCohost && mod.Role != RoleHost:
			return ErrForbidden.WithMessage("only the host may kick a co-host, and nobody the host")
		}
		if err := tx.insertKick(&Kick{ID: newID(), MeetingID: m.ID, UserID: p.UserID, ByUserID: caller.UserID, At: s.clock()}); err != nil {
			return fmt.Errorf("record kick: %w", err)
		}
		// The moderator stays, so this never ends the meeting nor hands over the host role.
		evs, _, err = s.leaveLocked(tx, m, p, ReasonKicked)
		return err
	})
	if err != nil {
		return err
	}
	s.publish(ctx, evs)
	return nil
}

// SetMedia changes a participant's media state. targetParticipantID "" (or the caller's own)
// changes the caller's state; a host or co-host may mute someone else, but unmuting someone
// else is forbidden. It publishes media_state (By set when someone else was muted).
func (s *Service) SetMedia(ctx context.Context, caller authn.Identity, meetingID, targetParticipantID, source string, muted bool) (MediaChange, error) {
	if !ValidSource(source) {
		return MediaChange{}, errBadSource
	}
	var (
		evs    events
		change MediaChange
	)
	err := s.store.Tx(ctx, func(tx *Store) error {
		evs = nil
		m, err := tx.lockMeeting(meetingID)
		if err != nil {
			return err
		}
		self, err := tx.activeParticipant(m.ID, caller.UserID)
		if err != nil {
			return err
		}
		if self == nil {
			return ErrNotInRoom
		}
		target := self
		if targetParticipantID != "" && targetParticipantID != self.ID {
			if !self.Role.moderates() || !muted {
				return ErrForbidden.WithMessage("only a host or co-host may mute others, and nobody may unmute others")
			}
			if target, err = ByParticipant(targetParticipantID).resolve(tx, m.ID); err != nil {
				return err
			}
		}
		st := target.source(source)
		*st.muted = muted
		st.derive()
		if err := tx.setMedia(target.ID, st.columns(source)); err != nil {
			return fmt.Errorf("set media: %w", err)
		}
		change = MediaChange{ParticipantID: target.ID, Source: source, Muted: muted}
		if target.ID != self.ID {
			change.By = self.ID
		}
		ev := s.event(EventMediaState, m.ID)
		c := change
		ev.Media = &c
		evs = events{ev}
		return nil
	})
	if err != nil {
		return MediaChange{}, err
	}
	s.publish(ctx, evs)
	return change, nil
}

// MuteAll mutes source (microphone when "") for every other participant not muted yet. Only
// a host or co-host may. It returns the changes made, each also published as media_state.
func (s *Service) MuteAll(ctx context.Context, caller authn.Identity, meetingID, source string) ([]MediaChange, error) {
	if source == "" {
		source = SourceMicrophone
	}
	if !ValidSource(source) {
		return nil, errBadSource
	}
	var (
		evs     events
		changes []MediaChange
	)
	err := s.store.Tx(ctx, func(tx *Store) error {
		evs, changes = nil, nil
		m, err := tx.lockMeeting(meetingID)
		if err != nil {
			return err
		}
		mod, err := moderator(tx, m.ID, caller, RoleHost, RoleCohost)
		if err != nil {
			return err
		}
		ps, err := tx.activeParticipants(m.ID)
		if err != nil {
			return err
		}
		for i := range ps {
			p := &ps[i]
			st := p.source(source)
			// Everyone not muted yet is muted, whether the source is published yet or not: one
			// published later is held back until its owner unmutes it.
			if p.ID == mod.ID || *st.muted {
				continue
			}
			*st.muted = true
			st.derive()
			if err := tx.setMedia(p.ID, st.columns(source)); err != nil {
				return fmt.Errorf("set media: %w", err)
			}
			c := MediaChange{ParticipantID: p.ID, Source: source, Muted: true, By: mod.ID}
			changes = append(changes, c)
			ev := s.event(EventMediaState, m.ID)
			ev.Media = &c
			evs = append(evs, ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, evs)
	return changes, nil
}
