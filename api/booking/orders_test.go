package booking

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/payments"
	"github.com/onstagehq/onstage/rooms"
)

// TestRacingOrders: 50 players order the same slot at once; exactly one gets it. Remove the
// row lock and the unique slot units both, and several do.
func TestRacingOrders(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		st := e.streamer(allDay())
		start := e.at(2, 10)
		const n = 50
		var ok, taken atomic.Int64
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := 0; i < n; i++ {
			buyer := e.user(authn.RolePlayer)
			// Overlapping but different times race too.
			s := start.Add(time.Duration(i%3) * 15 * time.Minute)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				_, err := e.order(buyer, st, s, 60)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrSlotUnavailable):
					taken.Add(1)
				default:
					t.Errorf("order: %v", err)
				}
			}()
		}
		close(gate)
		wg.Wait()
		if ok.Load() != 1 || taken.Load() != n-1 {
			t.Fatalf("%d created, %d refused", ok.Load(), taken.Load())
		}
		var slots int64
		e.db.Model(&Slot{}).Count(&slots)
		if slots != 12 { // one hour in 5-minute units
			t.Fatalf("%d slot units held", slots)
		}
	})
}

// TestOrderRules: availability, notice, buffer, daily cap, held time and roles.
func TestOrderRules(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		sc := Schedule{MinNoticeMinutes: 120, BufferMinutes: 15, MaxPerDay: 2,
			Weekly: []WeeklyRule{{0, "09:00", "17:00"}, {1, "09:00", "17:00"}, {2, "09:00", "17:00"}, {3, "09:00", "17:00"},
				{4, "09:00", "17:00"}, {5, "09:00", "17:00"}, {6, "09:00", "17:00"}}}
		st := e.streamer(sc)
		p1, p2 := e.user(authn.RolePlayer), e.user(authn.RolePlayer)
		now := e.clock.Now() // 12:00
		tests := []struct {
			name  string
			start time.Time
			min   int
			want  error
		}{
			{"outside the hours", e.at(1, 7), 60, ErrSlotUnavailable},
			{"runs past the end", e.at(1, 16), 90, ErrSlotUnavailable},
			{"inside the notice", now.Add(time.Hour), 30, ErrSlotUnavailable},
			{"ok", e.at(1, 10), 60, nil},
			{"overlaps", e.at(1, 10).Add(30 * time.Minute), 60, ErrSlotUnavailable},
			{"inside the buffer", e.at(1, 11).Add(5 * time.Minute), 30, ErrSlotUnavailable},
			{"after the buffer", e.at(1, 11).Add(15 * time.Minute), 30, nil},
			{"over the daily cap", e.at(1, 14), 30, ErrSlotUnavailable},
			{"next day", e.at(2, 14), 30, nil},
			{"bad duration", e.at(3, 10), 7, apperr.ErrValidation},
		}
		for _, tt := range tests {
			_, err := e.order(p1, st, tt.start, tt.min)
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
			}
		}
		if _, err := e.order(st, st, e.at(3, 10), 30); !errors.Is(err, ErrNotPlayer) {
			t.Errorf("streamer ordering: %v", err)
		}
		if _, err := e.order(p2, authn.Identity{UserID: "nobody"}, e.at(3, 10), 30); !errors.Is(err, ErrStreamerNotFound) {
			t.Errorf("unknown streamer: %v", err)
		}
	})
}

// TestHoldExpiry: an unpaid hold runs out; the sweeper expires it and the time is free again.
func TestHoldExpiry(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		st := e.streamer(allDay())
		a, b := e.user(authn.RolePlayer), e.user(authn.RolePlayer)
		o := e.mustOrder(a, st, e.at(2, 10), 60)
		if _, err := e.order(b, st, e.at(2, 10), 60); !errors.Is(err, ErrSlotUnavailable) {
			t.Fatalf("held slot: %v", err)
		}
		e.clock.Advance(16 * time.Minute)
		if err := e.svc.sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := e.orderRow(o.ID).Status; got != OrderExpired {
			t.Fatalf("status %s", got)
		}
		e.mustOrder(b, st, e.at(2, 10), 60)
		// The expired order can no longer be paid.
		if _, _, err := e.pay.Create(context.Background(), a.UserID, PurposeKind, o.ID); !errors.Is(err, ErrOrderState) {
			t.Fatalf("paying an expired order: %v", err)
		}
	})
}

