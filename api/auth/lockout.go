package auth

import (
	"context"
	"strconv"
	"time"
)

// failureWindow bounds how long failed logins are remembered: failures further apart
// than this do not add up to a lock.
const failureWindow = time.Hour

// lockedFor returns how long the account behind emailKey stays locked (0: not locked).
// The lock's end is stored with it and read against the service clock; the cache TTL only
// cleans up.
func (s *Service) lockedFor(ctx context.Context, emailKey string) (time.Duration, error) {
	raw, err := s.cache.Get(ctx, keyLock+emailKey)
	if isMiss(err) {
		return 0, nil
	}
	if err != nil {
		return 0, s.unavailable(ctx, "read lock", err)
	}
	until, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, nil // not ours; ignore rather than lock anyone out
	}
	left := time.Unix(0, until).Sub(s.now())
	if left <= 0 {
		if err := s.cache.Del(ctx, keyLock+emailKey); err != nil {
			return 0, s.unavailable(ctx, "clear lock", err)
		}
		return 0, nil
	}
	return left, nil
}

// recordFailure counts a failed login; the MaxFailedLogin-th in a row locks the account
// for LockoutFor and starts the count again.
func (s *Service) recordFailure(ctx context.Context, emailKey string) error {
	n, err := s.cache.Incr(ctx, keyFailures+emailKey, failureWindow)
	if err != nil {
		return s.unavailable(ctx, "count failure", err)
	}
	if n < int64(s.cfg.MaxFailedLogin) {
		return nil
	}
	until := s.now().Add(s.cfg.LockoutFor).UnixNano()
	if err := s.cache.Set(ctx, keyLock+emailKey, []byte(strconv.FormatInt(until, 10)), s.cfg.LockoutFor); err != nil {
		return s.unavailable(ctx, "lock", err)
	}
	if err := s.cache.Del(ctx, keyFailures+emailKey); err != nil {
		return s.unavailable(ctx, "reset failures", err)
	}
	s.log.WarnContext(ctx, "account locked after failed logins", "failures", n, "for", s.cfg.LockoutFor)
	return nil
}

// clearFailures forgets failed logins and any lock of the account behind emailKey.
func (s *Service) clearFailures(ctx context.Context, emailKey string) error {
	if err := s.cache.Del(ctx, keyFailures+emailKey, keyLock+emailKey); err != nil {
		return s.unavailable(ctx, "clear failures", err)
	}
	return nil
}
