package ads

import "github.com/onstagehq/onstage/internal/apperr"

// The ads domain's errors. The REST layer maps their kinds to statuses (httpx.Status).
var (
	// ErrNotFound is an unknown package, ad or sub-account, or one outside the caller's reach:
	// another agency's sub-account or ad is not found, never forbidden.
	ErrNotFound = apperr.New(apperr.NotFound, "not_found", "no such object")
	// ErrNotStreamer is a purchase by an account that is not a streamer.
	ErrNotStreamer = apperr.New(apperr.Forbidden, "forbidden", "only streamers buy ads for themselves")
	// ErrNotAgency is an agency route called by an account that is not an agency.
	ErrNotAgency = apperr.New(apperr.Forbidden, "forbidden", "only agencies manage sub-accounts")
	// ErrPackageInactive is a purchase of a package that is not on sale.
	ErrPackageInactive = apperr.New(apperr.Conflict, "package_inactive", "the package is not on sale")
	// ErrNotToggleable is a toggle of an ad that is not running (pending payment, expired or
	// canceled).
	ErrNotToggleable = apperr.New(apperr.Conflict, "ad_not_running", "only an active or paused ad can be paused or resumed")
	// ErrNotPayable is a payment for an ad that is no longer waiting for one: paid already (or,
	// inside a payment's fulfilment, canceled meanwhile).
	ErrNotPayable = apperr.New(apperr.Conflict, "already_paid", "the ad is not waiting for a payment")
	// ErrAdCanceled is a payment started for an ad canceled unpaid (ads.pending_ttl): buy it
	// again.
	ErrAdCanceled = apperr.New(apperr.Conflict, "ad_canceled", "the ad was canceled unpaid; buy it again")
	// ErrClickReplayed is a click token that was already clicked.
	ErrClickReplayed = apperr.New(apperr.Conflict, "token_used", "this ad token was already clicked")
	// ErrBadToken is a click token that was not served by onstage or has expired.
	ErrBadToken = apperr.New(apperr.Invalid, "invalid_token", "the ad token is invalid or expired")
	// ErrImportInvalid is an import with problems; the handler lists them by row.
	ErrImportInvalid = apperr.New(apperr.Invalid, "import_invalid", "the file has problems; nothing was imported")
)
