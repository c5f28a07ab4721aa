package payments

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/db"
)

// widget is the tests' purpose: a thing with a price that can be sold once. It lives only in
// tests; booking and ads register the real purposes.
type widget struct {
	ID       string `gorm:"primaryKey;size:36"`
	OwnerID  string `gorm:"size:36;not null"`
	Price    int64  `gorm:"not null"`
	Currency string `gorm:"size:3;not null"`
	Sold     bool   `gorm:"not null"`
	Gone     bool   `gorm:"not null"` // re-sold elsewhere: fulfilment must refuse
	Held     bool   `gorm:"not null"`
}

func (widget) TableName() string { return "test_widgets" }

var widgetMigration = db.Migration{ID: "9999_test_widgets", Up: func(tx *gorm.DB) error {
	return tx.Migrator().CreateTable(&widget{})
}}

var errGone = apperr.New(apperr.Conflict, "gone", "the widget was sold to someone else")

// widgets counts the purpose's hook calls.
type widgets struct {
	fulfilled atomic.Int64
	released  atomic.Int64
}

func (w *widgets) purpose(gdb *gorm.DB) Purpose {
	return Purpose{
		Kind: "widget", Field: "widget_id",
		Quote: func(ctx context.Context, buyer, id string) (Quote, error) {
			var it widget
			err := gdb.WithContext(ctx).Where("id = ? AND owner_id = ?", id, buyer).Take(&it).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return Quote{}, apperr.ErrNotFound
			}
			return Quote{Amount: it.Price, Currency: it.Currency, Description: "widget " + id}, err
		},
		Fulfill: func(ctx context.Context, tx *gorm.DB, p *Payment) error {
			var it widget
			if err := tx.Where("id = ?", p.SubjectID).Take(&it).Error; err != nil {
				return err
			}
			if it.Gone || it.Sold {
				return errGone
			}
			w.fulfilled.Add(1)
			return tx.Model(&widget{}).Where("id = ?", it.ID).Updates(map[string]any{"sold": true, "held": false}).Error
		},
		Release: func(ctx context.Context, tx *gorm.DB, p *Payment) error {
			w.released.Add(1)
			return tx.Model(&widget{}).Where("id = ?", p.SubjectID).Update("held", false).Error
		},
	}
}

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// env is a service over the sandbox on a fresh database.
type env struct {
	t   *testing.T
	db  *gorm.DB
	svc *Service
	sbx *Sandbox
	w   *widgets
	clk *clock
}

const testSecret = "sandbox-secret-for-tests-0123456789"

func newEnv(t *testing.T, gdb *gorm.DB, webhookURL string) *env {
	t.Helper()
	clk := newClock()
	sbx, err := NewSandbox(SandboxParams{DB: gdb, Secrets: []string{testSecret}, PublicURL: "http://onstage.test",
		WebhookURL: webhookURL, Now: time.Now, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(ServiceParams{Store: NewStore(gdb), Providers: []Provider{sbx}, Default: SandboxName,
		ReconcileAfter: 10 * time.Minute, IntentTTL: time.Hour, Interval: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: gdb, svc: svc, sbx: sbx, w: &widgets{}, clk: clk}
	if err := svc.Register(e.w.purpose(gdb)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(); sbx.Close() })
	return e
}

func (e *env) widget(id, owner string, price int64) {
	e.t.Helper()
	if err := e.db.Create(&widget{ID: id, OwnerID: owner, Price: price, Currency: "EUR", Held: true}).Error; err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) pay(buyer, widgetID string) *Payment {
	e.t.Helper()
	p, created, err := e.svc.Create(context.Background(), buyer, "widget", widgetID)
	if err != nil || !created {
		e.t.Fatalf("create: %v created=%v", err, created)
	}
	return p
}

func (e *env) reload(id string) *Payment {
	e.t.Helper()
	p, err := e.svc.store.byID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) widgetRow(id string) widget {
	e.t.Helper()
	var w widget
	if err := e.db.Where("id = ?", id).Take(&w).Error; err != nil {
		e.t.Fatal(err)
	}
	return w
}

func migs() []db.Migration { return append(Migrations(), widgetMigration) }
