package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// sandboxWebhook builds a signed sandbox webhook about p, as the sandbox sends it.
func sandboxWebhook(t testing.TB, p *Payment, eventID string, st Status, at time.Time) ([]byte, http.Header) {
	t.Helper()
	var ev sandboxEvent
	ev.ID, ev.Type, ev.Created = eventID, "payment."+string(st), at.Unix()
	ev.Data.Ref, ev.Data.PaymentID, ev.Data.Status, ev.Data.Amount, ev.Data.Currency = *p.ProviderRef, p.ID, st, p.Amount, p.Currency
	body, _ := json.Marshal(ev)
	h := http.Header{}
	h.Set(SandboxSignatureHeader, Sign(body, at, testSecret))
	return body, h
}

func TestReplayedWebhookChangesStateOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		e := newEnv(t, gdb, "")
		e.widget("w1", "buyer", 1999)
		p := e.pay("buyer", "w1")
		body, h := sandboxWebhook(t, p, "evt_once", StatusSucceeded, time.Now())

		// 1000 deliveries of one event, from 8 goroutines at once.
		const replays, workers = 1000, 8
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			counts = map[Result]int{}
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < replays; i += workers {
					res, err := e.svc.HandleWebhook(context.Background(), SandboxName, body, h)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					counts[res]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if counts[ResultApplied] != 1 || counts[ResultDuplicate] != replays-1 {
			t.Fatalf("results %v", counts)
		}
		if got := e.w.fulfilled.Load(); got != 1 {
			t.Fatalf("fulfilled %d times", got)
		}
		if got := e.reload(p.ID); got.Status != StatusSucceeded || got.SettledAt == nil {
			t.Fatalf("payment %+v", got)
		}
		var n int64
		gdb.Model(&inboxEvent{}).Where("event_id = ?", "evt_once").Count(&n)
		if n != 1 {
			t.Fatalf("%d inbox rows", n)
		}
		if !e.widgetRow("w1").Sold {
			t.Fatal("widget not sold")
		}
	}, migs()...)
}

func TestShuffledEventsEndInTheSameState(t *testing.T) {
	sets := []struct {
		events []Status
		want   Status
	}{
		{[]Status{StatusProcessing, StatusSucceeded}, StatusSucceeded},
		{[]Status{StatusProcessing, StatusFailed}, StatusFailed},
		{[]Status{StatusProcessing, StatusFailed, StatusSucceeded}, StatusSucceeded},
		{[]Status{StatusFailed, StatusCanceled}, StatusCanceled},
		{[]Status{StatusProcessing, StatusSucceeded, StatusRefunded}, StatusRefunded},
		{[]Status{StatusPending, StatusProcessing}, StatusProcessing},
	}
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		e := newEnv(t, gdb, "")
		rnd := rand.New(rand.NewPCG(1, 2))
		n := 0
		for _, set := range sets {
			for round := range 6 {
				n++
				id := fmt.Sprintf("w%d", n)
				e.widget(id, "buyer", 500)
				p := e.pay("buyer", id)
				order := append([]Status(nil), set.events...)
				rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				for i, st := range order {
					body, h := sandboxWebhook(t, p, fmt.Sprintf("evt_%d_%d", n, i), st, time.Now())
					// Each event twice, to mix duplicates into the shuffle.
					for range 2 {
						if _, err := e.svc.HandleWebhook(context.Background(), SandboxName, body, h); err != nil {
							t.Fatal(err)
						}
					}
				}
				if got := e.reload(p.ID).Status; got != set.want {
					t.Fatalf("events %v (round %d) ended in %s, want %s", order, round, got, set.want)
				}
			}
		}
	}, migs()...)
}

