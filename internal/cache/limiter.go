package cache

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limiter allows at most limit events per key in each fixed window. The window starts
// at a key's first event, and the count lives in the Cache, so on Redis every node
// enforces the same limit.
type Limiter struct {
	c      Cache
	prefix string
	limit  int64
	window time.Duration
}

// NewLimiter returns a limiter storing its counters in c under prefix. limit must be at
// least 1 and window positive; anything else is a programming error and panics.
func NewLimiter(c Cache, prefix string, limit int, window time.Duration) *Limiter {
	if limit < 1 || window <= 0 {
		panic(fmt.Sprintf("cache: NewLimiter(limit=%d, window=%v): need limit >= 1 and window > 0", limit, window))
	}
	return &Limiter{c: c, prefix: prefix, limit: int64(limit), window: window}
}

// Allow records one event for key and reports whether it is within the limit. When it
// is not, retryAfter is how long until the window resets.
func (l *Limiter) Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error) {
	k := l.prefix + key
	n, err := l.c.Incr(ctx, k, l.window)
	if err != nil {
		return false, 0, fmt.Errorf("cache: limiter: %w", err)
	}
	if n <= l.limit {
		return true, 0, nil
	}
	ttl, err := l.c.TTL(ctx, k)
	switch {
	case errors.Is(err, ErrMiss):
		// The window ended between the two calls: the next attempt starts a new one.
		return false, time.Millisecond, nil
	case err != nil:
		return false, 0, fmt.Errorf("cache: limiter: %w", err)
	case ttl == 0:
		// A counter without expiry would block the key forever (someone Set it without a
		// TTL); give it a window so it heals.
		if err := l.c.Expire(ctx, k, l.window); err != nil && !errors.Is(err, ErrMiss) {
			return false, 0, fmt.Errorf("cache: limiter: %w", err)
		}
		return false, l.window, nil
	}
	return false, ttl, nil
}
