package auth

import "github.com/onstagehq/onstage/internal/apperr"

// The auth domain's errors. The REST layer maps their kinds to statuses (httpx.Status).
var (
	// ErrEmailTaken is a registration for an email that already has an account.
	ErrEmailTaken = apperr.New(apperr.Conflict, "email_taken", "the email is already registered")
	// ErrInvalidCredentials is a login with an unknown email or the wrong password; the two
	// are not told apart.
	ErrInvalidCredentials = apperr.New(apperr.Unauthorized, "invalid_credentials", "wrong email or password")
	// ErrInvalidLink is an email verification or password reset token that is unknown,
	// already used or expired.
	ErrInvalidLink = apperr.New(apperr.Invalid, "invalid_token", "the link is invalid, used or expired")
	// ErrInvalidRefresh is a refresh token that is unknown, expired, rotated or revoked.
	ErrInvalidRefresh = apperr.New(apperr.Unauthorized, "invalid_token", "the refresh token is invalid or expired")
	// ErrAccountLocked is a login to an account locked by too many failed attempts in a row;
	// the copy returned carries the time left in RetryAfter.
	ErrAccountLocked = apperr.New(apperr.TooMany, "account_locked", "too many failed logins; the account is locked for a while")
	// ErrAccountDisabled is a login or refresh of an account an admin locked.
	ErrAccountDisabled = apperr.New(apperr.Forbidden, "account_disabled", "the account is locked; ask an administrator to unlock it")
	// ErrCaptchaRequired is a login without a valid human verification token after repeated
	// failures; the client shows the verification widget and retries with its token.
	ErrCaptchaRequired = apperr.New(apperr.Unauthorized, "captcha_required", "complete the human verification and try again")
	// ErrUserNotFound is an unknown user id or email.
	ErrUserNotFound = apperr.New(apperr.NotFound, "not_found", "no such user")
	// ErrGuestForbidden is a guest trying something that needs an account.
	ErrGuestForbidden = apperr.New(apperr.Forbidden, "forbidden", "guests have no account to change")
)