func TestOldProcessingAfterSuccessChangesNothing(t *testing.T) {
	gdb := dbtest.Open(t, migs()...)
	e := newEnv(t, gdb, "")
	e.widget("w1", "buyer", 100)
	p := e.pay("buyer", "w1")
	body, h := sandboxWebhook(t, p, "evt_s", StatusSucceeded, time.Now())
	if res, err := e.svc.HandleWebhook(context.Background(), SandboxName, body, h); err != nil || res != ResultApplied {
		t.Fatal(res, err)
	}
	body, h = sandboxWebhook(t, p, "evt_p", StatusProcessing, time.Now())
	if res, err := e.svc.HandleWebhook(context.Background(), SandboxName, body, h); err != nil || res != ResultUnchanged {
		t.Fatal(res, err)
	}
	if got := e.reload(p.ID).Status; got != StatusSucceeded {
		t.Fatalf("status %s", got)
	}
}

func TestDeclineReleasesTheHold(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		e := newEnv(t, gdb, "")
		e.widget("w1", "buyer", 100)
		p := e.pay("buyer", "w1")
		body, h := sandboxWebhook(t, p, "evt_f", StatusFailed, time.Now())
		if res, err := e.svc.HandleWebhook(context.Background(), SandboxName, body, h); err != nil || res != ResultApplied {
			t.Fatal(res, err)
		}
		if e.widgetRow("w1").Held || e.w.released.Load() != 1 {
			t.Fatal("the hold was not released")
		}
		// The subject may be paid for again.
		p2 := e.pay("buyer", "w1")
		if p2.ID == p.ID {
			t.Fatal("the failed payment was reused")
		}
	}, migs()...)
}

func TestRefusedFulfilmentIsRefunded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		e := newEnv(t, gdb, "")
		e.widget("w1", "buyer", 700)
		p := e.pay("buyer", "w1")
		// The hold expired and the widget went to someone else before the success arrived.
		gdb.Model(&widget{}).Where("id = ?", "w1").Update("gone", true)
		if _, err := e.sbx.Act(context.Background(), *p.ProviderRef, ActionNever); err != nil {
			t.Fatal(err)
		}
		body, h := sandboxWebhook(t, p, "evt_late", StatusSucceeded, time.Now())
		res, err := e.svc.HandleWebhook(context.Background(), SandboxName, body, h)
		if err != nil || res != ResultRefunded {
			t.Fatal(res, err)
		}
		got := e.reload(p.ID)
		if got.Status != StatusRefunded || got.RefundReason == "" || got.ActiveKey != nil {
			t.Fatalf("payment %+v", got)
		}
		if st, _ := e.sbx.Fetch(context.Background(), *p.ProviderRef); st != StatusRefunded {
			t.Fatalf("sandbox intent %s", st)
		}
		if e.widgetRow("w1").Sold || e.w.fulfilled.Load() != 0 {
			t.Fatal("fulfilled anyway")
		}
		// A replay of the late success changes nothing more.
		if res, _ := e.svc.HandleWebhook(context.Background(), SandboxName, body, h); res != ResultDuplicate {
			t.Fatalf("replay: %s", res)
		}
	}, migs()...)
}

// failingRefunds is the sandbox with a refund that fails until told otherwise.
type failingRefunds struct {
	*Sandbox
	fail bool
}

func (f *failingRefunds) Refund(ctx context.Context, ref string) error {
	if f.fail {
		return errors.New("provider down")
	}
	return f.Sandbox.Refund(ctx, ref)
}

func TestOwedRefundIsRetriedByTheReconciler(t *testing.T) {
	gdb := dbtest.Open(t, migs()...)
	e := newEnv(t, gdb, "")
	fr := &failingRefunds{Sandbox: e.sbx, fail: true}
	e.svc.providers[SandboxName] = fr
	e.widget("w1", "buyer", 700)
	p := e.pay("buyer", "w1")
	gdb.Model(&widget{}).Where("id = ?", "w1").Update("gone", true)
	_, _ = e.sbx.Act(context.Background(), *p.ProviderRef, ActionNever)
	body, h := sandboxWebhook(t, p, "evt_late", StatusSucceeded, time.Now())
	if _, err := e.svc.HandleWebhook(context.Background(), SandboxName, body, h); err != nil {
		t.Fatal(err)
	}
	if got := e.reload(p.ID); got.Status != StatusSucceeded || got.RefundReason == "" {
		t.Fatalf("payment %+v", got)
	}
	fr.fail = false
	if n, err := e.svc.Reconcile(context.Background()); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	if got := e.reload(p.ID); got.Status != StatusRefunded {
		t.Fatalf("payment %+v", got)
	}
}

