package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Cache shared by the nodes of a cluster.
type Redis struct {
	client *redis.Client
}

var _ Cache = (*Redis)(nil)

// incrScript increments a counter and sets its TTL only when the increment created it,
// in one step, so a counter can never be left without its window's expiry.
var incrScript = redis.NewScript(`
local created = redis.call('EXISTS', KEYS[1]) == 0
local n = redis.call('INCR', KEYS[1])
if created and tonumber(ARGV[1]) > 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// NewRedis returns a Cache on the Redis server named by url ("redis://user:pass@host:port/db"
// or "rediss://" for TLS). It does not connect until first use; call Ping to check.
func NewRedis(url string) (*Redis, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// Parse errors may quote the URL, password included; keep only the reason's kind.
		return nil, fmt.Errorf("%w: invalid redis URL", ErrUnsupportedURL)
	}
	return &Redis{client: redis.NewClient(opts)}, nil
}

// Client returns the underlying go-redis client, for features beyond Cache (tests use it
// to clean up their keys).
func (r *Redis) Client() *redis.Client { return r.client }

// expiry converts a ttl to go-redis's argument. go-redis reads negative durations as
// KEEPTTL and sends whole milliseconds, so positive sub-millisecond TTLs round up
// rather than becoming an invalid zero.
func expiry(ttl time.Duration) time.Duration {
	if ttl > 0 && ttl < time.Millisecond {
		return time.Millisecond
	}
	return ttl
}

func millis(ttl time.Duration) int64 {
	return expiry(ttl).Milliseconds()
}

func wrapRedis(op string, err error) error {
	if errors.Is(err, redis.Nil) {
		return ErrMiss
	}
	if err != nil && strings.Contains(err.Error(), "not an integer") {
		return fmt.Errorf("cache: %s: %w", op, ErrNotInteger)
	}
	if err != nil {
		return fmt.Errorf("cache: %s: %w", op, err)
	}
	return nil
}

// Get implements Cache.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	val, err := r.client.Get(ctx, key).Bytes()
	if err != nil {
		return nil, wrapRedis("get", err)
	}
	return val, nil
}

// Set implements Cache.
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	return wrapRedis("set", r.client.Set(ctx, key, val, expiry(ttl)).Err())
}

// SetNX implements Cache.
func (r *Redis) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL(ttl); err != nil {
		return false, err
	}
	ok, err := r.client.SetNX(ctx, key, val, expiry(ttl)).Result()
	if err != nil {
		return false, wrapRedis("setnx", err)
	}
	return ok, nil
}

// GetDel implements Cache.
func (r *Redis) GetDel(ctx context.Context, key string) ([]byte, error) {
	val, err := r.client.GetDel(ctx, key).Bytes()
	if err != nil {
		return nil, wrapRedis("getdel", err)
	}
	return val, nil
}

// Del implements Cache.
func (r *Redis) Del(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil // DEL with no keys is a Redis syntax error
	}
	return wrapRedis("del", r.client.Del(ctx, keys...).Err())
}

// Incr implements Cache.
func (r *Redis) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := checkTTL(ttl); err != nil {
		return 0, err
	}
	n, err := incrScript.Run(ctx, r.client, []string{key}, millis(ttl)).Int64()
	if err != nil {
		return 0, wrapRedis("incr", err)
	}
	return n, nil
}

// TTL implements Cache.
func (r *Redis) TTL(ctx context.Context, key string) (time.Duration, error) {
	d, err := r.client.PTTL(ctx, key).Result()
	if err != nil {
		return 0, wrapRedis("ttl", err)
	}
	// go-redis passes Redis's sentinels through unscaled: -2 absent, -1 no expiry.
	switch d {
	case -2:
		return 0, ErrMiss
	case -1:
		return 0, nil
	}
	return d, nil
}

// Expire implements Cache.
func (r *Redis) Expire(ctx context.Context, key string, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	var ok bool
	var err error
	if ttl == 0 {
		// PERSIST answers false both for an absent key and for one without a TTL.
		if ok, err = r.client.Persist(ctx, key).Result(); err == nil && !ok {
			var n int64
			n, err = r.client.Exists(ctx, key).Result()
			ok = n == 1
		}
	} else {
		ok, err = r.client.PExpire(ctx, key, expiry(ttl)).Result()
	}
	if err != nil {
		return wrapRedis("expire", err)
	}
	if !ok {
		return ErrMiss
	}
	return nil
}

// Ping implements Cache.
func (r *Redis) Ping(ctx context.Context) error {
	return wrapRedis("ping", r.client.Ping(ctx).Err())
}

// Close closes the connection pool.
func (r *Redis) Close() error {
	return r.client.Close()
}

// MGet reads several keys in one round trip; a missing key reads as nil.
func (r *Redis) MGet(ctx context.Context, keys ...string) ([][]byte, error) {
	vals, err := r.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, wrapRedis("mget", err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i] = []byte(s)
		}
	}
	return out, nil
}