// TestPaidCreatesMeeting: the success marks the order paid and creates the private meeting
// in the same transaction; 1000 replays of the webhook, many at once, change nothing more.
func TestPaidCreatesMeeting(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		st := e.streamer(allDay())
		buyer, stranger := e.user(authn.RolePlayer), e.user(authn.RolePlayer)
		o := e.mustOrder(buyer, st, e.at(2, 10), 60)
		_, ev := e.payFor(buyer, o.ID)
		var applied atomic.Int64
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i := 0; i < 1000; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				res, err := e.pay.Apply(ctx, payments.SandboxName, ev, nil)
				if err != nil {
					t.Errorf("apply: %v", err)
				}
				if res == payments.ResultApplied {
					applied.Add(1)
				}
			}()
		}
		wg.Wait()
		if applied.Load() != 1 {
			t.Fatalf("applied %d times", applied.Load())
		}
		var meetings int64
		e.db.Model(&rooms.Meeting{}).Count(&meetings)
		got := e.orderRow(o.ID)
		if got.Status != OrderPaid || got.MeetingID == nil || got.MeetingCode == "" || meetings != 1 {
			t.Fatalf("order %+v, %d meetings", got, meetings)
		}
		for _, who := range []authn.Identity{buyer, st} {
			v, err := e.svc.GetOrder(ctx, who, o.ID)
			if err != nil || v.MeetingID == nil || *v.MeetingID != *got.MeetingID || v.MeetingCode == nil {
				t.Fatalf("%s sees %+v, %v", who.Role, v, err)
			}
		}
		if _, err := e.svc.GetOrder(ctx, stranger, o.ID); !errors.Is(err, ErrOrderNotFound) {
			t.Fatalf("stranger: %v", err)
		}
		// The buyer joins the private meeting without its password; a stranger cannot.
		if _, err := e.rooms.Join(ctx, buyer, *got.MeetingID, rooms.JoinInput{}); err != nil {
			t.Fatalf("buyer join: %v", err)
		}
		if _, err := e.rooms.Join(ctx, stranger, *got.MeetingID, rooms.JoinInput{}); !errors.Is(err, rooms.ErrWrongPassword) {
			t.Fatalf("stranger join: %v", err)
		}
		// Notifications for both wait in the outbox.
		var rows int64
		e.db.Model(&outboxRow{}).Where("order_id = ? AND kind = ?", o.ID, "order_paid").Count(&rows)
		if rows != 2 {
			t.Fatalf("%d notifications", rows)
		}
		// The meeting ends: the order completes.
		if _, err := e.rooms.Join(ctx, st, *got.MeetingID, rooms.JoinInput{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.rooms.End(ctx, st, *got.MeetingID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(49 * time.Hour)
		if err := e.svc.sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if s := e.orderRow(o.ID).Status; s != OrderCompleted {
			t.Fatalf("after the meeting ended: %s", s)
		}
		// The outbox is sent (once) and, a week later, pruned.
		e.svc.dispatch(ctx)
		e.db.Model(&outboxRow{}).Where("sent_at IS NULL").Count(&rows)
		if rows != 0 {
			t.Fatalf("%d notifications unsent", rows)
		}
		e.clock.Advance(8 * 24 * time.Hour)
		if err := e.svc.sweep(ctx); err != nil {
			t.Fatal(err)
		}
		e.db.Model(&outboxRow{}).Count(&rows)
		if rows != 0 {
			t.Fatalf("%d notifications kept", rows)
		}
	})
}

// failingMeetings fails to create the meeting: the payment must not leave a paid order.
type failingMeetings struct{ Meetings }

func (failingMeetings) CreateBookedTx(context.Context, *gorm.DB, rooms.BookedInput) (rooms.BookedMeeting, error) {
	return rooms.BookedMeeting{}, errors.New("meeting store down")
}

// TestNoPaidWithoutMeeting: when the meeting cannot be created, the order stays unpaid and the
// payment is refunded, never "paid without a meeting".
func TestNoPaidWithoutMeeting(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		e.svc.p.Meetings = failingMeetings{e.rooms}
		st := e.streamer(allDay())
		buyer := e.user(authn.RolePlayer)
		o := e.mustOrder(buyer, st, e.at(2, 10), 60)
		p, ev := e.payFor(buyer, o.ID)
		res, err := e.pay.Apply(context.Background(), payments.SandboxName, ev, nil)
		if err != nil || res != payments.ResultRefunded {
			t.Fatalf("apply: %v %v", res, err)
		}
		if got := e.orderRow(o.ID); got.Status != OrderPending || got.MeetingID != nil {
			t.Fatalf("order %+v", got)
		}
		got, _ := e.pay.Get(context.Background(), buyer.UserID, p.ID)
		if got.Status != payments.StatusRefunded {
			t.Fatalf("payment %s", got.Status)
		}
	})
}