func TestReconcilerAsksTheProvider(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		e := newEnv(t, gdb, "")
		ctx := context.Background()
		e.widget("paid", "buyer", 100)
		e.widget("left", "buyer", 100)
		paid := e.pay("buyer", "paid")
		left := e.pay("buyer", "left")
		// Paid, but the webhook never comes.
		if _, err := e.sbx.Act(ctx, *paid.ProviderRef, ActionNever); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.svc.Reconcile(ctx); n != 0 {
			t.Fatal("reconciled before the delay")
		}
		e.clk.Advance(11 * time.Minute)
		if n, err := e.svc.Reconcile(ctx); err != nil || n != 1 {
			t.Fatal(n, err)
		}
		if e.reload(paid.ID).Status != StatusSucceeded || !e.widgetRow("paid").Sold {
			t.Fatal("the lost success was not reconciled")
		}
		if e.reload(left.ID).Status != StatusPending {
			t.Fatal("an unpaid intent moved before its TTL")
		}
		// Nobody pays the other one: after the intent TTL it is canceled and its hold released.
		e.clk.Advance(time.Hour)
		if n, err := e.svc.Reconcile(ctx); err != nil || n != 1 {
			t.Fatal(n, err)
		}
		if e.reload(left.ID).Status != StatusCanceled || e.widgetRow("left").Held {
			t.Fatal("the abandoned intent was not canceled")
		}
		if st, _ := e.sbx.Fetch(ctx, *left.ProviderRef); st != StatusCanceled {
			t.Fatalf("sandbox intent %s", st)
		}
		// A late webhook for the reconciled success is recognized and changes nothing.
		body, h := sandboxWebhook(t, paid, "evt_late", StatusSucceeded, time.Now())
		if res, _ := e.svc.HandleWebhook(ctx, SandboxName, body, h); res != ResultUnchanged {
			t.Fatalf("late webhook: %s", res)
		}
		if e.w.fulfilled.Load() != 1 {
			t.Fatal("fulfilled twice")
		}
	}, migs()...)
}

func TestConcurrentCreateMakesOnePayment(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		e := newEnv(t, gdb, "")
		e.widget("w1", "buyer", 100)
		const n = 8
		ids := make([]string, n)
		var created sync.Map
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, c, err := e.svc.Create(context.Background(), "buyer", "widget", "w1")
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = p.ID
				if c {
					created.Store(p.ID, true)
				}
			}()
		}
		wg.Wait()
		count := 0
		created.Range(func(any, any) bool { count++; return true })
		if count != 1 {
			t.Fatalf("%d payments created", count)
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("different payments returned: %v", ids)
			}
		}
		// Paid: no second payment.
		p := e.reload(ids[0])
		body, h := sandboxWebhook(t, p, "evt", StatusSucceeded, time.Now())
		if _, err := e.svc.HandleWebhook(context.Background(), SandboxName, body, h); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.Create(context.Background(), "buyer", "widget", "w1"); !errors.Is(err, ErrAlreadyPaid) {
			t.Fatalf("paid twice: %v", err)
		}
	}, migs()...)
}

