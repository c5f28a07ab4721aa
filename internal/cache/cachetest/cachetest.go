// Package cachetest gives tests real caches: the in-process cache always, and a private
// key space on the Redis server named by ONSTAGE_TEST_REDIS_URL when that variable is set.
// Redis keys live under a random prefix and are deleted when the test ends; nothing is
// flushed, so tests in different packages can share one server in parallel.
package cachetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/cache"
)

// RedisEnv names the environment variable holding the Redis URL for tests.
const RedisEnv = "ONSTAGE_TEST_REDIS_URL"

// Memory returns a fresh in-process cache, closed when the test ends.
func Memory(t testing.TB) cache.Cache {
	t.Helper()
	m := cache.NewMemory()
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// Redis returns a cache on the test Redis server confined to a random key prefix, or
// skips the test when ONSTAGE_TEST_REDIS_URL is not set. Its keys are deleted and its
// client closed when the test ends.
func Redis(t testing.TB) cache.Cache {
	t.Helper()
	url := os.Getenv(RedisEnv)
	if url == "" {
		t.Skipf("cachetest: %s not set; skipping Redis", RedisEnv)
	}
	r, err := cache.NewRedis(url)
	if err != nil {
		t.Fatalf("cachetest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		_ = r.Close()
		t.Fatalf("cachetest: redis at %s: %v", RedisEnv, err)
	}
	prefix := "test:" + randomHex(t) + ":"
	t.Cleanup(func() {
		deleteByPrefix(t, r, prefix)
		_ = r.Close()
	})
	return &noClose{cache.WithPrefix(r, prefix)}
}

// Each runs fn as a subtest against the in-process cache ("memory") and, when
// ONSTAGE_TEST_REDIS_URL is set, against Redis ("redis"), each starting empty.
func Each(t *testing.T, fn func(t *testing.T, c cache.Cache)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) { fn(t, Memory(t)) })
	t.Run("redis", func(t *testing.T) { fn(t, Redis(t)) })
}

// noClose keeps code under test from closing the client the cleanup still needs.
type noClose struct{ cache.Cache }

func (noClose) Close() error { return nil }

func deleteByPrefix(t testing.TB, r *cache.Redis, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The prefix is hex, so it holds no glob characters that MATCH would interpret.
	iter := r.Client().Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("cachetest: scan %s*: %v", prefix, err)
		return
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := r.Client().Unlink(ctx, keys[:n]...).Err(); err != nil {
			t.Errorf("cachetest: delete %s*: %v", prefix, err)
			return
		}
		keys = keys[n:]
	}
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("cachetest: random: %v", err)
	}
	return hex.EncodeToString(b)
}
