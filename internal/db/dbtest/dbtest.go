// Package dbtest gives tests real, throwaway databases: a SQLite file in the test's temp
// directory always, a private schema on the PostgreSQL server named by
// ONSTAGE_TEST_POSTGRES_DSN when that variable is set, and a private database on the MySQL
// or MariaDB server named by ONSTAGE_TEST_MYSQL_DSN when that one is set. Each database is
// migrated with the caller's migrations and removed when the test ends, so tests in
// different packages can share one server in parallel.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
)

// PostgresEnv names the environment variable holding the PostgreSQL DSN for tests.
const PostgresEnv = "ONSTAGE_TEST_POSTGRES_DSN"

// MySQLEnv names the environment variable holding the MySQL DSN for tests, in the form
// db.Open takes: mysql://user:pass@tcp(host:3306)/db. The user must be allowed to create
// and drop databases.
const MySQLEnv = "ONSTAGE_TEST_MYSQL_DSN"

// Open returns a fresh SQLite database in t.TempDir() with migs applied. It is closed
// when the test ends.
func Open(t testing.TB, migs ...db.Migration) *gorm.DB {
	t.Helper()
	gdb, err := db.Open("sqlite:"+filepath.Join(t.TempDir(), "test.db"), "", quietLogger())
	if err != nil {
		t.Fatalf("dbtest: open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close(gdb) })
	migrate(t, gdb, migs)
	return gdb
}

// Postgres returns a database bound to a new, empty PostgreSQL schema with migs applied,
// or skips the test when ONSTAGE_TEST_POSTGRES_DSN is not set. The schema is dropped when
// the test ends.
func Postgres(t testing.TB, migs ...db.Migration) *gorm.DB {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		t.Skipf("dbtest: %s not set; skipping PostgreSQL", PostgresEnv)
	}
	schema := "test_" + randomHex(t, 8)
	admin := mustOpenPostgres(t, dsn)
	if err := admin.Exec(`CREATE SCHEMA "` + schema + `"`).Error; err != nil {
		_ = db.Close(admin)
		t.Fatalf("dbtest: create schema: %v", err)
	}
	_ = db.Close(admin)

	gdb := mustOpenPostgres(t, withSearchPath(t, dsn, schema))
	t.Cleanup(func() {
		_ = db.Close(gdb)
		admin, err := db.Open(dsn, "", quietLogger())
		if err != nil {
			t.Errorf("dbtest: drop schema %s: %v", schema, err)
			return
		}
		defer db.Close(admin)
		if err := admin.Exec(`DROP SCHEMA IF EXISTS "` + schema + `" CASCADE`).Error; err != nil {
			t.Errorf("dbtest: drop schema %s: %v", schema, err)
		}
	})
	migrate(t, gdb, migs)
	return gdb
}

// MySQL returns a database bound to a new, empty MySQL database with migs applied, or
// skips the test when ONSTAGE_TEST_MYSQL_DSN is not set. The database is dropped when the
// test ends.
func MySQL(t testing.TB, migs ...db.Migration) *gorm.DB {
	t.Helper()
	dsn := os.Getenv(MySQLEnv)
	if dsn == "" {
		t.Skipf("dbtest: %s not set; skipping MySQL", MySQLEnv)
	}
	name := "test_" + randomHex(t, 8)
	admin := mustOpen(t, "mysql", dsn)
	if err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4").Error; err != nil {
		_ = db.Close(admin)
		t.Fatalf("dbtest: create database: %v", err)
	}
	_ = db.Close(admin)

	gdb := mustOpen(t, "mysql", withDatabase(t, dsn, name))
	t.Cleanup(func() {
		_ = db.Close(gdb)
		admin, err := db.Open(dsn, "", quietLogger())
		if err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
			return
		}
		defer db.Close(admin)
		if err := admin.Exec("DROP DATABASE IF EXISTS `" + name + "`").Error; err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	migrate(t, gdb, migs)
	return gdb
}

// Each runs fn as a subtest against SQLite ("sqlite"), against PostgreSQL ("postgres")
// when ONSTAGE_TEST_POSTGRES_DSN is set and against MySQL ("mysql") when
// ONSTAGE_TEST_MYSQL_DSN is set, each on a fresh database with migs applied.
func Each(t *testing.T, fn func(t *testing.T, gdb *gorm.DB), migs ...db.Migration) {
	t.Helper()
	t.Run(db.DialectSQLite, func(t *testing.T) { fn(t, Open(t, migs...)) })
	t.Run(db.DialectPostgres, func(t *testing.T) { fn(t, Postgres(t, migs...)) })
	t.Run(db.DialectMySQL, func(t *testing.T) { fn(t, MySQL(t, migs...)) })
}

func mustOpenPostgres(t testing.TB, dsn string) *gorm.DB {
	t.Helper()
	return mustOpen(t, "postgres", dsn)
}

func mustOpen(t testing.TB, what, dsn string) *gorm.DB {
	t.Helper()
	gdb, err := db.Open(dsn, "", quietLogger())
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", what, err)
	}
	// Many test packages share one server with a limited number of connections.
	sqlDB, err := gdb.DB()
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", what, err)
	}
	sqlDB.SetMaxOpenConns(4)
	sqlDB.SetMaxIdleConns(2)
	return gdb
}

// withSearchPath points every connection opened from dsn at schema; the driver sends
// unknown URL parameters as run-time settings when a connection starts.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("dbtest: %s is not a URL", PostgresEnv)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// withDatabase points a mysql:// DSN at another database on the same server.
func withDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(dsn, "mysql://")
	if !ok {
		t.Fatalf("dbtest: %s must start with mysql://", MySQLEnv)
	}
	cfg, err := gomysql.ParseDSN(rest)
	if err != nil {
		t.Fatalf("dbtest: %s is not a valid MySQL DSN", MySQLEnv)
	}
	cfg.DBName = name
	return "mysql://" + cfg.FormatDSN()
}

func migrate(t testing.TB, gdb *gorm.DB, migs []db.Migration) {
	t.Helper()
	if len(migs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.Migrate(ctx, gdb, migs); err != nil {
		t.Fatalf("dbtest: migrate: %v", err)
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("dbtest: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// quietLogger keeps expected query errors (tests provoke plenty) out of test output.
func quietLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}
