package db

import (
	"errors"

	"github.com/glebarez/go-sqlite"
	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// SQLite extended result codes for the two ways a uniqueness rule can fail.
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// MySQL error numbers for a duplicate key.
const (
	mysqlDupEntry            = 1062 // ER_DUP_ENTRY
	mysqlDupEntryWithKeyName = 1586 // ER_DUP_ENTRY_WITH_KEY_NAME
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
	if myErr, ok := errors.AsType[*gomysql.MySQLError](err); ok {
		return myErr.Number == mysqlDupEntry || myErr.Number == mysqlDupEntryWithKeyName
	}
	return false
}
