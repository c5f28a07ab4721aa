// Package apperr owns onstage's domain error values. A domain package declares its errors once
// (in its errors.go) as *Error values with a Kind and a stable code; the REST layer maps Kind to
// an HTTP status and the signaling layer maps Code to a protocol error code, each in one place.
package apperr

import (
	"errors"
	"time"
)

// Kind classifies an error by what the caller did wrong (or didn't).
type Kind int

// The kinds, in the order of the HTTP statuses they map to.
const (
	Internal     Kind = iota // a fault of ours: never the client's input
	Invalid                  // malformed or failing validation
	Unauthorized             // no or bad credentials
	Forbidden                // authenticated but not allowed
	NotFound                 // no such resource (or not visible to the caller)
	Conflict                 // the resource's state forbids it now
	TooLarge                 // the request body is too large
	TooMany                  // rate limited or locked out
	Unavailable              // a dependency is down; retry later
)

// Error is a domain error: a kind, a stable snake_case code and a human message.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	// Fields names invalid input fields with a short reason each.
	Fields map[string]string
	// RetryAfter, when set, tells the client when to try again.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is match two *Error values by code, so a copy carrying fields or a
// retry hint still matches the sentinel it was made from.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// New makes an error value; domain packages use it for their sentinels.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// WithFields returns a copy of e naming the invalid fields.
func (e *Error) WithFields(fields map[string]string) *Error {
	c := *e
	c.Fields = fields
	return &c
}

// WithRetry returns a copy of e carrying a retry hint.
func (e *Error) WithRetry(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// WithMessage returns a copy of e with another message.
func (e *Error) WithMessage(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Common errors shared by every domain.
var (
	// ErrBadRequest is malformed input: bad JSON, wrong types, unknown fields.
	ErrBadRequest = New(Invalid, "bad_request", "the request is malformed")
	// ErrValidation is well-formed input that breaks a rule; Fields says which.
	ErrValidation = New(Invalid, "validation_failed", "some fields are invalid")
	// ErrUnauthorized is a missing, expired or forged credential.
	ErrUnauthorized = New(Unauthorized, "unauthorized", "authentication required")
	// ErrForbidden is an authenticated caller without the right to act.
	ErrForbidden = New(Forbidden, "forbidden", "not allowed")
	// ErrNotFound is an unknown resource.
	ErrNotFound = New(NotFound, "not_found", "not found")
	// ErrConflict is a state conflict without a more specific code.
	ErrConflict = New(Conflict, "conflict", "the resource changed; try again")
	// ErrTooLarge is a body over the size limit.
	ErrTooLarge = New(TooLarge, "body_too_large", "the request body is too large")
	// ErrRateLimited is a caller over its rate limit.
	ErrRateLimited = New(TooMany, "rate_limited", "too many requests")
	// ErrUnavailable is a dependency that is down.
	ErrUnavailable = New(Unavailable, "unavailable", "a dependency is unavailable; try again")
	// ErrInternal hides a fault of ours from the client.
	ErrInternal = New(Internal, "internal", "internal error")
)

// Invalid returns a validation error naming fields.
func Invalidf(fields map[string]string) *Error { return ErrValidation.WithFields(fields) }
