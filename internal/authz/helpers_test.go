package authz

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// testUser is the slice of the auth domain's users table that authz reads.
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
	return append([]db.Migration{{ID: "0001_test_users", Up: func(tx *gorm.DB) error {
		return tx.Migrator().CreateTable(&testUser{})
	}}}, Migrations()...)
}

// fixture is one database and cache with two services over them: two nodes of a cluster.
type fixture struct {
	t    testing.TB
	gdb  *gorm.DB
	a, b *Service
}

// backends runs fn on SQLite with the in-process cache, and on PostgreSQL with Redis and MySQL
// when the test environment names them.
func backends(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite+memory", func(t *testing.T) { fn(t, newFixture(t, dbtest.Open(t, testMigrations()...), cachetest.Memory(t))) })
	t.Run("mysql+memory", func(t *testing.T) { fn(t, newFixture(t, dbtest.MySQL(t, testMigrations()...), cachetest.Memory(t))) })
	t.Run("postgres+redis", func(t *testing.T) {
		gdb := dbtest.Postgres(t, testMigrations()...)
		fn(t, newFixture(t, gdb, cachetest.Redis(t)))
	})
}

func newFixture(t testing.TB, gdb *gorm.DB, c cache.Cache) *fixture {
	f := &fixture{t: t, gdb: gdb,
		a: NewService(ServiceParams{Store: NewStore(gdb), Cache: c}),
		b: NewService(ServiceParams{Store: NewStore(gdb), Cache: c})}
	if err := f.a.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

var userSeq int

// user inserts a user holding roles (the first also as its legacy role) and returns its identity.
func (f *fixture) user(parent string, roles ...string) authn.Identity {
	f.t.Helper()
	userSeq++
	u := testUser{ID: fmt.Sprintf("u-%d-%d", time.Now().UnixNano(), userSeq), Email: fmt.Sprintf("u%d@example.com", userSeq),
		DisplayName: "U", Role: "player", CreatedAt: time.Now()}
	if parent != "" {
		u.ParentID = &parent
	}
	if err := f.gdb.Create(&u).Error; err != nil {
		f.t.Fatal(err)
	}
	for _, r := range roles {
		if err := f.a.store.grant(context.Background(), u.ID, r, "", time.Now()); err != nil {
			f.t.Fatal(err)
		}
	}
	return authn.Identity{UserID: u.ID, Role: authn.RolePlayer, Name: "U"}
}
