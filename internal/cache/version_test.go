package cache_test

import (
	"context"
	"testing"

	"github.com/onstagehq/onstage/internal/cache"
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
