package rooms

import (
	"context"
	"fmt"
	"strings"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/db"
)

// JoinInput is what a joiner sends.
type JoinInput struct {
	Password string
	// DisplayName overrides the identity's name (1–64 characters).
	DisplayName string
	// Attach (the WebSocket's join_room) returns the user's active participant in the
	// meeting, if there is one, instead of failing with ErrAlreadyJoined.
	Attach bool
	// Replace (a fresh join_room after the user's old socket is gone) makes the user's active
	// participant, if any, leave with reason "disconnected" and gives its role to the new one,
	// in the same transaction (the meeting never looks empty in between).
	Replace bool
}

// Join puts the caller in the meeting. The checks run in this order: unknown meeting
// (ErrNotFound), guest in a private meeting (ErrGuestsNotAllowed), ended or cancelled
// (ErrMeetingEnded), kicked before (ErrKicked), wrong password (ErrWrongPassword; the creator
// needs none), already in it (ErrAlreadyJoined, unless Attach or Replace), no free seat
// (ErrMeetingFull). The creator joins as host (taking it back from whoever holds it, who
// becomes co-host); everyone else joins as participant. The first join makes a scheduled
// meeting live. The seat count, status and duplicate checks run in one transaction holding
// the meeting's lock, so racing joins never overfill it and a join racing an end never
// leaves a participant in an ended meeting.
func (s *Service) Join(ctx context.Context, caller authn.Identity, meetingID string, in JoinInput) (JoinResult, error) {
	if caller.UserID == "" {
		return JoinResult{}, apperr.ErrUnauthorized
	}
	name := strings.TrimSpace(in.DisplayName)
	if in.DisplayName != "" {
		fields := map[string]string{}
		checkLen(fields, "display_name", name, 1, MaxDisplayName)
		if len(fields) > 0 {
			return JoinResult{}, apperr.Invalidf(fields)
		}
	}
	st := s.store.with(ctx)
	m, err := st.meeting(meetingID)
	if err != nil {
		return JoinResult{}, err
	}
	if caller.IsGuest() && !m.IsPublic {
		return JoinResult{}, ErrGuestsNotAllowed
	}
	if m.Status.over() {
		return JoinResult{}, ErrMeetingEnded
	}
	if name == "" {
		name = s.displayName(ctx, caller)
	}
	// The password is checked before the transaction: bcrypt is slow on purpose and must not
	// run while the meeting is locked. The transaction re-checks that it did not change.
	checked := m.PasswordHash
	existing, err := st.activeParticipant(m.ID, caller.UserID)
	if err != nil {
		return JoinResult{}, err
	}
	invited, err := st.invited(m.ID, caller.UserID)
	if err != nil {
		return JoinResult{}, err
	}
	skipPassword := m.CreatorID == caller.UserID || invited || (existing != nil && (in.Attach || in.Replace))
	if !skipPassword && !passwordMatches(checked, in.Password) {
		if k, err := st.kicked(m.ID, caller.UserID); err != nil {
			return JoinResult{}, err
		} else if k {
			return JoinResult{}, ErrKicked
		}
		return JoinResult{}, ErrWrongPassword
	}

	var (
		self     *Participant
		attached bool
		evs      events
	)
	err = s.store.Tx(ctx, func(tx *Store) error {
		evs, attached, self = nil, false, nil
		m, err := tx.lockMeeting(meetingID)
		if err != nil {
			return err
		}
		if m.Status.over() {
			return ErrMeetingEnded
		}
		if k, err := tx.kicked(m.ID, caller.UserID); err != nil {
			return err
		} else if k {
			return ErrKicked
		}
		old, err := tx.activeParticipant(m.ID, caller.UserID)
		if err != nil {
			return err
		}
		// Re-check the password when it changed meanwhile, or when it was skipped for a
		// participant that has left since.
		recheck := m.PasswordHash != checked || (skipPassword && old == nil)
		if recheck && m.CreatorID != caller.UserID && !invited && !passwordMatches(m.PasswordHash, in.Password) {
			return ErrWrongPassword
		}
		role := RoleParticipant
		if m.CreatorID == caller.UserID {
			role = RoleHost
		}
		now := s.clock()
		switch {
		case old != nil && in.Attach:
			self, attached = old, true
			return nil
		case old != nil && in.Replace:
			if _, err := tx.markLeft(old.ID, now, ReasonDisconnected); err != nil {
				return err
			}
			evs = append(evs, s.leftEvent(m.ID, old.ID, ReasonDisconnected))
			if old.Role.moderates() && role != RoleHost {
				role = old.Role
			}
		case old != nil:
			return ErrAlreadyJoined
		default:
			n, err := tx.countActive(m.ID)
			if err != nil {
				return err
			}
			if n >= int64(m.MaxParticipants) {
				return ErrMeetingFull
			}
		}
		self = &Participant{ID: newID(), MeetingID: m.ID, UserID: caller.UserID, DisplayName: name, Role: role, JoinedAt: now}
		if role == RoleHost {
			// The creator takes the host role back; whoever held it becomes co-host.
			ps, err := tx.activeParticipants(m.ID)
			if err != nil {
				return err
			}
			for _, p := range ps {
				if p.Role == RoleHost {
					if err := tx.setRole(p.ID, RoleCohost); err != nil {
						return err
					}
					if err := tx.insertHandover(&Handover{ID: newID(), MeetingID: m.ID, FromParticipantID: p.ID,
						ToParticipantID: self.ID, FromUserID: p.UserID, ToUserID: self.UserID, Reason: "creator_joined", At: now}); err != nil {
						return err
					}
					evs = append(evs, s.roleEvent(m.ID, p.ID, RoleCohost))
				}
			}
		}
		if err := tx.insertParticipant(self); err != nil {
			if db.IsUniqueViolation(err) {
				return ErrAlreadyJoined
			}
			return fmt.Errorf("insert participant: %w", err)
		}
		if m.Status == StatusScheduled {
			if err := tx.updateMeeting(m.ID, map[string]any{"status": StatusLive, "actual_start": now, "updated_at": now}); err != nil {
				return err
			}
		}
		pv := self.View()
		ev := s.event(EventParticipantJoined, m.ID)
		ev.Participant = &pv
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		return JoinResult{}, err
	}
	s.publish(ctx, evs)
	res, err := s.joinResult(ctx, meetingID, self)
	res.Attached = attached
	return res, err
}

// displayName is the caller's name: the token's, else the directory's, else its user id.
func (s *Service) displayName(ctx context.Context, caller authn.Identity) string {
	if n := strings.TrimSpace(caller.Name); n != "" {
		return truncateRunes(n, MaxDisplayName)
	}
	if !caller.IsGuest() {
		if n := s.names(ctx, []string{caller.UserID})[caller.UserID]; n != "" {
			return truncateRunes(n, MaxDisplayName)
		}
	}
	return caller.UserID
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// joinResult reads what a joiner sees: the meeting, everyone in it and its chat history.
func (s *Service) joinResult(ctx context.Context, meetingID string, self *Participant) (JoinResult, error) {
	st := s.store.with(ctx)
	m, err := st.meeting(meetingID)
	if err != nil {
		return JoinResult{}, err
	}
	mv, err := s.meetingView(ctx, m)
	if err != nil {
		return JoinResult{}, err
	}
	ps, err := st.activeParticipants(meetingID)
	if err != nil {
		return JoinResult{}, err
	}
	ids, err := st.participantIDsOf(meetingID, self.UserID)
	if err != nil {
		return JoinResult{}, err
	}
	msgs, err := st.messages(meetingID, ids, 0, chatHistoryOnJoin, true)
	if err != nil {
		return JoinResult{}, err
	}
	// Read after commit, self reflects any change made since (such as a role hand-over).
	for i := range ps {
		if ps[i].ID == self.ID {
			self = &ps[i]
		}
	}
	return JoinResult{Meeting: mv, Participant: self.View(), Participants: participantViews(ps), ChatHistory: chatViews(msgs)}, nil
}

func (s *Service) leftEvent(meetingID, participantID, reason string) Event {
	ev := s.event(EventParticipantLeft, meetingID)
	ev.ParticipantID, ev.Reason = participantID, reason
	return ev
}

func (s *Service) roleEvent(meetingID, participantID string, role Role) Event {
	ev := s.event(EventRoleChanged, meetingID)
	ev.ParticipantID, ev.Role = participantID, role
	return ev
}

// Leave takes the caller out of the meeting (ErrNotInRoom when it is not in it). A leaving
// host hands the role to the longest-present co-host, else the longest-present participant,
// and the hand-over is recorded; the last one out ends the meeting (reason last_left).
func (s *Service) Leave(ctx context.Context, caller authn.Identity, meetingID string) error {
	return s.leave(ctx, meetingID, func(tx *Store, m *Meeting) (*Participant, error) {
		p, err := tx.activeParticipant(m.ID, caller.UserID)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, ErrNotInRoom
		}
		return p, nil
	}, ReasonLeft)
}

// Disconnect makes a participant leave with reason "disconnected", for the signaling layer
// when a socket's reconnect grace runs out. Host hand-over and auto-end work as in Leave.
// A participant that has already left gives ErrNotInRoom.
func (s *Service) Disconnect(ctx context.Context, meetingID, participantID string) error {
	return s.leave(ctx, meetingID, func(tx *Store, m *Meeting) (*Participant, error) {
		p, err := tx.participant(m.ID, participantID)
		if err != nil {
			return nil, err
		}
		if !p.Active() {
			return nil, ErrNotInRoom
		}
		return p, nil
	}, ReasonDisconnected)
}

func (s *Service) leave(ctx context.Context, meetingID string, who func(*Store, *Meeting) (*Participant, error), reason string) error {
	var (
		evs   events
		ended *Meeting
	)
	err := s.store.Tx(ctx, func(tx *Store) error {
		evs, ended = nil, nil
		m, err := tx.lockMeeting(meetingID)
		if err != nil {
			return err
		}
		p, err := who(tx, m)
		if err != nil {
			return err
		}
		evs, ended, err = s.leaveLocked(tx, m, p, reason)
		return err
	})
	if err != nil {
		return err
	}
	s.publish(ctx, evs)
	if ended != nil {
		s.uncacheMeeting(ctx, ended)
	}
	return nil
}

// leaveLocked makes p leave the locked meeting m: hand-over when p was host, and the end of
// the meeting when nobody is left (then it returns m).
func (s *Service) leaveLocked(tx *Store, m *Meeting, p *Participant, reason string) (events, *Meeting, error) {
	now := s.clock()
	left, err := tx.markLeft(p.ID, now, reason)
	if err != nil {
		return nil, nil, fmt.Errorf("leave: %w", err)
	}
	if !left {
		return nil, nil, ErrNotInRoom
	}
	evs := events{s.leftEvent(m.ID, p.ID, reason)}
	rest, err := tx.activeParticipants(m.ID)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) == 0 {
		end, err := s.endLocked(tx, m, ReasonLastLeft)
		return append(evs, end...), m, err
	}
	if p.Role != RoleHost {
		return evs, nil, nil
	}
	next := &rest[0] // longest present (rest is ordered by joined_at)
	for i := range rest {
		if rest[i].Role == RoleCohost {
			next = &rest[i]
			break
		}
	}
	if err := tx.setRole(next.ID, RoleHost); err != nil {
		return nil, nil, err
	}
	if err := tx.insertHandover(&Handover{ID: newID(), MeetingID: m.ID, FromParticipantID: p.ID, ToParticipantID: next.ID,
		FromUserID: p.UserID, ToUserID: next.UserID, Reason: reason, At: now}); err != nil {
		return nil, nil, fmt.Errorf("record hand-over: %w", err)
	}
	return append(evs, s.roleEvent(m.ID, next.ID, RoleHost)), nil, nil
}

