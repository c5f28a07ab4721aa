package cards

import (
	"context"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// Rows older than the retention go, in as many batches as it takes; newer rows stay.
func TestPruneVerifications(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		f.svc.now = func() time.Time { return now }
		keep := f.svc.cfg.VerificationRetention
		if keep != 90*24*time.Hour {
			t.Fatalf("default retention %v, want 90 days", keep)
		}
		const old, recent = db.PruneBatch + 5, 3
		rows := make([]verificationRow, 0, old+recent)
		for i := 0; i < old; i++ {
			rows = append(rows, verificationRow{ProjectID: "p", Action: "verify", Code: "VALID",
				CreatedAt: now.Add(-keep - time.Duration(i+1)*time.Minute)})
		}
		for i := 0; i < recent; i++ {
			// The newest is exactly at the cutoff: not older than the retention.
			rows = append(rows, verificationRow{ProjectID: "p", Action: "query", Code: "VALID",
				CreatedAt: now.Add(-keep + time.Duration(i)*time.Hour)})
		}
		if err := f.gdb.CreateInBatches(rows, 200).Error; err != nil {
			t.Fatal(err)
		}

		n, err := f.svc.pruneVerifications(ctx)
		if err != nil || n != old {
			t.Fatalf("pruned %d, %v; want %d", n, err, old)
		}
		var left []verificationRow
		if err := f.gdb.Order("id").Find(&left).Error; err != nil {
			t.Fatal(err)
		}
		if len(left) != recent {
			t.Fatalf("%d rows left, want %d", len(left), recent)
		}
		for _, r := range left {
			if r.Action != "query" {
				t.Fatalf("an old row survived: %+v", r)
			}
		}
		if n, err := f.svc.pruneVerifications(ctx); err != nil || n != 0 {
			t.Fatalf("second run pruned %d, %v; want 0", n, err)
		}
	})
}

// The pruner runs at Start and stops with Close; Close alone, twice, or before Start is fine.
func TestPrunerStartClose(t *testing.T) {
	f := newFixture(t, dbtest.Open(t, testMigrations()...), false)
	if err := f.gdb.Create(&verificationRow{ProjectID: "p", Action: "verify", Code: "VALID",
		CreatedAt: time.Now().Add(-f.svc.cfg.VerificationRetention - time.Hour)}).Error; err != nil {
		t.Fatal(err)
	}
	f.svc.Start()
	checkRows := func() int64 {
		var n int64
		if err := f.gdb.Model(&verificationRow{}).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for checkRows() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the pruner did not run at Start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.svc.Close()
	f.svc.Close()

	var p pruner
	p.close()
	p.start(f.svc) // after close: starts nothing
	p.close()
}
