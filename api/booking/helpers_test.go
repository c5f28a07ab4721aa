package booking

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/db/dbtest"
	"github.com/onstagehq/onstage/internal/payments"
	"github.com/onstagehq/onstage/rooms"
)

// testClock is a settable time source shared by booking, payments and rooms.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// env is one booking domain over a fresh database: the real rooms and payments services
// with the sandbox provider (its webhooks are applied directly, not delivered over HTTP).
type env struct {
	t       *testing.T
	db      *gorm.DB
	clock   *testClock
	svc     *Service
	rooms   *rooms.Service
	pay     *payments.Service
	sandbox *payments.Sandbox
	cache   cache.Cache
	n       atomic.Int64
}

func migrations() []db.Migration {
	var m []db.Migration
	m = append(m, rooms.Migrations()...)
	m = append(m, payments.Migrations()...)
	m = append(m, Migrations()...)
	return m
}

// eachDB runs fn on SQLite and, when configured, PostgreSQL and MySQL.
func eachDB(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run(db.DialectSQLite, func(t *testing.T) { fn(t, newEnv(t, dbtest.Open(t, migrations()...))) })
	t.Run(db.DialectPostgres, func(t *testing.T) { fn(t, newEnv(t, dbtest.Postgres(t, migrations()...))) })
	t.Run(db.DialectMySQL, func(t *testing.T) { fn(t, newEnv(t, dbtest.MySQL(t, migrations()...))) })
}

func newEnv(t *testing.T, gdb *gorm.DB) *env {
	t.Helper()
	e := &env{t: t, db: gdb, clock: newTestClock(), cache: cache.NewMemory()}
	e.rooms = rooms.NewService(rooms.ServiceParams{Store: rooms.NewStore(gdb), Now: e.clock.Now, PasswordCost: 4})
	sb, err := payments.NewSandbox(payments.SandboxParams{DB: gdb, Secrets: []string{"test-secret-0123456789"},
		PublicURL: "http://127.0.0.1:1", Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.sandbox = sb
	e.pay, err = payments.NewService(payments.ServiceParams{Store: payments.NewStore(gdb), Providers: []payments.Provider{sb},
		Default: payments.SandboxName, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = NewService(Params{DB: gdb, Cache: e.cache, Meetings: e.rooms, Payments: e.pay, Now: e.clock.Now})
	if err := e.pay.Register(e.svc.Purpose()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.svc.Close(); sb.Close() })
	return e
}

func (e *env) user(role authn.Role) authn.Identity {
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", e.n.Add(1))
	return authn.Identity{UserID: id, Role: role, Name: string(role)}
}

// allDay is every day, all day, in the profile's zone, with an hour's notice.
func allDay() Schedule {
	s := Schedule{MinNoticeMinutes: 60}
	for d := 0; d < 7; d++ {
		s.Weekly = append(s.Weekly, WeeklyRule{d, "00:00", "24:00"})
	}
	return s
}

// streamer makes an approved streamer with schedule sc.
func (e *env) streamer(sc Schedule) authn.Identity {
	e.t.Helper()
	ctx := context.Background()
	st := e.user(authn.RoleStreamer)
	if _, err := e.svc.SaveProfile(ctx, st, ProfileInput{City: "Berlin", Games: []string{"Dota 2"}, Languages: []string{"en"},
		PricePerHour: 3000, Currency: "EUR", TimeZone: "UTC"}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.Model(&Profile{}).Where("user_id = ?", st.UserID).Update("status", ProfileApproved).Error; err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.SetSchedule(ctx, st, sc); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// tomorrow10 is 10:00 UTC the day after the clock's day.
func (e *env) at(days, hour int) time.Time {
	n := e.clock.Now()
	return time.Date(n.Year(), n.Month(), n.Day()+days, hour, 0, 0, 0, time.UTC)
}

func (e *env) order(buyer, st authn.Identity, start time.Time, minutes int) (OrderView, error) {
	return e.svc.CreateOrder(context.Background(), buyer, OrderInput{StreamerID: st.UserID, Start: start, DurationMinutes: minutes})
}

func (e *env) mustOrder(buyer, st authn.Identity, start time.Time, minutes int) OrderView {
	e.t.Helper()
	o, err := e.order(buyer, st, start, minutes)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// pay creates the order's payment and returns the success event the provider would send.
func (e *env) payFor(buyer authn.Identity, orderID string) (*payments.Payment, payments.Event) {
	e.t.Helper()
	p, _, err := e.pay.Create(context.Background(), buyer.UserID, PurposeKind, orderID)
	if err != nil {
		e.t.Fatal(err)
	}
	// The buyer presses Pay; its webhook is not delivered (the sandbox is not started), the
	// test applies the event itself.
	if _, err := e.sandbox.Act(context.Background(), *p.ProviderRef, payments.ActionNever); err != nil {
		e.t.Fatal(err)
	}
	return p, payments.Event{ID: "evt_" + p.ID, Type: "payment.succeeded", Ref: *p.ProviderRef,
		Status: payments.StatusSucceeded, Amount: p.Amount, Currency: p.Currency}
}

func (e *env) orderRow(id string) Order {
	e.t.Helper()
	var o Order
	if err := e.db.Where("id = ?", id).Take(&o).Error; err != nil {
		e.t.Fatal(err)
	}
	return o
}