// TestLateSuccessAfterResale: the hold expires, the slot is sold to someone else, then the
// first buyer's money arrives: it is refunded and the slot stays with the second order.
func TestLateSuccessAfterResale(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		st := e.streamer(allDay())
		a, b := e.user(authn.RolePlayer), e.user(authn.RolePlayer)
		oa := e.mustOrder(a, st, e.at(2, 10), 60)
		pa, eva := e.payFor(a, oa.ID)
		e.clock.Advance(20 * time.Minute)
		ob := e.mustOrder(b, st, e.at(2, 10), 60) // expires a's hold in its transaction
		res, err := e.pay.Apply(ctx, payments.SandboxName, eva, nil)
		if err != nil || res != payments.ResultRefunded {
			t.Fatalf("late success: %v %v", res, err)
		}
		if s := e.orderRow(oa.ID).Status; s != OrderExpired {
			t.Fatalf("a: %s", s)
		}
		if got, _ := e.pay.Get(ctx, a.UserID, pa.ID); got.Status != payments.StatusRefunded {
			t.Fatalf("a's payment: %s", got.Status)
		}
		_, evb := e.payFor(b, ob.ID)
		if res, err := e.pay.Apply(ctx, payments.SandboxName, evb, nil); err != nil || res != payments.ResultApplied {
			t.Fatalf("b pays: %v %v", res, err)
		}
		// A late success for an expired hold nobody took is honoured.
		c := e.user(authn.RolePlayer)
		oc := e.mustOrder(c, st, e.at(3, 10), 60)
		_, evc := e.payFor(c, oc.ID)
		e.clock.Advance(20 * time.Minute)
		if err := e.svc.sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if res, err := e.pay.Apply(ctx, payments.SandboxName, evc, nil); err != nil || res != payments.ResultApplied {
			t.Fatalf("c pays late: %v %v", res, err)
		}
		if s := e.orderRow(oc.ID).Status; s != OrderPaid {
			t.Fatalf("c: %s", s)
		}
	})
}

// TestCancelRules: unpaid orders cancel freely; a paid one until 24 hours before, refunded.
func TestCancelRules(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		st := e.streamer(allDay())
		buyer, other := e.user(authn.RolePlayer), e.user(authn.RolePlayer)
		paid := func(days int) (OrderView, *payments.Payment) {
			o := e.mustOrder(buyer, st, e.at(days, 10), 60)
			p, ev := e.payFor(buyer, o.ID)
			if _, err := e.pay.Apply(ctx, payments.SandboxName, ev, nil); err != nil {
				t.Fatal(err)
			}
			return o, p
		}
		pending := e.mustOrder(buyer, st, e.at(5, 10), 60)
		if _, err := e.svc.CancelOrder(ctx, other, pending.ID, ""); !errors.Is(err, ErrOrderNotFound) {
			t.Fatalf("stranger cancels: %v", err)
		}
		if v, err := e.svc.CancelOrder(ctx, buyer, pending.ID, "changed my mind"); err != nil || v.Status != OrderCancelled || v.Refunded {
			t.Fatalf("cancel pending: %+v %v", v, err)
		}
		e.mustOrder(other, st, e.at(5, 10), 60) // the time is free again

		soon, _ := paid(1) // tomorrow 10:00, less than 24 h away
		if _, err := e.svc.CancelOrder(ctx, buyer, soon.ID, ""); !errors.Is(err, ErrCancelTooLate) {
			t.Fatalf("late cancel: %v", err)
		}
		later, p := paid(3)
		v, err := e.svc.CancelOrder(ctx, buyer, later.ID, "")
		if err != nil || v.Status != OrderCancelled || !v.Refunded {
			t.Fatalf("cancel paid: %+v %v", v, err)
		}
		if got, _ := e.pay.Get(ctx, buyer.UserID, p.ID); got.Status != payments.StatusRefunded {
			t.Fatalf("payment after cancel: %s", got.Status)
		}
		m, err := e.rooms.Get(ctx, st, *e.orderRow(later.ID).MeetingID)
		if err != nil || m.Status != rooms.StatusCancelled {
			t.Fatalf("meeting after cancel: %v %v", m.Status, err)
		}
		if _, err := e.svc.CancelOrder(ctx, buyer, later.ID, ""); !errors.Is(err, ErrOrderState) {
			t.Fatalf("cancel twice: %v", err)
		}
		// The streamer may cancel a paid order inside the 24 hours.
		if v, err := e.svc.CancelOrder(ctx, st, soon.ID, "ill"); err != nil || !v.Refunded {
			t.Fatalf("streamer cancels: %+v %v", v, err)
		}
	})
}

