package payments

import "github.com/onstagehq/onstage/internal/apperr"

// The payments domain's errors. Webhook failures have stable codes, since providers and
// operators read them.
var (
	// ErrMissingSignature is a webhook without its signature header.
	ErrMissingSignature = apperr.New(apperr.Invalid, "missing_signature", "the webhook carries no signature")
	// ErrBadSignature is a webhook whose signature matches none of the secrets.
	ErrBadSignature = apperr.New(apperr.Invalid, "invalid_signature", "the webhook signature is invalid")
	// ErrSignatureExpired is a genuine signature whose timestamp is outside the tolerance.
	ErrSignatureExpired = apperr.New(apperr.Invalid, "signature_expired", "the webhook signature is too old or too new")
	// ErrBadEvent is a signed webhook body that is not an event this service understands.
	ErrBadEvent = apperr.New(apperr.Invalid, "invalid_event", "the webhook body is not a valid event")
	// ErrUnknownProvider is a webhook or payment for a provider this node does not run.
	ErrUnknownProvider = apperr.New(apperr.NotFound, "unknown_provider", "no such payment provider")
	// ErrNotFound is an unknown payment, or another buyer's.
	ErrNotFound = apperr.New(apperr.NotFound, "not_found", "no such payment")
	// ErrAlreadyPaid is a payment for a subject that is already paid.
	ErrAlreadyPaid = apperr.New(apperr.Conflict, "already_paid", "this is already paid")
	// ErrProviderUnavailable is a provider that failed or did not answer.
	ErrProviderUnavailable = apperr.New(apperr.Unavailable, "provider_unavailable", "the payment provider is unavailable; try again")
	// ErrSandboxFinished is a sandbox button pressed on an intent that already has its answer.
	ErrSandboxFinished = apperr.New(apperr.Conflict, "intent_finished", "this payment already has its answer")
)