// endLocked ends the locked meeting m: status, actual end, reason, everyone left.
func (s *Service) endLocked(tx *Store, m *Meeting, reason string) (events, error) {
	now := s.clock()
	if err := tx.updateMeeting(m.ID, map[string]any{"status": StatusEnded, "actual_end": now,
		"end_reason": reason, "updated_at": now}); err != nil {
		return nil, fmt.Errorf("end meeting: %w", err)
	}
	if err := tx.markAllLeft(m.ID, now, ReasonMeetingEnded); err != nil {
		return nil, fmt.Errorf("end meeting: %w", err)
	}
	m.Status, m.ActualEnd, m.EndReason = StatusEnded, &now, reason
	ev := s.event(EventMeetingEnded, m.ID)
	ev.Reason = reason
	return events{ev}, nil
}

// End ends the meeting for everyone (reason host_ended). Only an active host or co-host may;
// ErrAlreadyEnded when it has ended or was cancelled (for its creator or a past participant;
// anyone else gets ErrForbidden).
func (s *Service) End(ctx context.Context, caller authn.Identity, meetingID string) (MeetingView, error) {
	var (
		evs events
		m   *Meeting
	)
	err := s.store.Tx(ctx, func(tx *Store) error {
		var err error
		evs = nil
		if m, err = tx.lockMeeting(meetingID); err != nil {
			return err
		}
		if m.Status.over() {
			ids, err := tx.participantIDsOf(m.ID, caller.UserID)
			if err != nil {
				return err
			}
			if m.CreatorID == caller.UserID || len(ids) > 0 {
				return ErrAlreadyEnded
			}
			return ErrForbidden
		}
		p, err := tx.activeParticipant(m.ID, caller.UserID)
		if err != nil {
			return err
		}
		if p == nil || !p.Role.moderates() {
			return ErrForbidden.WithMessage("only the host or a co-host may end the meeting")
		}
		evs, err = s.endLocked(tx, m, ReasonHostEnded)
		return err
	})
	if err != nil {
		return MeetingView{}, err
	}
	s.publish(ctx, evs)
	s.uncacheMeeting(ctx, m)
	return s.meetingView(ctx, m)
}
