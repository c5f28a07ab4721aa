package db

import (
	"errors"
	"strings"

	"github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// SQLite extended result codes for the two ways a uniqueness rule can fail.
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// IsUniqueViolation reports whether err says an insert or update broke a unique index
// or primary key, on any supported database. Callers use it to turn a race between two
// creators of the same row into a domain error ("email already registered").
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code == "23505"
	}
	if sqlErr, ok := errors.AsType[*sqlite.Error](err); ok {
		code := sqlErr.Code()
		return code == sqliteConstraintUnique || code == sqliteConstraintPrimaryKey
	}
	// MySQL's driver is not linked in; its duplicate-entry error is recognised by text.
	return strings.Contains(err.Error(), "Error 1062")
}
