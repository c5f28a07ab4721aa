package cards

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// testUser is the slice of the auth domain's users table that authz and cards read.
type testUser struct {
	ID          string `gorm:"primaryKey;size:36"`
	Email       string `gorm:"size:254;not null"`
	DisplayName string `gorm:"size:64;not null"`
	Role        string `gorm:"size:16;not null"`
	ParentID    *string
	LockedAt    *time.Time
	CreatedAt   time.Time
}

func (testUser) TableName() string { return "users" }

func testMigrations() []db.Migration {
	migs := []db.Migration{{ID: "0001_test_users", Up: func(tx *gorm.DB) error {
		return tx.Migrator().CreateTable(&testUser{})
	}}}
	migs = append(migs, authz.Migrations()...)
	return append(migs, Migrations()...)
}

type fixture struct {
	t   testing.TB
	gdb *gorm.DB
	az  *authz.Service
	svc *Service
}

// backends runs fn on SQLite with the in-process cache, and on PostgreSQL with Redis when
// the test environment names them.
func backends(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newFixture(t, dbtest.Open(t, testMigrations()...), false)) })
	t.Run("postgres", func(t *testing.T) { fn(t, newFixture(t, dbtest.Postgres(t, testMigrations()...), true)) })
	t.Run("mysql", func(t *testing.T) { fn(t, newFixture(t, dbtest.MySQL(t, testMigrations()...), true)) })
}

func newFixture(t testing.TB, gdb *gorm.DB, redis bool) *fixture {
	c := cachetest.Memory(t)
	if redis {
		c = cachetest.Redis(t)
	}
	az := authz.NewService(authz.ServiceParams{Store: authz.NewStore(gdb), Cache: c})
	if err := az.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc, err := New(Params{DB: gdb, Authz: az, Cache: c, ServerSecret: []byte("a-test-secret-of-at-least-32-characters"),
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return &fixture{t: t, gdb: gdb, az: az, svc: svc}
}

var userSeq atomic.Int64

// user inserts a user with parent holding roles and returns its identity.
func (f *fixture) user(parent string, roles ...string) authn.Identity {
	f.t.Helper()
	n := userSeq.Add(1)
	u := testUser{ID: fmt.Sprintf("u-%d-%d", time.Now().UnixNano(), n), Email: fmt.Sprintf("u%d@example.com", n),
		DisplayName: "U", Role: "player", CreatedAt: time.Now()}
	if parent != "" {
		u.ParentID = &parent
	}
	if err := f.gdb.Create(&u).Error; err != nil {
		f.t.Fatal(err)
	}
	for _, r := range roles {
		if err := authz.GrantInTx(f.gdb, u.ID, r, "", time.Now()); err != nil {
			f.t.Fatal(err)
		}
	}
	return authn.Identity{UserID: u.ID, Role: authn.RolePlayer, Name: "U"}
}

func (f *fixture) checkLedger() {
	f.t.Helper()
	r, err := f.svc.CheckLedger(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	if !r.OK {
		f.t.Fatalf("ledger: %v", r.Problems)
	}
}

func (f *fixture) balance(id authn.Identity) Balance {
	f.t.Helper()
	b, err := f.svc.Balance(context.Background(), id.UserID)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}
