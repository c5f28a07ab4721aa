package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ErrInvalidMigrations is returned by Migrate when the migration list itself is wrong:
// an empty or duplicate ID, or a missing Up function.
var ErrInvalidMigrations = errors.New("db: invalid migrations")

// Migration is one versioned, append-only schema step. Up must describe the schema with
// models declared inside the migration (or plain SQL), never with the live models, so an
// old migration keeps doing exactly what it did when it shipped.
type Migration struct {
	// ID orders migrations lexically and is recorded once applied, e.g. "0001_users".
	ID string
	// Up applies the step inside the transaction tx.
	Up func(tx *gorm.DB) error
}

// migrationsTable records applied migrations. It is created with portable SQL rather
// than AutoMigrate so its shape never depends on a Go struct.
const migrationsTable = "schema_migrations"

// migrationLockClass is the first key of the PostgreSQL advisory lock that serializes
// migrations ("onst"); the second key is derived from the schema, so databases that
// keep several schemas side by side (tests do) do not wait on each other.
const migrationLockClass = 0x6f6e7374

// mysqlMigrationLock names the MySQL user lock that serializes migrations. User locks are
// server-wide, so the name includes (a hash of) the database to keep databases apart.
const mysqlMigrationLock = "CONCAT('onstage_migrate_', MD5(DATABASE()))"

// mysqlLockWait is how long, in seconds, GET_LOCK waits; the context still cuts it short.
const mysqlLockWait = 24 * 60 * 60

// Migrate applies the migrations in migs that are not yet recorded, in ID order, each in
// its own transaction together with its row in schema_migrations, and returns the IDs it
// applied. Nodes starting together may call it at the same time: on PostgreSQL each
// transaction holds an advisory lock and re-checks whether the step was applied meanwhile;
// on MySQL a user lock (GET_LOCK) is held on the transaction's connection from before
// BEGIN until after COMMIT; on SQLite the write transaction itself is the lock.
//
// MySQL commits implicitly around DDL, so there a step that fails after creating a table
// leaves that table behind (its ID is still not recorded); PostgreSQL and SQLite roll the
// whole step back.
func Migrate(ctx context.Context, db *gorm.DB, migs []Migration) ([]string, error) {
	sorted, err := sortMigrations(migs)
	if err != nil {
		return nil, err
	}
	db = db.WithContext(ctx)
	err = lockedTransaction(db, func(tx *gorm.DB) error {
		return tx.Exec("CREATE TABLE IF NOT EXISTS " + migrationsTable +
			" (id VARCHAR(255) NOT NULL PRIMARY KEY, applied_at TIMESTAMP NOT NULL)").Error
	})
	if err != nil {
		return nil, fmt.Errorf("db: create %s: %w", migrationsTable, err)
	}

	done, err := appliedMigrations(db)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range sorted {
		if done[m.ID] {
			continue
		}
		ran := false
		err := lockedTransaction(db, func(tx *gorm.DB) error {
			// Another node may have applied it while this one waited for the lock.
			var n int64
			if err := tx.Table(migrationsTable).Where("id = ?", m.ID).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if err := m.Up(tx); err != nil {
				return err
			}
			ran = true
			return tx.Exec("INSERT INTO "+migrationsTable+" (id, applied_at) VALUES (?, ?)", m.ID, time.Now().UTC()).Error
		})
		if err != nil {
			return applied, fmt.Errorf("db: migration %s: %w", m.ID, err)
		}
		if ran {
			applied = append(applied, m.ID)
		}
	}
	return applied, nil
}

// AppliedMigrations returns the IDs recorded in schema_migrations, in ID order.
func AppliedMigrations(ctx context.Context, db *gorm.DB) ([]string, error) {
	var ids []string
	err := db.WithContext(ctx).Table(migrationsTable).Order("id").Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("db: read %s: %w", migrationsTable, err)
	}
	return ids, nil
}

func appliedMigrations(db *gorm.DB) (map[string]bool, error) {
	ids, err := AppliedMigrations(db.Statement.Context, db)
	if err != nil {
		return nil, err
	}
	done := make(map[string]bool, len(ids))
	for _, id := range ids {
		done[id] = true
	}
	return done, nil
}

func sortMigrations(migs []Migration) ([]Migration, error) {
	sorted := slices.Clone(migs)
	slices.SortFunc(sorted, func(a, b Migration) int { return strings.Compare(a.ID, b.ID) })
	for i, m := range sorted {
		if m.ID == "" {
			return nil, fmt.Errorf("%w: empty ID", ErrInvalidMigrations)
		}
		if m.Up == nil {
			return nil, fmt.Errorf("%w: %s has no Up", ErrInvalidMigrations, m.ID)
		}
		if i > 0 && sorted[i-1].ID == m.ID {
			return nil, fmt.Errorf("%w: duplicate ID %s", ErrInvalidMigrations, m.ID)
		}
	}
	return sorted, nil
}

// lockedTransaction runs fn in a transaction that holds the migration lock.
//
// PostgreSQL takes a transaction-scoped advisory lock. MySQL's user locks belong to the
// session and survive COMMIT, so the lock is taken on a pinned connection before BEGIN (the
// transaction's snapshot then sees whatever the previous holder committed) and released
// after COMMIT. On SQLite the connection already holds the database's write lock
// (transactions begin immediate), which is stronger.
func lockedTransaction(db *gorm.DB, fn func(tx *gorm.DB) error) error {
	switch Dialect(db) {
	case DialectPostgres:
		return db.Transaction(func(tx *gorm.DB) error {
			err := tx.Exec("SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))", migrationLockClass).Error
			if err != nil {
				return err
			}
			return fn(tx)
		})
	case DialectMySQL:
		return db.Connection(func(conn *gorm.DB) error {
			// Every statement starts from a clean session on the pinned connection, so
			// the lock query's scan target does not leak into the migration's statements.
			session := func() *gorm.DB { return conn.Session(&gorm.Session{NewDB: true}) }
			var got sql.NullInt64
			err := session().Raw("SELECT GET_LOCK("+mysqlMigrationLock+", ?)", mysqlLockWait).Scan(&got).Error
			if err != nil {
				return err
			}
			if !got.Valid || got.Int64 != 1 {
				return errors.New("timed out waiting for the migration lock")
			}
			defer func() {
				// Release even when the caller's context has ended; a connection returned
				// to the pool still holding the lock would block every other migrator.
				release := session().WithContext(context.WithoutCancel(conn.Statement.Context))
				if release.Exec("DO RELEASE_LOCK("+mysqlMigrationLock+")").Error != nil {
					// Closing the session is the other way to release it.
					if c, ok := conn.Statement.ConnPool.(*sql.Conn); ok {
						_ = c.Raw(func(any) error { return driver.ErrBadConn })
					}
				}
			}()
			return session().Transaction(fn)
		})
	default:
		return db.Transaction(fn)
	}
}
