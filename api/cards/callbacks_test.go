package cards

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/check"
)

// TestCallbackRetries: an activation is delivered signed; failures are retried with backoff
// (the clock moves, nobody sleeps), recorded in the delivery log, and a delivered
// notification can be sent again by hand.
func TestCallbackRetries(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		var (
			mu     sync.Mutex
			bodies []string
			fail   atomic.Int32
		)
		fail.Store(2)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies = append(bodies, string(b))
			mu.Unlock()
			if fail.Add(-1) >= 0 {
				w.WriteHeader(http.StatusBadGateway)
			}
		}))
		defer srv.Close()
		var offset atomic.Int64
		f.svc.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		f.svc.hooks.tick = 5 * time.Millisecond
		f.svc.Start()

		admin := f.user("", authz.RoleAdmin)
		agent := f.user("", authz.RoleAgent)
		p, err := f.svc.CreateProject(ctx, admin, ProjectInput{Name: "Hooked", UnitPrice: 0, CallbackURL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Grant(ctx, admin, GrantInput{ProjectID: p.ID, AgentID: agent.UserID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		b, err := f.svc.CreateBatch(ctx, agent, BatchInput{ProjectID: p.ID, Count: 1, ValidDays: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, keys, _ := f.svc.BatchKeys(ctx, agent, b.ID)
		if r, err := f.svc.Check(ctx, &p.Project, keys[0].Key, "dev", true, ""); err != nil || r.Code != CodeValid {
			t.Fatalf("verify: %+v %v", r, err)
		}
		delivery := func() Delivery {
			ds, _, err := f.svc.Deliveries(ctx, admin, p.ID, 1, 10)
			if err != nil || len(ds) != 1 {
				t.Fatalf("deliveries: %v %d", err, len(ds))
			}
			return ds[0]
		}
		check.For(t, 5*time.Second, "first attempt", func() bool { return delivery().Attempts == 1 })
		if d := delivery(); d.Status != DeliveryPending || d.LastStatus != 502 {
			t.Fatalf("after a failure: %+v", d)
		}
		offset.Add(int64(2 * time.Second)) // past backoff(0)
		check.For(t, 5*time.Second, "second attempt", func() bool { return delivery().Attempts == 2 })
		offset.Add(int64(3 * time.Second)) // past backoff(1)
		check.For(t, 5*time.Second, "delivery", func() bool { return delivery().Status == DeliveryDelivered })
		d := delivery()
		if d.Attempts != 3 || d.DeliveredAt == nil {
			t.Fatalf("delivered: %+v", d)
		}
		mu.Lock()
		if len(bodies) != 3 || !strings.Contains(bodies[0], keys[0].Key) || !strings.Contains(bodies[0], `"key.activated"`) {
			t.Fatalf("bodies %v", bodies)
		}
		mu.Unlock()
		// A second verify of the bound key is no new activation.
		if _, err := f.svc.Check(ctx, &p.Project, keys[0].Key, "dev", true, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Resend(ctx, admin, p.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		check.For(t, 5*time.Second, "resend", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(bodies) == 4
		})
		check.For(t, 5*time.Second, "resent delivered", func() bool { return delivery().Status == DeliveryDelivered })
		if _, err := f.svc.Resend(ctx, agent, p.ID, d.ID); err == nil {
			t.Fatal("an agent resent")
		}
	})
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{0: time.Second, 1: 2 * time.Second, 5: 32 * time.Second, 12: time.Hour, 40: time.Hour} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}
