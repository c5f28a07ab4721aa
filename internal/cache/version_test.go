package cache_test

import (
	"context"
	"testing"

	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
)

func TestVersions(t *testing.T) {
	ctx := context.Background()
	a := cache.NewVersions(cache.NewMemory(), "v:")
	if n, err := a.Get(ctx, "u1"); err != nil || n != 0 {
		t.Fatalf("fresh version = %d, %v", n, err)
	}
	for want := int64(1); want <= 3; want++ {
		if n, err := a.Bump(ctx, "u1"); err != nil || n != want {
			t.Fatalf("bump = %d, %v; want %d", n, err, want)
		}
	}
	if n, _ := a.Get(ctx, "u1"); n != 3 {
		t.Fatalf("version = %d, want 3", n)
	}
	if n, _ := a.Get(ctx, "u2"); n != 0 {
		t.Fatalf("other key = %d, want 0", n)
	}
}

func TestVersionsGetMany(t *testing.T) {
	cachetest.Each(t, func(t *testing.T, c cache.Cache) {
		ctx := context.Background()
		v := cache.NewVersions(c, "vm:")
		if _, err := v.Bump(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		v.Bump(ctx, "a")
		v.Bump(ctx, "c")
		got, err := v.GetMany(ctx, "a", "b", "c")
		if err != nil || len(got) != 3 || got[0] != 2 || got[1] != 0 || got[2] != 1 {
			t.Fatalf("GetMany = %v, %v; want [2 0 1]", got, err)
		}
		// The same through a prefixed view.
		p := cache.NewVersions(cache.WithPrefix(c, "vm:"), "")
		if got, err := p.GetMany(ctx, "a", "c"); err != nil || got[0] != 2 || got[1] != 1 {
			t.Fatalf("prefixed GetMany = %v, %v", got, err)
		}
	})
}
