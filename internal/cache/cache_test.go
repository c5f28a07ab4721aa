package cache_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustSet(t *testing.T, c cache.Cache, key, val string, ttl time.Duration) {
	t.Helper()
	if err := c.Set(ctxT(t), key, []byte(val), ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func wantValue(t *testing.T, c cache.Cache, key, want string) {
	t.Helper()
	got, err := c.Get(ctxT(t), key)
	if err != nil || string(got) != want {
		t.Fatalf("Get(%q) = %q, %v; want %q", key, got, err, want)
	}
}

func wantMiss(t *testing.T, c cache.Cache, key string) {
	t.Helper()
	if got, err := c.Get(ctxT(t), key); !errors.Is(err, cache.ErrMiss) {
		t.Fatalf("Get(%q) = %q, %v; want ErrMiss", key, got, err)
	}
}

// race runs fn from n goroutines released at the same moment.
func race(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func TestOpen(t *testing.T) {
	tests := []struct {
		url     string
		wantErr error
		check   func(cache.Cache) bool
	}{
		{url: "", check: func(c cache.Cache) bool { _, ok := c.(*cache.Memory); return ok }},
		{url: "memory://", check: func(c cache.Cache) bool { _, ok := c.(*cache.Memory); return ok }},
		{url: "redis://127.0.0.1:1/0", check: func(c cache.Cache) bool { _, ok := c.(*cache.Redis); return ok }},
		{url: "rediss://:hunter2@127.0.0.1:1/0", check: func(c cache.Cache) bool { _, ok := c.(*cache.Redis); return ok }},
		{url: "memcached://u:hunter2@localhost", wantErr: cache.ErrUnsupportedURL},
		{url: "localhost:6379", wantErr: cache.ErrUnsupportedURL},
		{url: "redis://:hunter2@localhost:port/0", wantErr: cache.ErrUnsupportedURL},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := cache.Open(tt.url)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error leaks the password: %v", err)
				}
				return
			}
			defer c.Close()
			if !tt.check(c) {
				t.Errorf("Open(%q) returned %T", tt.url, c)
			}
		})
	}
}

