package cache

import (
	"context"
	"errors"
	"time"
)

// prefixed namespaces every key of an underlying Cache, so features (and tests) sharing
// one Redis cannot collide.
type prefixed struct {
	c      Cache
	prefix string
}

// WithPrefix returns a Cache that stores key as prefix+key in c. Close closes c.
func WithPrefix(c Cache, prefix string) Cache {
	return &prefixed{c: c, prefix: prefix}
}

func (p *prefixed) k(key string) string { return p.prefix + key }

func (p *prefixed) Get(ctx context.Context, key string) ([]byte, error) {
	return p.c.Get(ctx, p.k(key))
}

func (p *prefixed) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return p.c.Set(ctx, p.k(key), val, ttl)
}

func (p *prefixed) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	return p.c.SetNX(ctx, p.k(key), val, ttl)
}

func (p *prefixed) GetDel(ctx context.Context, key string) ([]byte, error) {
	return p.c.GetDel(ctx, p.k(key))
}

func (p *prefixed) Del(ctx context.Context, keys ...string) error {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = p.k(k)
	}
	return p.c.Del(ctx, full...)
}

func (p *prefixed) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	return p.c.Incr(ctx, p.k(key), ttl)
}

func (p *prefixed) TTL(ctx context.Context, key string) (time.Duration, error) {
	return p.c.TTL(ctx, p.k(key))
}

func (p *prefixed) Expire(ctx context.Context, key string, ttl time.Duration) error {
	return p.c.Expire(ctx, p.k(key), ttl)
}

func (p *prefixed) Ping(ctx context.Context) error { return p.c.Ping(ctx) }

func (p *prefixed) Close() error { return p.c.Close() }

// MGet reads several keys in one step when the underlying cache can.
func (p *prefixed) MGet(ctx context.Context, keys ...string) ([][]byte, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = p.k(k)
	}
	if mg, ok := p.c.(multiGetter); ok {
		return mg.MGet(ctx, full...)
	}
	out := make([][]byte, len(keys))
	for i, k := range full {
		v, err := p.c.Get(ctx, k)
		if errors.Is(err, ErrMiss) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}
