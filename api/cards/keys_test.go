package cards

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authz"
)

// TestBatchAllOrNothing: a batch the balance cannot pay inserts no key and charges nothing;
// the largest batch is inserted whole, keys unique and well-formed, and charged once.
func TestBatchAllOrNothing(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		admin := f.user("", authz.RoleAdmin)
		agent := f.user("", authz.RoleAgent)
		p, err := f.svc.CreateProject(ctx, admin, ProjectInput{Name: "Big", UnitPrice: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Grant(ctx, admin, GrantInput{ProjectID: p.ID, AgentID: agent.UserID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Recharge(ctx, admin, agent.UserID, MaxBatch*2*3-1); err != nil {
			t.Fatal(err)
		}
		in := BatchInput{ProjectID: p.ID, Count: MaxBatch, ValidDays: 3}
		if _, err := f.svc.CreateBatch(ctx, agent, in); !errors.Is(err, ErrInsufficientQuota) {
			t.Fatalf("short by one: %v", err)
		}
		var n int64
		f.gdb.Model(&Key{}).Count(&n)
		if n != 0 || f.balance(agent).Available != MaxBatch*2*3-1 {
			t.Fatalf("a refused batch left %d keys, balance %+v", n, f.balance(agent))
		}
		if _, err := f.svc.Recharge(ctx, admin, agent.UserID, 1); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		b, err := f.svc.CreateBatch(ctx, agent, in)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d keys in %v", MaxBatch, time.Since(start))
		if b.Cost != MaxBatch*2*3 || f.balance(agent).Available != 0 {
			t.Fatalf("batch %+v, balance %+v", b, f.balance(agent))
		}
		var distinct int64
		f.gdb.Model(&Key{}).Distinct("card_key").Count(&distinct)
		if distinct != MaxBatch {
			t.Fatalf("%d distinct keys", distinct)
		}
		if _, err := f.svc.CreateBatch(ctx, agent, BatchInput{ProjectID: p.ID, Count: MaxBatch + 1, ValidDays: 1}); !isValidation(err) {
			t.Fatalf("count over the limit: %v", err)
		}
		other := f.user("", authz.RoleAgent)
		if _, err := f.svc.CreateBatch(ctx, other, BatchInput{ProjectID: p.ID, Count: 1, ValidDays: 1}); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("without a grant: %v", err)
		}
		f.checkLedger()
	})
}

func TestCardKeyShape(t *testing.T) {
	re := regexp.MustCompile(`^[2-9A-HJ-NP-Z]{5}(-[2-9A-HJ-NP-Z]{5}){3}$`)
	seen := map[string]bool{}
	for range 10000 {
		k := newCardKey()
		if !re.MatchString(k) || seen[k] {
			t.Fatalf("key %q (seen %v)", k, seen[k])
		}
		seen[k] = true
	}
}

func BenchmarkNewCardKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = newCardKey()
	}
}
