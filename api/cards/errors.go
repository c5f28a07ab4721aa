package cards

import "github.com/onstagehq/onstage/internal/apperr"

// The card-key domain's errors. The REST layer maps their kinds to statuses.
var (
	ErrNotFound          = apperr.New(apperr.NotFound, "not_found", "no such object")
	ErrInsufficientQuota = apperr.New(apperr.Conflict, "insufficient_quota", "the balance is too low for this")
	ErrNotPending        = apperr.New(apperr.Conflict, "not_pending", "the request was already decided")
	ErrNoGrant           = apperr.New(apperr.Forbidden, "project_not_granted", "the project is not granted to you, or the grant expired")
	ErrKeyNotActive      = apperr.New(apperr.Conflict, "key_not_active", "only an active, unexpired, bound key can be unbound")
	ErrUnbindLimit       = apperr.New(apperr.TooMany, "unbind_limit", "the key was unbound too often in the last 30 days")
	ErrIdempotencyKey    = apperr.New(apperr.Invalid, "idempotency_key_required", "quota changes need an Idempotency-Key header")

	// The signed API's refusals (401 with a code).
	ErrBadSignature   = apperr.New(apperr.Unauthorized, "bad_signature", "the signature does not match")
	ErrStaleTimestamp = apperr.New(apperr.Unauthorized, "stale_timestamp", "the timestamp is more than 5 minutes off")
	ErrReplayedNonce  = apperr.New(apperr.Unauthorized, "replayed_nonce", "the nonce was already used")
	ErrUnknownKey     = apperr.New(apperr.Unauthorized, "unknown_key", "no project has this API key")

	// Card-gated meetings (the meeting domain returns these).
)
