package payments

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// inboxRows inserts n events received at at, their ids prefixed by prefix.
func inboxRows(t *testing.T, gdb *gorm.DB, prefix string, n int, at time.Time) {
	t.Helper()
	rows := make([]inboxEvent, n)
	for i := range rows {
		rows[i] = inboxEvent{Provider: SandboxName, EventID: fmt.Sprintf("%s%d", prefix, i), PaymentID: "p",
			Type: "payment.succeeded", Status: StatusSucceeded, Applied: true, ReceivedAt: at, Payload: []byte("{}")}
	}
	if err := gdb.CreateInBatches(rows, 200).Error; err != nil {
		t.Fatal(err)
	}
}

// Events received longer ago than the retention go, in as many batches as it takes; the
// event exactly at the cutoff and newer ones stay, and a redelivery of a kept event is still
// a duplicate.
func TestPruneEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		e := newEnv(t, gdb, "")
		if e.svc.eventRetention != DefaultEventRetention {
			t.Fatalf("retention %v, want the default %v", e.svc.eventRetention, DefaultEventRetention)
		}
		cutoff := e.clk.Now().Add(-DefaultEventRetention)
		const old = db.PruneBatch + 3
		inboxRows(t, gdb, "old", old, cutoff.Add(-time.Minute))
		inboxRows(t, gdb, "edge", 1, cutoff)
		e.widget("w1", "buyer", 500)
		p := e.pay("buyer", "w1")
		body, h := sandboxWebhook(t, p, "evt_new", StatusSucceeded, time.Now())
		if res, err := e.svc.HandleWebhook(context.Background(), SandboxName, body, h); err != nil || res != ResultApplied {
			t.Fatalf("webhook %v, %v", res, err)
		}

		n, err := e.svc.PruneEvents(context.Background())
		if err != nil || n != old {
			t.Fatalf("pruned %d, %v; want %d", n, err, old)
		}
		var left []string
		if err := gdb.Model(&inboxEvent{}).Order("event_id").Pluck("event_id", &left).Error; err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(left) != "[edge0 evt_new]" {
			t.Fatalf("left %v", left)
		}
		if res, err := e.svc.HandleWebhook(context.Background(), SandboxName, body, h); err != nil || res != ResultDuplicate {
			t.Fatalf("redelivery after pruning: %v, %v; want a duplicate", res, err)
		}
		if n, err := e.svc.PruneEvents(context.Background()); err != nil || n != 0 {
			t.Fatalf("second run pruned %d, %v", n, err)
		}
	}, migs()...)
}

// The reconciler's loop prunes the inbox; Close stops it.
func TestReconcilerPrunesInbox(t *testing.T) {
	gdb := dbtest.Open(t, migs()...)
	e := newEnv(t, gdb, "")
	svc, err := NewService(ServiceParams{Store: NewStore(gdb), Providers: []Provider{e.sbx}, Default: SandboxName,
		Interval: 10 * time.Millisecond, EventRetention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	inboxRows(t, gdb, "stale", 3, time.Now().Add(-25*time.Hour))
	inboxRows(t, gdb, "fresh", 2, time.Now().Add(-23*time.Hour))
	svc.Start()
	defer svc.Close()
	count := func() int64 {
		var n int64
		if err := gdb.Model(&inboxEvent{}).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for count() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d inbox rows after 10 s, want the 2 fresh ones", count())
		}
		time.Sleep(10 * time.Millisecond)
	}
	svc.Close()
	svc.Close()
}
