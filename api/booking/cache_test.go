package booking

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// TestCatalogCacheAcrossNodes: two nodes share Redis and a database; a page one node cached is
// a hit on the other, and a rating change made on one is seen fresh on the other at once.
func TestCatalogCacheAcrossNodes(t *testing.T) {
	url := os.Getenv("ONSTAGE_TEST_REDIS_URL")
	if url == "" {
		t.Skip("ONSTAGE_TEST_REDIS_URL not set")
	}
	rc, err := cache.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	shared := cache.WithPrefix(rc, fmt.Sprintf("test:%d:", time.Now().UnixNano()))
	gdb := dbtest.Open(t, migrations()...)
	a := newEnv(t, gdb)
	a.svc.p.Cache, a.svc.versions = shared, cache.NewVersions(shared, "booking:ver:")
	b := NewService(Params{DB: gdb, Cache: shared, Now: a.clock.Now})
	ctx := context.Background()

	st := a.streamer(allDay())
	q := ListQuery{Page: 1, PageSize: 10, Game: "dota 2"}
	if _, hit, err := a.svc.Catalog(ctx, q); err != nil || hit {
		t.Fatalf("first read on a: hit=%v %v", hit, err)
	}
	if _, hit, _ := b.Catalog(ctx, q); !hit {
		t.Fatal("b missed the page a cached")
	}
	// A completed order's review on node a moves the rating; node b serves it fresh.
	buyer := a.user(authn.RolePlayer)
	o := a.mustOrder(buyer, st, a.at(2, 10), 60)
	a.db.Model(&Order{}).Where("id = ?", o.ID).Update("status", OrderCompleted)
	if _, err := a.svc.AddReview(ctx, buyer, ReviewInput{OrderID: o.ID, Rating: 3}); err != nil {
		t.Fatal(err)
	}
	page, hit, err := b.Catalog(ctx, q)
	if err != nil || hit || page.Items[0].Rating != 3 || page.Items[0].ReviewCount != 1 {
		t.Fatalf("b after the review: %+v hit=%v %v", page.Items, hit, err)
	}
}