// TestScheduleKeepsBookedTime: a schedule change that drops booked time is refused, naming
// the orders; one that keeps it is taken.
func TestScheduleKeepsBookedTime(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		st := e.streamer(allDay())
		o := e.mustOrder(e.user(authn.RolePlayer), st, e.at(2, 10), 60)
		_, err := e.svc.SetSchedule(ctx, st, Schedule{Weekly: []WeeklyRule{{int(e.at(2, 0).Weekday()), "12:00", "18:00"}}})
		ae, ok := apperr.As(err)
		if !errors.Is(err, ErrScheduleBooked) || !ok || ae.Fields[o.ID] == "" {
			t.Fatalf("dropping booked time: %v", err)
		}
		if _, err := e.svc.SetSchedule(ctx, st, Schedule{Weekly: []WeeklyRule{{int(e.at(2, 0).Weekday()), "09:00", "12:00"}}}); err != nil {
			t.Fatalf("keeping it: %v", err)
		}
	})
}

// TestReviewOnce: only the buyer of a completed order, once, even racing; the rating moves.
func TestReviewOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		st := e.streamer(allDay())
		buyer := e.user(authn.RolePlayer)
		o := e.mustOrder(buyer, st, e.at(2, 10), 60)
		_, ev := e.payFor(buyer, o.ID)
		if _, err := e.pay.Apply(ctx, payments.SandboxName, ev, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.AddReview(ctx, buyer, ReviewInput{OrderID: o.ID, Rating: 5}); !errors.Is(err, ErrNotCompleted) {
			t.Fatalf("review before completion: %v", err)
		}
		if err := e.svc.complete(ctx, []string{*e.orderRow(o.ID).MeetingID}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.AddReview(ctx, e.user(authn.RolePlayer), ReviewInput{OrderID: o.ID, Rating: 5}); !errors.Is(err, ErrOrderNotFound) {
			t.Fatalf("stranger review: %v", err)
		}
		var ok, dup atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.svc.AddReview(ctx, buyer, ReviewInput{OrderID: o.ID, Rating: 4, Comment: "good"})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrAlreadyReviewed):
					dup.Add(1)
				default:
					t.Errorf("review: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || dup.Load() != 9 {
			t.Fatalf("%d reviews, %d refused", ok.Load(), dup.Load())
		}
		d, err := e.svc.Detail(ctx, st.UserID, "", time.Hour)
		if err != nil || d.Rating != 4 || d.ReviewCount != 1 || len(d.Reviews) != 1 {
			t.Fatalf("detail %+v %v", d.Card, err)
		}
	})
}

// TestCatalogCache: a page is served from the cache until a listed profile changes; then the
// next read is fresh.
func TestCatalogCache(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		st := e.streamer(allDay())
		q := ListQuery{Page: 1, PageSize: 10, City: "Berlin", Game: "dota 2"}
		page, hit, err := e.svc.Catalog(ctx, q)
		if err != nil || hit || page.Total != 1 {
			t.Fatalf("first read: %+v %v %v", page, hit, err)
		}
		if _, hit, _ = e.svc.Catalog(ctx, q); !hit {
			t.Fatal("second read missed the cache")
		}
		// A write behind the cache's back is not seen while the page is cached...
		e.db.Model(&Profile{}).Where("user_id = ?", st.UserID).Update("price_per_hour", 1)
		if page, _, _ = e.svc.Catalog(ctx, q); page.Items[0].PricePerHour != 3000 {
			t.Fatal("the cached page was not used")
		}
		// ...and a change through the domain invalidates it.
		if _, err := e.svc.SaveProfile(ctx, st, ProfileInput{City: "Berlin", Games: []string{"Dota 2"}, Languages: []string{"en"},
			PricePerHour: 4000, Currency: "EUR", TimeZone: "UTC"}); err != nil {
			t.Fatal(err)
		}
		page, hit, _ = e.svc.Catalog(ctx, q)
		if hit || page.Total != 0 { // changed: pending approval again, so unlisted
			t.Fatalf("after the change: %+v hit=%v", page, hit)
		}
		for _, bad := range []ListQuery{{Page: 1, PageSize: 10, Sort: "cheapest"}, {Page: 1, PageSize: 10, PriceMin: 10, PriceMax: 5}} {
			if _, _, err := e.svc.Catalog(ctx, bad); !errors.Is(err, apperr.ErrValidation) {
				t.Errorf("%+v: %v", bad, err)
			}
		}
	})
}