func TestWebhookErrors(t *testing.T) {
	gdb := dbtest.Open(t, migs()...)
	e := newEnv(t, gdb, "")
	e.widget("w1", "buyer", 100)
	p := e.pay("buyer", "w1")
	ctx := context.Background()
	body, h := sandboxWebhook(t, p, "evt", StatusSucceeded, time.Now().Add(-6*time.Minute))
	if _, err := e.svc.HandleWebhook(ctx, SandboxName, body, h); !errors.Is(err, ErrSignatureExpired) {
		t.Fatalf("old: %v", err)
	}
	body, h = sandboxWebhook(t, p, "evt", StatusSucceeded, time.Now())
	body[len(body)-2] = ' '
	if _, err := e.svc.HandleWebhook(ctx, SandboxName, body, h); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := e.svc.HandleWebhook(ctx, SandboxName, body, http.Header{}); !errors.Is(err, ErrMissingSignature) {
		t.Fatalf("unsigned: %v", err)
	}
	if _, err := e.svc.HandleWebhook(ctx, "paypal", body, h); !errors.Is(err, ErrUnknownProvider) {
		t.Fatalf("provider: %v", err)
	}
	junk := []byte(`{"id":"x"}`)
	hh := http.Header{}
	hh.Set(SandboxSignatureHeader, Sign(junk, time.Now(), testSecret))
	if _, err := e.svc.HandleWebhook(ctx, SandboxName, junk, hh); !errors.Is(err, ErrBadEvent) {
		t.Fatalf("junk: %v", err)
	}
	// A signed event about another amount moves nothing.
	p2 := *p
	p2.Amount = 1
	body, h = sandboxWebhook(t, &p2, "evt_amount", StatusSucceeded, time.Now())
	if res, err := e.svc.HandleWebhook(ctx, SandboxName, body, h); err != nil || res != ResultIgnored {
		t.Fatal(res, err)
	}
	if e.reload(p.ID).Status != StatusPending {
		t.Fatal("moved by a wrong amount")
	}
}

func TestConcurrentDifferentEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		e := newEnv(t, gdb, "")
		for round := range 3 {
			id := fmt.Sprintf("w%d", round)
			e.widget(id, "buyer", 300)
			p := e.pay("buyer", id)
			var wg sync.WaitGroup
			for i, st := range []Status{StatusProcessing, StatusFailed, StatusSucceeded, StatusProcessing} {
				body, h := sandboxWebhook(t, p, fmt.Sprintf("evt_%d_%d", round, i), st, time.Now())
				for range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := e.svc.HandleWebhook(context.Background(), SandboxName, body, h); err != nil {
							t.Error(err)
						}
					}()
				}
			}
			wg.Wait()
			if got := e.reload(p.ID).Status; got != StatusSucceeded {
				t.Fatalf("round %d: %s", round, got)
			}
			if !e.widgetRow(id).Sold {
				t.Fatalf("round %d: not fulfilled", round)
			}
		}
		if e.w.fulfilled.Load() != 3 {
			t.Fatalf("fulfilled %d times for 3 payments", e.w.fulfilled.Load())
		}
	}, migs()...)
}

// TestLateSuccessAfterResaleIsRefunded: the first payment is canceled (its hold released), a
// second payment buys the subject, and then the first one succeeds after all.
func TestLateSuccessAfterResaleIsRefunded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		e := newEnv(t, gdb, "")
		ctx := context.Background()
		e.widget("w1", "buyer", 800)
		first := e.pay("buyer", "w1")
		body, h := sandboxWebhook(t, first, "evt_cancel", StatusCanceled, time.Now())
		if res, err := e.svc.HandleWebhook(ctx, SandboxName, body, h); err != nil || res != ResultApplied {
			t.Fatal(res, err)
		}
		second := e.pay("buyer", "w1")
		body, h = sandboxWebhook(t, second, "evt_second", StatusSucceeded, time.Now())
		if res, err := e.svc.HandleWebhook(ctx, SandboxName, body, h); err != nil || res != ResultApplied {
			t.Fatal(res, err)
		}
		_, _ = e.sbx.Act(ctx, *first.ProviderRef, ActionNever) // the sandbox took the money
		body, h = sandboxWebhook(t, first, "evt_first", StatusSucceeded, time.Now())
		if res, err := e.svc.HandleWebhook(ctx, SandboxName, body, h); err != nil || res != ResultRefunded {
			t.Fatal(res, err)
		}
		if e.reload(first.ID).Status != StatusRefunded || e.reload(second.ID).Status != StatusSucceeded {
			t.Fatal("wrong end states")
		}
		if e.w.fulfilled.Load() != 1 {
			t.Fatalf("fulfilled %d times", e.w.fulfilled.Load())
		}
	}, migs()...)
}
