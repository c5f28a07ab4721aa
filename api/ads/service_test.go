package ads

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// TestOwnershipMatrix checks who may toggle, read the stats and history of, and buy for an ad
// of an agency's sub-account: the owner and its agency may; another streamer, another agency
// and a player get not found (never forbidden); an ads:packages holder reads stats only.
func TestOwnershipMatrix(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		p := f.pkg(PlacementCatalogueTop, 3)
		agency := f.user("agency", authn.RoleAgency)
		subID := f.subAccountOf(agency, "sub")
		ad, err := f.svc.PurchaseFor(ctx, agency, subID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.pay(ad.ID); err != nil {
			t.Fatal(err)
		}
		owner := authn.Identity{UserID: subID, Role: authn.RoleStreamer, Name: "sub"}
		admin := f.admin()
		actors := []struct {
			name            string
			id              authn.Identity
			manage, stats   bool
			buyFor          bool
			buyForErrIsAuth bool
		}{
			{"owner", owner, true, true, false, true},
			{"its agency", agency, true, true, true, false},
			{"other streamer", f.user("stranger", authn.RoleStreamer), false, false, false, true},
			{"other agency", f.user("rival", authn.RoleAgency), false, false, false, false},
			{"player", f.user("player", authn.RolePlayer), false, false, false, true},
			{"ads admin", admin, false, true, false, true},
		}
		for _, a := range actors {
			t.Run(a.name, func(t *testing.T) {
				want := func(op string, ok bool, err error) {
					t.Helper()
					switch {
					case ok && err != nil:
						t.Fatalf("%s: %v", op, err)
					case !ok && !errors.Is(err, ErrNotFound):
						t.Fatalf("%s: %v, want not_found", op, err)
					}
				}
				_, err := f.svc.Toggle(ctx, a.id, ad.ID, true) // resume an active ad: no change
				want("toggle", a.manage, err)
				_, err = f.svc.History(ctx, a.id, ad.ID)
				want("history", a.manage, err)
				_, err = f.svc.Stats(ctx, a.id, ad.ID, "", "")
				want("stats", a.stats, err)
				_, err = f.svc.PurchaseFor(ctx, a.id, subID, p.ID)
				if a.buyForErrIsAuth {
					if !errors.Is(err, ErrNotAgency) {
						t.Fatalf("buy for: %v, want forbidden", err)
					}
				} else {
					want("buy for", a.buyFor, err)
				}
			})
		}
		if _, err := f.svc.Toggle(ctx, agency, "no-such-ad", false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown ad: %v", err)
		}
	})
}

// TestConcurrentToggles pauses and resumes one ad from many goroutines at once: every change
// that happened is recorded exactly once, in an unbroken chain of states, and the version
// counts them.
func TestConcurrentToggles(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ad, owner := f.liveAd(f.pkg(PlacementCatalogueTop, 5))
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.svc.Toggle(ctx, owner, ad.ID, i%2 == 0); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("toggle: %v", err)
		}
		hist, err := f.svc.History(ctx, owner, ad.ID)
		if err != nil {
			t.Fatal(err)
		}
		final, _ := f.svc.ad(ctx, f.gdb, ad.ID)
		if int64(len(hist)) != final.Version {
			t.Fatalf("%d events for version %d", len(hist), final.Version)
		}
		for i := 1; i < len(hist); i++ {
			if hist[i].From != hist[i-1].To {
				t.Fatalf("event %d goes from %s, but the ad was %s", i, hist[i].From, hist[i-1].To)
			}
		}
		if string(final.Status) != hist[len(hist)-1].To {
			t.Fatalf("status %s, last event %s", final.Status, hist[len(hist)-1].To)
		}
		if rem := final.Remaining(f.clock.Now()); rem != 5*24*time.Hour {
			t.Fatalf("remaining %v with a frozen clock", rem)
		}
	})
}

