package auth

import (
	"context"

	"github.com/onstagehq/onstage/internal/apperr"
)

// Allow counts one auth request from the client address addr against the per-minute
// limit; over it, the error is a rate_limited error with the time to wait.
func (s *Service) Allow(ctx context.Context, addr string) error {
	ok, retry, err := s.limiter.Allow(ctx, addr)
	if err != nil {
		// A cache outage must not lock everyone out of signing in; the lockout still
		// fails closed, since it cannot be checked either.
		s.log.WarnContext(ctx, "auth: rate limiter unavailable; allowing", "err", err)
		return nil
	}
	if !ok {
		return apperr.ErrRateLimited.WithRetry(retry)
	}
	return nil
}
