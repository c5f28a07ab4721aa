package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Versions are counters that say "what you computed from this key's data is stale": a
// writer bumps a key after its change is committed, and a reader that kept a derived value
// with the version it read recomputes when the version differs. In Redis the counters are
// shared, so a bump on one node invalidates every node's copy at once, with no TTL to wait.
// Versions never expire (a lost counter reads as 0, which also differs from a bumped one).
type Versions struct {
	c      Cache
	prefix string
}

// NewVersions returns version counters stored in c under prefix.
func NewVersions(c Cache, prefix string) *Versions { return &Versions{c: c, prefix: prefix} }

// Get returns the version of key (0 when it was never bumped).
func (v *Versions) Get(ctx context.Context, key string) (int64, error) {
	raw, err := v.c.Get(ctx, v.prefix+key)
	if errors.Is(err, ErrMiss) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cache: version: %w", err)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cache: version %s: %w", key, ErrNotInteger)
	}
	return n, nil
}

// Bump increments the version of key and returns the new one.
func (v *Versions) Bump(ctx context.Context, key string) (int64, error) {
	n, err := v.c.Incr(ctx, v.prefix+key, 0)
	if err != nil {
		return 0, fmt.Errorf("cache: bump version: %w", err)
	}
	return n, nil
}

// multiGetter is a Cache that reads several keys in one step (one round trip on Redis).
// A missing key reads as nil.
type multiGetter interface {
	MGet(ctx context.Context, keys ...string) ([][]byte, error)
}

// GetMany returns the versions of keys in order, in one round trip when the cache allows.
func (v *Versions) GetMany(ctx context.Context, keys ...string) ([]int64, error) {
	out := make([]int64, len(keys))
	mg, ok := v.c.(multiGetter)
	if !ok {
		for i, k := range keys {
			n, err := v.Get(ctx, k)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = v.prefix + k
	}
	vals, err := mg.MGet(ctx, full...)
	if err != nil {
		return nil, fmt.Errorf("cache: versions: %w", err)
	}
	for i, raw := range vals {
		if raw == nil {
			continue
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("cache: version %s: %w", keys[i], ErrNotInteger)
		}
		out[i] = n
	}
	return out, nil
}
