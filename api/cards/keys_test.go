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

// TestGrants: an agent admin grants only to its own agents (others are 404); granting again
// moves the expiry, and an expired grant stops generation by itself.
func TestGrants(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		now := time.Now().Truncate(time.Second)
		f.svc.now = func() time.Time { return now }
		admin := f.user("", authz.RoleAdmin)
		boss := f.user("", authz.RoleAgentAdmin)
		mine := f.user(boss.UserID, authz.RoleAgent)
		stranger := f.user("", authz.RoleAgent)
		p, err := f.svc.CreateProject(ctx, admin, ProjectInput{Name: "G"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Grant(ctx, boss, GrantInput{ProjectID: p.ID, AgentID: stranger.UserID, ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, authz.ErrNotFound) {
			t.Fatalf("grant to another's agent: %v", err)
		}
		for _, d := range []time.Duration{time.Hour, 2 * time.Hour, 2 * time.Hour} {
			g, err := f.svc.Grant(ctx, boss, GrantInput{ProjectID: p.ID, AgentID: mine.UserID, ExpiresAt: now.Add(d)})
			if err != nil || !g.ExpiresAt.Equal(now.Add(d)) {
				t.Fatalf("grant for %v: %+v %v", d, g, err)
			}
		}
		var n int64
		f.gdb.Model(&Grant{}).Count(&n)
		if n != 1 {
			t.Fatalf("%d grant rows", n)
		}
		if _, err := f.svc.CreateBatch(ctx, mine, BatchInput{ProjectID: p.ID, Count: 1, ValidDays: 1}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(3 * time.Hour)
		if _, err := f.svc.CreateBatch(ctx, mine, BatchInput{ProjectID: p.ID, Count: 1, ValidDays: 1}); !errors.Is(err, ErrNoGrant) {
			t.Fatalf("after the grant expired: %v", err)
		}
		if ps, err := f.svc.Projects(ctx, mine); err != nil || len(ps) != 0 {
			t.Fatalf("projects of an agent whose grant expired: %v %v", ps, err)
		}
		if ps, err := f.svc.Projects(ctx, boss); err != nil || len(ps) != 1 {
			t.Fatalf("an agent admin sees the projects it may grant: %v %v", ps, err)
		}
		// An application approved by the agent's superior grants again.
		a, err := f.svc.Apply(ctx, mine, ApplicationInput{ProjectID: p.ID, Reason: "more sales"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Decide(ctx, f.user("", authz.RoleAgentAdmin), a.ID, DecisionInput{Approve: true, ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, authz.ErrNotFound) {
			t.Fatalf("another agent admin decided: %v", err)
		}
		if _, err := f.svc.Decide(ctx, boss, a.ID, DecisionInput{Approve: true, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Decide(ctx, boss, a.ID, DecisionInput{Approve: false}); !errors.Is(err, ErrNotPending) {
			t.Fatalf("second decision: %v", err)
		}
		if _, err := f.svc.CreateBatch(ctx, mine, BatchInput{ProjectID: p.ID, Count: 1, ValidDays: 1}); err != nil {
			t.Fatalf("after approval: %v", err)
		}
	})
}
