package db_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOpenRejects(t *testing.T) {
	tests := []struct {
		name, dsn string
		want      error
	}{
		{"unknown scheme", "redis://user:hunter2@localhost:6379/0", db.ErrUnsupportedDSN},
		{"mysql without slashes", "mysql:root:hunter2@tcp(localhost)/db", db.ErrUnsupportedDSN},
		{"mysql without database", "mysql://root:hunter2@tcp(localhost)/", db.ErrUnsupportedDSN},
		{"mysql bad DSN", "mysql://root:hunter2@tcp(localhost/db", db.ErrUnsupportedDSN},
		{"bare word", "onstage", db.ErrUnsupportedDSN},
		{"sqlite in memory", "sqlite::memory:", db.ErrUnsupportedDSN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Open(tt.dsn, t.TempDir(), nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOpenPostgresErrorHidesPassword(t *testing.T) {
	tests := []struct{ name, dsn string }{
		// Nothing listens on port 1, so the connection fails quickly.
		{"unreachable", "postgres://onstage:hunter2@127.0.0.1:1/onstage?connect_timeout=2"},
		{"bad port", "postgres://onstage:hunter2@127.0.0.1:port/onstage"},
		{"bad option", "postgresql://onstage:hunter2@127.0.0.1:1/onstage?sslmode=sometimes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Open(tt.dsn, "", nil)
			if err == nil {
				t.Fatal("open succeeded")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOpenMySQLErrorHidesPassword(t *testing.T) {
	tests := []struct{ name, dsn string }{
		// Nothing listens on port 1, so the connection fails quickly.
		{"unreachable", "mysql://onstage:hunter2@tcp(127.0.0.1:1)/onstage?timeout=2s"},
		{"bad option", "mysql://onstage:hunter2@tcp(127.0.0.1:1)/onstage?parseTime=maybe"},
		{"bad query", "mysql://onstage:hunter2@tcp(127.0.0.1:1)/onstage?a=%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Open(tt.dsn, "", nil)
			if err == nil {
				t.Fatal("open succeeded")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOpenDefaultSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet")
	gdb, err := db.Open("", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(gdb)
	if _, err := os.Stat(filepath.Join(dir, "onstage.db")); err != nil {
		t.Fatalf("database file: %v", err)
	}
	if got := db.Dialect(gdb); got != db.DialectSQLite {
		t.Errorf("Dialect = %q", got)
	}
	if err := db.Ping(ctxT(t), gdb); err != nil {
		t.Fatal(err)
	}
	pragmas := []struct{ name, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
	}
	for _, p := range pragmas {
		var got string
		if err := gdb.Raw("PRAGMA " + p.name).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %q, want %q", p.name, got, p.want)
		}
	}
}

func TestDialectAndPing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		if got, want := db.Dialect(gdb), t.Name()[strings.LastIndex(t.Name(), "/")+1:]; got != want {
			t.Errorf("Dialect = %q, want %q", got, want)
		}
		if err := db.Ping(ctxT(t), gdb); err != nil {
			t.Fatal(err)
		}
	})
}

// createTable is a migration step built from plain SQL that works on every dialect.
func createTable(id, table string) db.Migration {
	return db.Migration{ID: id, Up: func(tx *gorm.DB) error {
		return tx.Exec("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL UNIQUE)").Error
	}}
}

func TestMigrate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		ctx := ctxT(t)
		first := []db.Migration{createTable("0002_b", "b"), createTable("0001_a", "a")}
		got, err := db.Migrate(ctx, gdb, first)
		if err != nil {
			t.Fatal(err)
		}
		if want := "0001_a,0002_b"; strings.Join(got, ",") != want {
			t.Errorf("applied %v, want %s (ID order)", got, want)
		}

		got, err = db.Migrate(ctx, gdb, first)
		if err != nil || len(got) != 0 {
			t.Errorf("second run applied %v, %v; want nothing", got, err)
		}

		more := append(first, createTable("0003_c", "c"))
		got, err = db.Migrate(ctx, gdb, more)
		if err != nil || strings.Join(got, ",") != "0003_c" {
			t.Errorf("third run applied %v, %v; want [0003_c]", got, err)
		}
		for _, table := range []string{"a", "b", "c", "schema_migrations"} {
			if !gdb.Migrator().HasTable(table) {
				t.Errorf("table %s missing", table)
			}
		}
	})
}

func TestMigrateFailureRollsBack(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		ctx := ctxT(t)
		boom := errors.New("boom")
		migs := []db.Migration{
			createTable("0001_a", "a"),
			{ID: "0002_half", Up: func(tx *gorm.DB) error {
				if err := tx.Exec("CREATE TABLE half (id INTEGER PRIMARY KEY)").Error; err != nil {
					return err
				}
				return boom
			}},
			createTable("0003_c", "c"),
		}
		got, err := db.Migrate(ctx, gdb, migs)
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		if strings.Join(got, ",") != "0001_a" {
			t.Errorf("applied %v, want [0001_a]", got)
		}
		// MySQL commits implicitly around DDL, so there the table survives the failure.
		if gdb.Migrator().HasTable("half") && db.Dialect(gdb) != db.DialectMySQL {
			t.Error("failed migration left its table behind")
		}
		if gdb.Migrator().HasTable("c") {
			t.Error("migration after the failed one ran")
		}
		ids, err := db.AppliedMigrations(ctx, gdb)
		if err != nil || strings.Join(ids, ",") != "0001_a" {
			t.Errorf("recorded %v, %v; want [0001_a]", ids, err)
		}
	})
}

func TestMigrateRejectsBadList(t *testing.T) {
	up := func(*gorm.DB) error { return nil }
	tests := []struct {
		name string
		migs []db.Migration
	}{
		{"empty id", []db.Migration{{ID: "", Up: up}}},
		{"no up", []db.Migration{{ID: "0001"}}},
		{"duplicate", []db.Migration{{ID: "0001", Up: up}, {ID: "0001", Up: up}}},
	}
	gdb := dbtest.Open(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := db.Migrate(ctxT(t), gdb, tt.migs); !errors.Is(err, db.ErrInvalidMigrations) {
				t.Errorf("err = %v, want ErrInvalidMigrations", err)
			}
		})
	}
}

// TestMigrateConcurrent starts several migrators at once, as nodes of a cluster do, and
// checks that every step ran exactly once.
func TestMigrateConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		ctx := ctxT(t)
		var runs [3]atomic.Int32
		var migs []db.Migration
		for i := range runs {
			migs = append(migs, db.Migration{ID: fmt.Sprintf("%04d", i), Up: func(tx *gorm.DB) error {
				runs[i].Add(1)
				return tx.Exec(fmt.Sprintf("CREATE TABLE t%d (id INTEGER PRIMARY KEY)", i)).Error
			}})
		}
		const workers = 4
		var wg sync.WaitGroup
		var total atomic.Int32
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				got, err := db.Migrate(ctx, gdb, migs)
				total.Add(int32(len(got)))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		for i := range runs {
			if n := runs[i].Load(); n != 1 {
				t.Errorf("migration %d ran %d times", i, n)
			}
		}
		if n := total.Load(); n != int32(len(migs)) {
			t.Errorf("callers reported %d applied, want %d", n, len(migs))
		}
	})
}

