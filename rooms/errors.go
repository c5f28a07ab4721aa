package rooms

import "github.com/onstagehq/onstage/internal/apperr"

// The meeting domain's errors. Their codes are the ones docs/api.md and docs/protocol.md
// name; the REST layer maps their Kind to an HTTP status and signaling maps their Code.
var (
	// ErrNotFound is an unknown meeting, participant or user in a meeting.
	ErrNotFound = apperr.New(apperr.NotFound, "not_found", "meeting not found")
	// ErrParticipantNotFound is a target that is not an active participant of the meeting.
	ErrParticipantNotFound = apperr.New(apperr.NotFound, "not_found", "participant not found in this meeting")
	// ErrForbidden is a caller without the right to do this in this meeting.
	ErrForbidden = apperr.New(apperr.Forbidden, "forbidden", "not allowed in this meeting")
	// ErrMeetingEnded is a join of a meeting that has ended or was cancelled.
	ErrMeetingEnded = apperr.New(apperr.Conflict, "meeting_ended", "the meeting has ended")
	// ErrMeetingFull is a join of a meeting whose seats are all taken.
	ErrMeetingFull = apperr.New(apperr.Conflict, "meeting_full", "the meeting is full")
	// ErrWrongPassword is a join with a missing or wrong meeting password.
	ErrWrongPassword = apperr.New(apperr.Forbidden, "wrong_password", "the meeting password is wrong")
	// ErrAlreadyJoined is a join by a user who is already in the meeting.
	ErrAlreadyJoined = apperr.New(apperr.Conflict, "already_joined", "already in this meeting")
	// ErrNotInRoom is an action that needs the caller to be in the meeting when it is not.
	ErrNotInRoom = apperr.New(apperr.Conflict, "not_in_room", "not in this meeting")
	// ErrAlreadyEnded is an end of a meeting that has already ended or was cancelled.
	ErrAlreadyEnded = apperr.New(apperr.Conflict, "already_ended", "the meeting has already ended")
	// ErrKicked is a join by a user who was kicked from this meeting.
	ErrKicked = apperr.New(apperr.Forbidden, "kicked", "you were removed from this meeting")
	// ErrNotScheduled is a change to a meeting that is no longer scheduled.
	ErrNotScheduled = apperr.New(apperr.Conflict, "conflict", "only a scheduled meeting can be changed")
	// ErrGuestsNotAllowed is a guest trying to create a meeting or join a private one.
	ErrGuestsNotAllowed = apperr.New(apperr.Forbidden, "forbidden", "guests may only join public meetings")
	// ErrCodeExhausted is a create that found no free join code after several tries.
	ErrCodeExhausted = apperr.New(apperr.Unavailable, "unavailable", "no free meeting code; try again")
)