// TestPausedTimeIsNotCounted pauses an ad for three days: it ends three days later than paid
// for, and the expiry job ends it exactly then, once.
func TestPausedTimeIsNotCounted(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ad, owner := f.liveAd(f.pkg(PlacementSearch, 7))
		start := f.clock.Now()
		f.clock.Advance(24 * time.Hour)
		if _, err := f.svc.Toggle(ctx, owner, ad.ID, false); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(72 * time.Hour)
		got, err := f.svc.Toggle(ctx, owner, ad.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := start.Add(10 * 24 * time.Hour); !got.EndsAt.Equal(want) {
			t.Fatalf("ends %v, want %v", got.EndsAt, want)
		}
		f.clock.Advance(6*24*time.Hour - time.Second)
		if n, err := f.svc.Expire(ctx); err != nil || n != 0 {
			t.Fatalf("expired early: %d %v", n, err)
		}
		f.clock.Advance(time.Second)
		if n, err := f.svc.Expire(ctx); err != nil || n != 1 {
			t.Fatalf("expire: %d %v", n, err)
		}
		if n, _ := f.svc.Expire(ctx); n != 0 {
			t.Fatalf("expired twice")
		}
		if _, err := f.svc.Toggle(ctx, owner, ad.ID, true); !errors.Is(err, ErrNotToggleable) {
			t.Fatalf("toggle expired: %v", err)
		}
	})
}

// TestFulfilOnce: a second successful payment for a live ad is refused (so payments refunds
// it), and the ad is activated once.
func TestFulfilOnce(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		p := f.pkg(PlacementLobby, 1)
		s := f.user("s", authn.RoleStreamer)
		ad, err := f.svc.Purchase(ctx, s, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.quote(ctx, "someone-else", ad.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("quote for a stranger: %v", err)
		}
		var wg sync.WaitGroup
		results := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() { defer wg.Done(); results <- f.pay(ad.ID) }()
		}
		wg.Wait()
		close(results)
		ok := 0
		for err := range results {
			if err == nil {
				ok++
			} else if !errors.Is(err, ErrNotPayable) {
				t.Errorf("pay: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d payments fulfilled", ok)
		}
		if _, err := f.svc.quote(ctx, s.UserID, ad.ID); !errors.Is(err, ErrNotPayable) {
			t.Fatalf("quote a live ad: %v", err)
		}
	})
}

// TestPackages: validation, the public list hides inactive packages, edits need ads:packages.
func TestPackages(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		admin := f.admin()
		if _, err := f.svc.CreatePackage(ctx, f.user("s", authn.RoleStreamer), PackageInput{}); err == nil {
			t.Fatal("a streamer created a package")
		}
		for _, in := range []PackageInput{
			{Name: "", Placement: PlacementLobby, DurationDays: 1, Price: 1, Currency: "EUR"},
			{Name: "x", Placement: "banner", DurationDays: 1, Price: 1, Currency: "EUR"},
			{Name: "x", Placement: PlacementLobby, DurationDays: 0, Price: 1, Currency: "EUR"},
			{Name: "x", Placement: PlacementLobby, DurationDays: 1, Price: 0, Currency: "EUR"},
			{Name: "x", Placement: PlacementLobby, DurationDays: 1, Price: 1, Currency: "eur"},
		} {
			if _, err := f.svc.CreatePackage(ctx, admin, in); err == nil {
				t.Fatalf("accepted %+v", in)
			}
		}
		p := f.pkg(PlacementLobby, 1)
		off := false
		if _, err := f.svc.UpdatePackage(ctx, admin, p.ID, PackageInput{Name: "gone", Placement: PlacementLobby,
			DurationDays: 1, Price: 5, Currency: "EUR", Active: &off}); err != nil {
			t.Fatal(err)
		}
		list, _ := f.svc.Packages(ctx, false)
		if len(list) != 0 {
			t.Fatalf("inactive package listed: %+v", list)
		}
		if _, err := f.svc.Purchase(ctx, f.user("s", authn.RoleStreamer), p.ID); !errors.Is(err, ErrPackageInactive) {
			t.Fatalf("bought an inactive package: %v", err)
		}
		if _, err := f.svc.UpdatePackage(ctx, admin, "nope", PackageInput{Name: "x", Placement: PlacementLobby,
			DurationDays: 1, Price: 5, Currency: "EUR"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update unknown: %v", err)
		}
	})
}

