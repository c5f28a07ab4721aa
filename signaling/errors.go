package signaling

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/sfu"
)

// The protocol's error codes (docs/protocol.md, Envelope). No other code is ever sent, but
// for giveaway_enter's own two (giveaway.go).
const (
	CodeBadRequest    = "bad_request"
	CodeUnauthorized  = "unauthorized"
	CodeForbidden     = "forbidden"
	CodeNotFound      = "not_found"
	CodeMeetingEnded  = "meeting_ended"
	CodeMeetingFull   = "meeting_full"
	CodeWrongPassword = "wrong_password"
	CodeCardRequired  = "card_required"
	CodeAlreadyJoined = "already_joined"
	CodeNotInRoom     = "not_in_room"
	CodeRateLimited   = "rate_limited"
	CodeInternal      = "internal"
)

// protoError is an error already expressed in protocol terms.
type protoError struct {
	Code    string
	Message string
}

func (e *protoError) Error() string { return e.Code + ": " + e.Message }

func newError(code, msg string) *protoError { return &protoError{Code: code, Message: msg} }

func badRequest(msg string) *protoError { return newError(CodeBadRequest, msg) }

var (
	errNotInRoom     = newError(CodeNotInRoom, "join a room first")
	errAlreadyJoined = newError(CodeAlreadyJoined, "already in a room")
	errRateLimited   = newError(CodeRateLimited, "too many messages; slow down")
	errBadResume     = newError(CodeUnauthorized, "invalid resume token")
	errInternal      = newError(CodeInternal, "internal error")
)

// toProtocol maps any error to a protocol error code and message. It is the only place where
// domain (apperr) codes and media-plane errors become protocol codes. The second result is
// true when the error is a fault of ours that should be logged.
func toProtocol(err error) (*protoError, bool) {
	var pe *protoError
	if errors.As(err, &pe) {
		return pe, false
	}
	if e, ok := apperr.As(err); ok {
		switch e.Code {
		case CodeBadRequest, "validation_failed", "body_too_large":
			return newError(CodeBadRequest, messageWithFields(e)), false
		case CodeUnauthorized:
			return newError(CodeUnauthorized, e.Message), false
		case CodeForbidden, "kicked", "guests_not_allowed":
			return newError(CodeForbidden, e.Message), false
		case CodeNotFound:
			return newError(CodeNotFound, e.Message), false
		case CodeMeetingEnded, "already_ended":
			return newError(CodeMeetingEnded, e.Message), false
		case CodeMeetingFull:
			return newError(CodeMeetingFull, e.Message), false
		case CodeWrongPassword:
			return newError(CodeWrongPassword, e.Message), false
		case CodeCardRequired, "card_invalid", "card_bound", "card_exhausted":
			return newError(CodeCardRequired, e.Message), false
		case CodeAlreadyJoined:
			return newError(CodeAlreadyJoined, e.Message), false
		case CodeNotInRoom:
			return newError(CodeNotInRoom, e.Message), false
		case CodeRateLimited:
			return newError(CodeRateLimited, e.Message), false
		}
		// Any other domain code is mapped by its kind.
		switch e.Kind {
		case apperr.Invalid, apperr.TooLarge:
			return newError(CodeBadRequest, messageWithFields(e)), false
		case apperr.Unauthorized:
			return newError(CodeUnauthorized, e.Message), false
		case apperr.Forbidden:
			return newError(CodeForbidden, e.Message), false
		case apperr.NotFound:
			return newError(CodeNotFound, e.Message), false
		case apperr.TooMany:
			return newError(CodeRateLimited, e.Message), false
		case apperr.Conflict:
			return newError(CodeBadRequest, e.Message), false
		}
		return errInternal, true
	}
	switch {
	case errors.Is(err, sfu.ErrTrackNotFound):
		return newError(CodeNotFound, "no such track"), false
	case errors.Is(err, sfu.ErrInvalidQuality), errors.Is(err, sfu.ErrInvalidSDPType),
		errors.Is(err, sfu.ErrInvalidPCKind):
		return newError(CodeBadRequest, err.Error()), false
	case errors.Is(err, sfu.ErrNoOfferOutstanding):
		return newError(CodeBadRequest, "no subscriber offer is outstanding"), false
	case errors.Is(err, sfu.ErrParticipantClosed), errors.Is(err, sfu.ErrRouterClosed):
		return newError(CodeNotInRoom, "the media session is closed"), false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errInternal, false
	}
	return errInternal, true
}

// messageWithFields is a domain error's message followed by its invalid fields, so that a
// rule checked only in the domain still tells the client what was wrong.
func messageWithFields(e *apperr.Error) string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	names := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(e.Message)
	for i, k := range names {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(k + " " + e.Fields[k])
	}
	return b.String()
}
