package rooms

import (
	"context"
	"strings"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
)

// ValidID reports whether id has the shape of the ids this package makes: a UUID in its
// canonical form, 36 characters of lower- or upper-case hex and dashes. Anything else names
// nothing, and must reach no store, cache key or bus subject.
func ValidID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// Admission is the proof that a join's checks passed (Admit). A Join given it skips the
// password check, the slow one, unless the password changed since. Only Admit makes one; the
// zero Admission proves nothing.
type Admission struct {
	meetingID, userID, hash string
}

// Admit runs Join's checks without joining, so that a transport can refuse a join before it
// spends anything on it (a room, a media router, a subscription, a placement): the id's
// shape, the meeting's existence, then the caller's right to join in Join's order, plus a
// free seat for a caller not in the meeting yet. With in.Attach or in.Replace, a caller
// already in the meeting needs no password, as in Join.
func (s *Service) Admit(ctx context.Context, caller authn.Identity, meetingID string, in JoinInput) (Admission, error) {
	a, err := s.admit(ctx, caller, meetingID, in)
	if err != nil {
		return Admission{}, err
	}
	if a.existing == nil {
		n, err := s.store.with(ctx).countActive(a.m.ID)
		if err != nil {
			return Admission{}, err
		}
		if n >= int64(a.m.MaxParticipants) {
			return Admission{}, ErrMeetingFull
		}
	}
	return Admission{meetingID: a.m.ID, userID: caller.UserID, hash: a.m.PasswordHash}, nil
}

// admission is what admit found: the meeting, the joiner's name, the password hash it checked
// the password against (or skipped the check for) and the caller's active participant.
type admission struct {
	m            *Meeting
	name         string
	checked      string
	skipPassword bool
	invited      bool
	existing     *Participant
}

// admit runs the checks of a join that need no lock, in Join's order.
func (s *Service) admit(ctx context.Context, caller authn.Identity, meetingID string, in JoinInput) (admission, error) {
	if caller.UserID == "" {
		return admission{}, apperr.ErrUnauthorized
	}
	if !ValidID(meetingID) {
		return admission{}, ErrNotFound // no meeting has such an id; nothing is looked up
	}
	name := strings.TrimSpace(in.DisplayName)
	if in.DisplayName != "" {
		fields := map[string]string{}
		checkLen(fields, "display_name", name, 1, MaxDisplayName)
		if len(fields) > 0 {
			return admission{}, apperr.Invalidf(fields)
		}
	}
	st := s.store.with(ctx)
	m, err := st.meeting(meetingID)
	if err != nil {
		return admission{}, err
	}
	if caller.IsGuest() && !m.IsPublic {
		return admission{}, ErrGuestsNotAllowed
	}
	if m.Status.over() {
		return admission{}, ErrMeetingEnded
	}
	if k, err := st.kicked(m.ID, caller.UserID); err != nil {
		return admission{}, err
	} else if k {
		return admission{}, ErrKicked
	}
	if name == "" {
		name = s.displayName(ctx, caller)
	}
	// The password is checked before the transaction: bcrypt is slow on purpose and must not
	// run while the meeting is locked. The transaction re-checks that it did not change.
	existing, err := st.activeParticipant(m.ID, caller.UserID)
	if err != nil {
		return admission{}, err
	}
	invited, err := st.invited(m.ID, caller.UserID)
	if err != nil {
		return admission{}, err
	}
	a := admission{m: m, name: name, checked: m.PasswordHash, existing: existing, invited: invited}
	// The creator, an invitee (a paid booking's buyer) and a participant re-attaching skip the
	// password.
	a.skipPassword = m.CreatorID == caller.UserID || invited || (existing != nil && (in.Attach || in.Replace))
	admitted := in.Admission.meetingID == m.ID && in.Admission.userID == caller.UserID && in.Admission.hash == m.PasswordHash
	if !a.skipPassword && !admitted && !passwordMatches(m.PasswordHash, in.Password) {
		return admission{}, ErrWrongPassword
	}
	return a, nil
}
