// Package cache owns short-lived shared state: sessions' one-time codes, leases, counters
// and rate limits. A single node keeps it in process memory; a cluster keeps it in Redis
// so every node sees the same values. Callers code against Cache and never learn which.
package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrMiss is returned when a key is absent or has expired.
var ErrMiss = errors.New("cache: miss")

// ErrFull is returned by the in-process cache when storing a new key would exceed its
// entry limit; it signals a leak (keys without TTL) rather than normal load.
var ErrFull = errors.New("cache: full")

// ErrNotInteger is returned by Incr when the key holds something other than a decimal integer.
var ErrNotInteger = errors.New("cache: value is not an integer")

// ErrInvalidTTL is returned for a negative TTL.
var ErrInvalidTTL = errors.New("cache: negative ttl")

// ErrUnsupportedURL is returned by Open for a URL scheme it does not know.
var ErrUnsupportedURL = errors.New("cache: unsupported URL")

// Cache is a key/value store with expiry. Values are opaque bytes; a ttl of 0 means
// the key never expires.
type Cache interface {
	// Get returns the value of key, or ErrMiss when it is absent or expired.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores val under key, replacing any value and TTL.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// SetNX stores val only when key is absent and reports whether it did.
	SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error)
	// GetDel returns and removes the value in one step, so exactly one of several
	// concurrent callers gets it; the others get ErrMiss.
	GetDel(ctx context.Context, key string) ([]byte, error)
	// Del removes the keys; absent keys are ignored.
	Del(ctx context.Context, keys ...string) error
	// Incr adds one to the integer at key, creating it at 1 when absent, and returns the
	// new value. ttl is applied only when the key is created, which makes fixed windows.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// TTL returns the time left before key expires: ErrMiss when absent, 0 when the key
	// does not expire.
	TTL(ctx context.Context, key string) (time.Duration, error)
	// Expire sets key's TTL (0 removes it); ErrMiss when the key is absent.
	Expire(ctx context.Context, key string, ttl time.Duration) error
	// Ping checks that the cache answers.
	Ping(ctx context.Context) error
	// Close releases the cache's resources.
	Close() error
}

// Open returns the cache named by url: "" or "memory://" for an in-process cache,
// "redis://..." or "rediss://..." for Redis.
func Open(url string) (Cache, error) {
	scheme, _, _ := strings.Cut(url, "://")
	switch {
	case url == "" || url == "memory://" || url == "memory:":
		return NewMemory(), nil
	case scheme == "redis" || scheme == "rediss":
		return NewRedis(url)
	default:
		// Only the scheme is echoed: the rest may hold a password.
		if !strings.Contains(url, "://") {
			scheme = "(none)"
		}
		return nil, fmt.Errorf("%w: scheme %q (want memory:// or redis://)", ErrUnsupportedURL, scheme)
	}
}

func checkTTL(ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("%w: %v", ErrInvalidTTL, ttl)
	}
	return nil
}