// TestCatalogFilters: filters match whole entries, and sorts order.
func TestCatalogFilters(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		mk := func(city string, games []string, price int64) {
			st := e.user(authn.RoleStreamer)
			if _, err := e.svc.SaveProfile(ctx, st, ProfileInput{City: city, Games: games, Languages: []string{"en"},
				PricePerHour: price, Currency: "EUR", TimeZone: "UTC"}); err != nil {
				t.Fatal(err)
			}
			e.db.Model(&Profile{}).Where("user_id = ?", st.UserID).Update("status", ProfileApproved)
		}
		mk("Berlin", []string{"Dota 2"}, 3000)
		mk("Berlin", []string{"Dota"}, 1000)
		mk("Paris", []string{"Chess", "Dota 2"}, 2000)
		e.svc.invalidate(ctx)
		count := func(q ListQuery) int64 {
			q.Page, q.PageSize = 1, 10
			p, _, err := e.svc.Catalog(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			return p.Total
		}
		for _, tt := range []struct {
			q    ListQuery
			want int64
		}{
			{ListQuery{}, 3}, {ListQuery{City: "berlin"}, 2}, {ListQuery{Game: "dota"}, 1}, {ListQuery{Game: "Dota 2"}, 2},
			{ListQuery{City: "Berlin", Game: "dota 2"}, 1}, {ListQuery{PriceMin: 1500, PriceMax: 2500}, 1},
			{ListQuery{Q: "par"}, 1}, {ListQuery{Game: "%"}, 0},
		} {
			if got := count(tt.q); got != tt.want {
				t.Errorf("%+v: %d, want %d", tt.q, got, tt.want)
			}
		}
		p, _, _ := e.svc.Catalog(ctx, ListQuery{Page: 1, PageSize: 10, Sort: "price"})
		if p.Items[0].PricePerHour != 1000 || p.Items[2].PricePerHour != 3000 {
			t.Fatalf("price sort: %+v", p.Items)
		}
	})
}

// TestViewCounter: views are counted once per viewer per hour, written in batches.
func TestViewCounter(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		st := e.streamer(allDay())
		for i := 0; i < 5; i++ {
			if _, err := e.svc.Detail(ctx, st.UserID, "viewer-1", time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.svc.Detail(ctx, st.UserID, "viewer-2", time.Hour); err != nil {
			t.Fatal(err)
		}
		var p Profile
		e.db.Where("user_id = ?", st.UserID).Take(&p)
		if p.Views != 0 {
			t.Fatal("a view was written on the request path")
		}
		if len(e.svc.views) != 2 {
			t.Fatalf("%d views queued", len(e.svc.views))
		}
		got := map[string]int64{}
		for len(e.svc.views) > 0 {
			got[<-e.svc.views]++
		}
		e.svc.flushViews(ctx, got)
		e.db.Where("user_id = ?", st.UserID).Take(&p)
		if p.Views != 2 {
			t.Fatalf("views %d", p.Views)
		}
		e.clock.Advance(time.Hour)
		if _, err := e.svc.Detail(ctx, st.UserID, "viewer-1", time.Hour); err != nil {
			t.Fatal(err)
		}
		if len(e.svc.views) != 1 {
			t.Fatal("the next hour's view was not counted")
		}
	})
}

// TestSlotUnitsAreUnique: the database itself refuses a second order's units for time another
// order holds, whatever the checks before it said.
func TestSlotUnitsAreUnique(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		start := e.at(2, 10)
		for i, tt := range []struct {
			from time.Duration
			want error
		}{{0, nil}, {55 * time.Minute, ErrSlotUnavailable}, {60 * time.Minute, nil}, {65 * time.Minute, ErrSlotUnavailable}} {
			o := &Order{ID: fmt.Sprint("o", i), StreamerID: "s1", Start: start.Add(tt.from), End: start.Add(tt.from + time.Hour)}
			err := e.db.Transaction(func(tx *gorm.DB) error { return takeSlots(tx, o) })
			if !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
				t.Errorf("order at +%s: %v, want %v", tt.from, err, tt.want)
			}
		}
	})
}