type item struct {
	ID   int64
	Name string `gorm:"size:64;not null;uniqueIndex"`
	N    int
}

var itemMigration = db.Migration{ID: "0001_items", Up: func(tx *gorm.DB) error {
	// Frozen copy of the model, as migrations must not depend on live models.
	type item struct {
		ID   int64
		Name string `gorm:"size:64;not null;uniqueIndex"`
		N    int
	}
	return tx.Migrator().CreateTable(&item{})
}}

func TestIsUniqueViolation(t *testing.T) {
	if db.IsUniqueViolation(nil) || db.IsUniqueViolation(errors.New("x")) {
		t.Error("plain errors reported as unique violations")
	}
	if !db.IsUniqueViolation(fmt.Errorf("wrapped: %w", gorm.ErrDuplicatedKey)) {
		t.Error("gorm.ErrDuplicatedKey not recognised")
	}
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		if err := gdb.Create(&item{ID: 1, Name: "a"}).Error; err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			row  item
			want bool
		}{
			{"duplicate unique column", item{ID: 2, Name: "a"}, true},
			{"duplicate primary key", item{ID: 1, Name: "b"}, true},
			{"fresh row", item{ID: 3, Name: "c"}, false},
		}
		for _, tt := range tests {
			err := gdb.Create(&tt.row).Error
			if got := db.IsUniqueViolation(err); got != tt.want {
				t.Errorf("%s: IsUniqueViolation(%v) = %v, want %v", tt.name, err, got, tt.want)
			}
		}
		err := gdb.Exec("INSERT INTO items (id, name) VALUES (9, NULL)").Error
		if err == nil || db.IsUniqueViolation(err) {
			t.Errorf("NOT NULL violation: err = %v, IsUniqueViolation = true", err)
		}
	}, itemMigration)
}

// TestConcurrentWriteTransactions checks that read-modify-write transactions racing on
// one row serialize instead of failing with SQLITE_BUSY or losing updates.
func TestConcurrentWriteTransactions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		ctx := ctxT(t)
		if err := gdb.Create(&item{ID: 1, Name: "counter"}).Error; err != nil {
			t.Fatal(err)
		}
		const writers = 20
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for range writers {
			wg.Go(func() {
				errs <- gdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					// PostgreSQL needs the row lock; SQLite drops the clause because its
					// immediate transactions already hold the database's write lock.
					var it item
					if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&it, 1).Error; err != nil {
						return err
					}
					return tx.Model(&it).Update("n", it.N+1).Error
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		var it item
		if err := gdb.First(&it, 1).Error; err != nil {
			t.Fatal(err)
		}
		if it.N != writers {
			t.Errorf("n = %d, want %d", it.N, writers)
		}
	}, itemMigration)
}

func TestLoggerHidesParameters(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gdb, err := db.Open("sqlite:"+filepath.Join(t.TempDir(), "log.db"), "", log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(gdb)
	if _, err := db.Migrate(ctxT(t), gdb, []db.Migration{itemMigration}); err != nil {
		t.Fatal(err)
	}
	buf.Reset()

	var it item
	if err := gdb.Where("name = ?", "hunter2").First(&it).Error; !errors.Is(err, gorm.ErrRecordNotFound) {
		t.Fatalf("err = %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("record not found was logged: %s", buf.String())
	}

	err = gdb.Exec("INSERT INTO no_such_table (secret) VALUES (?)", "hunter2").Error
	if err == nil {
		t.Fatal("insert into a missing table succeeded")
	}
	out := buf.String()
	if !strings.Contains(out, "db: query failed") || !strings.Contains(out, "no_such_table") {
		t.Errorf("failed query not logged: %s", out)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("log contains a parameter value: %s", out)
	}
}