// TestCancelUnpaid: an ad nobody paid for is canceled once ads.pending_ttl has passed since its
// purchase, not a second earlier, with an "unpaid" event; then it can be neither paid, nor
// toggled, nor expired, and it lists as canceled with no time left. Paid ads are left alone.
func TestCancelUnpaid(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if f.svc.pendingTTL != 24*time.Hour {
			t.Fatalf("default pending TTL %v, want 24h", f.svc.pendingTTL)
		}
		p := f.pkg(PlacementLobby, 2)
		s := f.user("s", authn.RoleStreamer)
		old, err := f.svc.Purchase(ctx, s, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		paid, _ := f.liveAd(p)
		f.clock.Advance(time.Hour)
		recent, err := f.svc.Purchase(ctx, s, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(23*time.Hour - time.Second)
		if n, err := f.svc.CancelUnpaid(ctx); err != nil || n != 0 {
			t.Fatalf("canceled early: %d %v", n, err)
		}
		f.clock.Advance(time.Second)
		if n, err := f.svc.CancelUnpaid(ctx); err != nil || n != 1 {
			t.Fatalf("cancel: %d %v", n, err)
		}
		if n, _ := f.svc.CancelUnpaid(ctx); n != 0 {
			t.Fatal("canceled twice")
		}
		status := func(id string) Status {
			t.Helper()
			a, err := f.svc.ad(ctx, f.gdb, id)
			if err != nil {
				t.Fatal(err)
			}
			return a.Status
		}
		if status(old.ID) != StatusCanceled || status(recent.ID) != StatusPending || status(paid.ID) != StatusActive {
			t.Fatalf("statuses %s %s %s", status(old.ID), status(recent.ID), status(paid.ID))
		}
		hist, err := f.svc.History(ctx, s, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if last := hist[len(hist)-1]; len(hist) != 2 || last.From != string(StatusPending) || last.To != string(StatusCanceled) ||
			last.Reason != "unpaid" || last.ActorID != "" {
			t.Fatalf("history %+v", hist)
		}
		if _, err := f.svc.quote(ctx, s.UserID, old.ID); !errors.Is(err, ErrAdCanceled) {
			t.Fatalf("quote a canceled ad: %v, want ErrAdCanceled", err)
		}
		if _, err := f.svc.Toggle(ctx, s, old.ID, true); !errors.Is(err, ErrNotToggleable) {
			t.Fatalf("toggle a canceled ad: %v", err)
		}
		f.clock.Advance(3 * 24 * time.Hour)
		if n, err := f.svc.Expire(ctx); err != nil || n != 1 {
			t.Fatalf("expire: %d %v", n, err) // the paid ad only
		}
		if n, err := f.svc.CancelUnpaid(ctx); err != nil || n != 1 {
			t.Fatalf("cancel the recent one: %d %v", n, err)
		}
		list, _, err := f.svc.Mine(ctx, s, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range list {
			if v.Status != StatusCanceled || v.RemainingSeconds != 0 || v.EndsAt != nil || v.ActivatedAt != nil {
				t.Fatalf("listed %+v", v)
			}
		}
		if len(list) != 2 {
			t.Fatalf("listed %d ads", len(list))
		}
	})
}

// TestPayAfterCancel: a payment that succeeds after its ad was canceled is refused with
// ErrNotPayable (so payments refunds it), and the ad stays canceled.
func TestPayAfterCancel(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		s := f.user("s", authn.RoleStreamer)
		ad, err := f.svc.Purchase(ctx, s, f.pkg(PlacementSearch, 1).ID)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(f.svc.pendingTTL)
		if n, err := f.svc.CancelUnpaid(ctx); err != nil || n != 1 {
			t.Fatalf("cancel: %d %v", n, err)
		}
		if err := f.pay(ad.ID); !errors.Is(err, ErrNotPayable) {
			t.Fatalf("pay a canceled ad: %v, want ErrNotPayable", err)
		}
		got, err := f.svc.ad(ctx, f.gdb, ad.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusCanceled || got.EndsAt != nil || got.PaymentID != "" || got.Version != 2 {
			t.Fatalf("ad after a late payment: %+v", got)
		}
	})
}

// TestPayRacesCancel pays ads at the moment the job cancels them: each ad ends either active
// (the payment won, the job skipped it) or canceled (the job won, the payment was refused),
// never both, with one event for the outcome.
func TestPayRacesCancel(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		p := f.pkg(PlacementLobby, 1)
		s := f.user("s", authn.RoleStreamer)
		const ads = 12
		ids := make([]string, ads)
		for i := range ids {
			a, err := f.svc.Purchase(ctx, s, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = a.ID
		}
		f.clock.Advance(f.svc.pendingTTL)
		paid := make([]bool, ads)
		canceled := 0
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := f.pay(id)
				switch {
				case err == nil:
					paid[i] = true
				case !errors.Is(err, ErrNotPayable):
					t.Errorf("pay: %v", err)
				}
			}()
		}
		var mu sync.Mutex
		for range 3 { // three nodes' jobs
			node := NewService(ServiceParams{DB: f.gdb, Accounts: f.users, Authz: f.az, Now: f.clock.Now})
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := node.CancelUnpaid(ctx)
				if err != nil {
					t.Errorf("cancel: %v", err)
				}
				mu.Lock()
				canceled += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		won := 0
		for i, id := range ids {
			a, err := f.svc.ad(ctx, f.gdb, id)
			if err != nil {
				t.Fatal(err)
			}
			hist, err := f.svc.History(ctx, s, id)
			if err != nil {
				t.Fatal(err)
			}
			want := StatusCanceled
			if paid[i] {
				want = StatusActive
				won++
			}
			if a.Status != want || a.Version != 2 || len(hist) != 2 || hist[1].To != string(want) {
				t.Fatalf("ad %d paid %v: status %s, version %d, history %+v", i, paid[i], a.Status, a.Version, hist)
			}
		}
		if won+canceled != ads {
			t.Fatalf("%d paid and %d canceled of %d", won, canceled, ads)
		}
	})
}