// TestContract is the behaviour every Cache must share; it runs against the in-process
// cache and Redis alike.
func TestContract(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, c cache.Cache)
	}{
		{"get set overwrite", func(t *testing.T, c cache.Cache) {
			wantMiss(t, c, "k")
			mustSet(t, c, "k", "v1", 0)
			wantValue(t, c, "k", "v1")
			mustSet(t, c, "k", "v2", time.Minute)
			wantValue(t, c, "k", "v2")
			mustSet(t, c, "empty", "", 0)
			wantValue(t, c, "empty", "")
		}},
		{"stored value is a copy", func(t *testing.T, c cache.Cache) {
			val := []byte("abc")
			if err := c.Set(ctxT(t), "k", val, 0); err != nil {
				t.Fatal(err)
			}
			val[0] = 'X'
			got, _ := c.Get(ctxT(t), "k")
			got[1] = 'Y'
			wantValue(t, c, "k", "abc")
		}},
		{"expiry", func(t *testing.T, c cache.Cache) {
			mustSet(t, c, "k", "v", 100*time.Millisecond)
			wantValue(t, c, "k", "v")
			time.Sleep(200 * time.Millisecond)
			wantMiss(t, c, "k")
			if _, err := c.TTL(ctxT(t), "k"); !errors.Is(err, cache.ErrMiss) {
				t.Errorf("TTL of expired key: %v, want ErrMiss", err)
			}
		}},
		{"ttl and expire", func(t *testing.T, c cache.Cache) {
			ctx := ctxT(t)
			if _, err := c.TTL(ctx, "absent"); !errors.Is(err, cache.ErrMiss) {
				t.Errorf("TTL(absent) err = %v, want ErrMiss", err)
			}
			if err := c.Expire(ctx, "absent", time.Minute); !errors.Is(err, cache.ErrMiss) {
				t.Errorf("Expire(absent) err = %v, want ErrMiss", err)
			}
			mustSet(t, c, "k", "v", 0)
			if d, err := c.TTL(ctx, "k"); err != nil || d != 0 {
				t.Errorf("TTL(no expiry) = %v, %v; want 0", d, err)
			}
			if err := c.Expire(ctx, "k", 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if d, err := c.TTL(ctx, "k"); err != nil || d <= 9*time.Second || d > 10*time.Second {
				t.Errorf("TTL after Expire(10s) = %v, %v", d, err)
			}
			if err := c.Expire(ctx, "k", 0); err != nil {
				t.Fatal(err)
			}
			if d, err := c.TTL(ctx, "k"); err != nil || d != 0 {
				t.Errorf("TTL after Expire(0) = %v, %v; want 0", d, err)
			}
			if err := c.Expire(ctx, "k", 0); err != nil {
				t.Errorf("Expire(0) on a key without TTL: %v", err)
			}
		}},
		{"negative ttl", func(t *testing.T, c cache.Cache) {
			ctx := ctxT(t)
			if err := c.Set(ctx, "k", []byte("v"), -time.Second); !errors.Is(err, cache.ErrInvalidTTL) {
				t.Errorf("Set err = %v", err)
			}
			if _, err := c.SetNX(ctx, "k", []byte("v"), -time.Second); !errors.Is(err, cache.ErrInvalidTTL) {
				t.Errorf("SetNX err = %v", err)
			}
			if _, err := c.Incr(ctx, "k", -time.Second); !errors.Is(err, cache.ErrInvalidTTL) {
				t.Errorf("Incr err = %v", err)
			}
			wantMiss(t, c, "k")
		}},
		{"del", func(t *testing.T, c cache.Cache) {
			mustSet(t, c, "a", "1", 0)
			mustSet(t, c, "b", "2", 0)
			mustSet(t, c, "c", "3", 0)
			if err := c.Del(ctxT(t), "a", "b", "absent"); err != nil {
				t.Fatal(err)
			}
			if err := c.Del(ctxT(t)); err != nil {
				t.Fatalf("Del with no keys: %v", err)
			}
			wantMiss(t, c, "a")
			wantMiss(t, c, "b")
			wantValue(t, c, "c", "3")
		}},
		{"setnx", func(t *testing.T, c cache.Cache) {
			ctx := ctxT(t)
			ok, err := c.SetNX(ctx, "k", []byte("first"), 100*time.Millisecond)
			if err != nil || !ok {
				t.Fatalf("first SetNX = %v, %v", ok, err)
			}
			ok, err = c.SetNX(ctx, "k", []byte("second"), 0)
			if err != nil || ok {
				t.Fatalf("second SetNX = %v, %v; want false", ok, err)
			}
			wantValue(t, c, "k", "first")
			time.Sleep(200 * time.Millisecond)
			ok, err = c.SetNX(ctx, "k", []byte("third"), 0)
			if err != nil || !ok {
				t.Fatalf("SetNX after expiry = %v, %v", ok, err)
			}
			wantValue(t, c, "k", "third")
		}},
		{"setnx race has one winner", func(t *testing.T, c cache.Cache) {
			ctx := ctxT(t)
			for round := range 20 {
				key := "lock" + string(rune('a'+round))
				var winners atomic.Int32
				race(16, func(int) {
					ok, err := c.SetNX(ctx, key, []byte("x"), time.Minute)
					if err != nil {
						t.Error(err)
					}
					if ok {
						winners.Add(1)
					}
				})
				if n := winners.Load(); n != 1 {
					t.Fatalf("round %d: %d winners, want 1", round, n)
				}
			}
		}},
		{"getdel", func(t *testing.T, c cache.Cache) {
			ctx := ctxT(t)
			if _, err := c.GetDel(ctx, "k"); !errors.Is(err, cache.ErrMiss) {
				t.Errorf("GetDel(absent) err = %v, want ErrMiss", err)
			}
			mustSet(t, c, "k", "v", time.Minute)
			got, err := c.GetDel(ctx, "k")
			if err != nil || string(got) != "v" {
				t.Fatalf("GetDel = %q, %v", got, err)
			}
			wantMiss(t, c, "k")
		}},
		{"getdel race has one taker", func(t *testing.T, c cache.Cache) {
			ctx := ctxT(t)
			for round := range 20 {
				key := "code" + string(rune('a'+round))
				mustSet(t, c, key, "secret", time.Minute)
				var takers atomic.Int32
				race(16, func(int) {
					got, err := c.GetDel(ctx, key)
					switch {
					case err == nil:
						if !bytes.Equal(got, []byte("secret")) {
							t.Errorf("GetDel = %q", got)
						}
						takers.Add(1)
					case !errors.Is(err, cache.ErrMiss):
						t.Error(err)
					}
				})
				if n := takers.Load(); n != 1 {
					t.Fatalf("round %d: %d takers, want 1", round, n)
				}
			}
		}},
		{"incr sets ttl only on create", func(t *testing.T, c cache.Cache) {
			ctx := ctxT(t)
			const window = 400 * time.Millisecond
			if n, err := c.Incr(ctx, "n", window); err != nil || n != 1 {
				t.Fatalf("first Incr = %d, %v", n, err)
			}
			time.Sleep(window / 2)
			if n, err := c.Incr(ctx, "n", window); err != nil || n != 2 {
				t.Fatalf("second Incr = %d, %v", n, err)
			}
			// The second Incr must not have restarted the window.
			if d, err := c.TTL(ctx, "n"); err != nil || d <= 0 || d > window/2+50*time.Millisecond {
				t.Errorf("TTL after second Incr = %v, %v; want at most about %v", d, err, window/2)
			}
			wantValue(t, c, "n", "2")
			time.Sleep(window/2 + 100*time.Millisecond)
			if n, err := c.Incr(ctx, "n", window); err != nil || n != 1 {
				t.Fatalf("Incr in a new window = %d, %v; want 1", n, err)
			}
		}},
		{"incr existing and no ttl", func(t *testing.T, c cache.Cache) {
			ctx := ctxT(t)
			mustSet(t, c, "n", "41", 0)
			if n, err := c.Incr(ctx, "n", time.Minute); err != nil || n != 42 {
				t.Fatalf("Incr = %d, %v; want 42", n, err)
			}
			if d, err := c.TTL(ctx, "n"); err != nil || d != 0 {
				t.Errorf("Incr gave an existing key a TTL: %v, %v", d, err)
			}
			if _, err := c.Incr(ctx, "forever", 0); err != nil {
				t.Fatal(err)
			}
			if d, err := c.TTL(ctx, "forever"); err != nil || d != 0 {
				t.Errorf("TTL(Incr with ttl 0) = %v, %v; want 0", d, err)
			}
			mustSet(t, c, "word", "abc", 0)
			if _, err := c.Incr(ctx, "word", 0); !errors.Is(err, cache.ErrNotInteger) {
				t.Errorf("Incr(non-integer) err = %v, want ErrNotInteger", err)
			}
		}},
		{"incr is atomic", func(t *testing.T, c cache.Cache) {
			ctx := ctxT(t)
			const workers, each = 16, 25
			seen := make([]atomic.Bool, workers*each+1)
			race(workers, func(int) {
				for range each {
					n, err := c.Incr(ctx, "n", time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if n < 1 || n > workers*each || seen[n].Swap(true) {
						t.Errorf("Incr returned %d twice or out of range", n)
					}
				}
			})
			wantValue(t, c, "n", "400")
		}},
		{"ping", func(t *testing.T, c cache.Cache) {
			if err := c.Ping(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cachetest.Each(t, tt.run)
		})
	}
}

func TestWithPrefixIsolates(t *testing.T) {
	cachetest.Each(t, func(t *testing.T, c cache.Cache) {
		ctx := ctxT(t)
		a, b := cache.WithPrefix(c, "a:"), cache.WithPrefix(c, "b:")
		mustSet(t, a, "k", "from a", 0)
		wantMiss(t, b, "k")
		wantValue(t, c, "a:k", "from a")
		mustSet(t, b, "k", "from b", 0)
		if err := a.Del(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		wantMiss(t, a, "k")
		wantValue(t, b, "k", "from b")
	})
}

func TestLimiter(t *testing.T) {
	cachetest.Each(t, func(t *testing.T, c cache.Cache) {
		ctx := ctxT(t)
		const window = 300 * time.Millisecond
		l := cache.NewLimiter(c, "login:", 3, window)
		for i := range 3 {
			if ok, _, err := l.Allow(ctx, "alice"); err != nil || !ok {
				t.Fatalf("attempt %d: ok=%v err=%v", i+1, ok, err)
			}
		}
		ok, retry, err := l.Allow(ctx, "alice")
		if err != nil || ok {
			t.Fatalf("4th attempt: ok=%v err=%v; want denied", ok, err)
		}
		if retry <= 0 || retry > window {
			t.Errorf("retryAfter = %v, want in (0, %v]", retry, window)
		}
		if ok, _, err := l.Allow(ctx, "bob"); err != nil || !ok {
			t.Errorf("another key was limited: ok=%v err=%v", ok, err)
		}
		if _, err := c.Get(ctx, "login:alice"); err != nil {
			t.Errorf("counter not stored under the prefix: %v", err)
		}
		time.Sleep(retry + 50*time.Millisecond)
		if ok, _, err := l.Allow(ctx, "alice"); err != nil || !ok {
			t.Errorf("after the window: ok=%v err=%v; want allowed", ok, err)
		}
	})
}

func TestLimiterHealsCounterWithoutTTL(t *testing.T) {
	cachetest.Each(t, func(t *testing.T, c cache.Cache) {
		ctx := ctxT(t)
		mustSet(t, c, "rl:k", "10", 0)
		l := cache.NewLimiter(c, "rl:", 1, time.Minute)
		ok, retry, err := l.Allow(ctx, "k")
		if err != nil || ok || retry != time.Minute {
			t.Fatalf("Allow = %v, %v, %v; want denied for a minute", ok, retry, err)
		}
		if d, err := c.TTL(ctx, "rl:k"); err != nil || d <= 0 {
			t.Errorf("counter still has no TTL: %v, %v", d, err)
		}
	})
}

func TestNewLimiterRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		window time.Duration
	}{
		{"zero limit", 0, time.Second},
		{"zero window", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			cache.NewLimiter(cache.NewMemory(), "", tt.limit, tt.window)
		})
	}
}