// TestBackgroundJob: the job Start runs cancels unpaid ads and compacts closed days, and
// Close stops it; Close again, or on a service never started, is fine.
func TestBackgroundJob(t *testing.T) {
	f := newFixture(t, dbtest.Open(t, migrations()...), cachetest.Memory(t))
	ctx := context.Background()
	ad, err := f.svc.Purchase(ctx, f.user("s", authn.RoleStreamer), f.pkg(PlacementLobby, 1).ID)
	if err != nil {
		t.Fatal(err)
	}
	old := f.clock.Now().AddDate(0, 0, -2).Format(time.DateOnly)
	if err := f.gdb.Create(&viewer{AdID: ad.ID, Day: old, Viewer: "v"}).Error; err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(f.svc.pendingTTL)
	svc := NewService(ServiceParams{DB: f.gdb, Accounts: f.users, Authz: f.az, Now: f.clock.Now, ExpireInterval: 10 * time.Millisecond})
	svc.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := svc.ad(ctx, f.gdb, ad.ID)
		if err != nil {
			t.Fatal(err)
		}
		var left int64
		if err := f.gdb.Model(&viewer{}).Count(&left).Error; err != nil {
			t.Fatal(err)
		}
		if a.Status == StatusCanceled && left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: status %s, %d viewer rows", a.Status, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	svc.Close()
	svc.Close()
	NewService(ServiceParams{DB: f.gdb}).Close()
}
