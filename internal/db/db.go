// Package db owns the relational database connection: choosing the driver from a DSN,
// tuning its connection pool, versioned schema migrations and the translation of
// driver-specific errors (such as unique violations) into questions callers can ask.
// Domain packages own their tables and models; this package only owns how they get there.
package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// ErrUnsupportedDSN is returned by Open when the DSN names a database this build cannot open.
var ErrUnsupportedDSN = errors.New("db: unsupported DSN")

// Dialect names returned by Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
	DialectMySQL    = "mysql"
)

// defaultSQLiteFile is the database file used inside the data directory when the DSN is empty.
const defaultSQLiteFile = "onstage.db"

// Open opens the database named by dsn.
//
//   - "" or "sqlite:" opens SQLite at <dataDir>/onstage.db, creating dataDir if needed.
//   - "sqlite:/path/file.db" or "file:/path/file.db?..." opens SQLite at that path.
//   - "postgres://..." or "postgresql://..." opens PostgreSQL.
//   - "mysql://user:pass@tcp(host:3306)/db?params" opens MySQL or MariaDB.
//
// Anything else fails with ErrUnsupportedDSN. Errors never contain the DSN's password.
func Open(dsn, dataDir string, log *slog.Logger) (*gorm.DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scheme, _, _ := strings.Cut(dsn, ":")
	switch strings.ToLower(scheme) {
	case "", "sqlite", "file":
		return openSQLite(dsn, dataDir, log)
	case "postgres", "postgresql":
		return openPostgres(dsn, log)
	case "mysql":
		return openMySQL(dsn, log)
	default:
		// Only the scheme is echoed: the rest may hold credentials.
		return nil, fmt.Errorf("%w: scheme %q (want sqlite:, file:, postgres:// or mysql://)", ErrUnsupportedDSN, scheme)
	}
}

// sqlitePath resolves the file a SQLite DSN points at and any query parameters the
// caller supplied (for file: URIs).
func sqlitePath(dsn, dataDir string) (path, query string, err error) {
	switch {
	case dsn == "" || dsn == "sqlite:":
		if dataDir == "" {
			dataDir = "."
		}
		return filepath.Join(dataDir, defaultSQLiteFile), "", nil
	case strings.HasPrefix(dsn, "sqlite:"):
		path = strings.TrimPrefix(dsn, "sqlite:")
		// Accept sqlite:///abs/path and sqlite://rel/path as well as sqlite:/abs/path.
		path = strings.TrimPrefix(path, "//")
	default: // file:
		path = strings.TrimPrefix(dsn, "file:")
		path = strings.TrimPrefix(path, "//")
	}
	path, query, _ = strings.Cut(path, "?")
	if path == "" || path == ":memory:" {
		// An in-memory database is one per connection, so a pool would see several
		// unrelated databases; refuse rather than lose data silently.
		return "", "", fmt.Errorf("%w: sqlite needs a file path", ErrUnsupportedDSN)
	}
	return path, query, nil
}

func openSQLite(dsn, dataDir string, log *slog.Logger) (*gorm.DB, error) {
	path, extra, err := sqlitePath(dsn, dataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("db: create data directory: %w", err)
	}
	q, err := url.ParseQuery(extra)
	if err != nil {
		return nil, fmt.Errorf("db: sqlite DSN query: %w", err)
	}
	// WAL lets readers run while one writer writes. busy_timeout makes a second writer
	// wait instead of failing. _txlock=immediate takes the write lock at BEGIN, so two
	// write transactions queue on busy_timeout; with the default deferred mode a read
	// that upgrades to a write fails with SQLITE_BUSY at once and the timeout cannot help.
	// The driver ignores _txlock when _time_format is set, so that one is never added.
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	if q.Get("_txlock") == "" {
		q.Set("_txlock", "immediate")
	}
	gdb, err := gorm.Open(sqlite.Open(path+"?"+q.Encode()), gormConfig(log))
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	// SQLite writes one at a time anyway; a few connections let reads proceed beside a
	// write and keep a goroutine holding a transaction from starving everyone else.
	sqlDB.SetMaxOpenConns(4)
	sqlDB.SetMaxIdleConns(4)
	sqlDB.SetConnMaxLifetime(0)
	return gdb, nil
}

func openPostgres(dsn string, log *slog.Logger) (*gorm.DB, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Parse errors, and the driver's, quote the whole DSN, password included.
		return nil, errors.New("db: postgres DSN is not a valid URL")
	}
	where := u.Redacted()
	password, _ := u.User.Password()
	gdb, err := gorm.Open(postgres.Open(dsn), gormConfig(log))
	if err != nil {
		return nil, fmt.Errorf("db: open postgres %s: %w", where, redact(err, password))
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("db: open postgres %s: %w", where, redact(err, password))
	}
	sqlDB.SetMaxOpenConns(25)
	sqlDB.SetMaxIdleConns(10)
	// Recycle connections so a failover or a pgbouncer restart is picked up eventually.
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	return gdb, nil
}

// mysqlConfig turns "mysql://user:pass@tcp(host:port)/db?params" into the MySQL driver's
// configuration. The caller's parameters are kept; those the schema and the stores rely
// on are forced: times are parsed into time.Time and read and written in UTC, and text
// is utf8mb4 unless the caller picked a charset.
func mysqlConfig(dsn string) (*gomysql.Config, error) {
	rest := dsn[len("mysql:"):]
	if !strings.HasPrefix(rest, "//") {
		return nil, fmt.Errorf("%w: mysql DSN must start with mysql://", ErrUnsupportedDSN)
	}
	rest = rest[2:]
	// The driver's own format: [user[:password]@][net[(addr)]]/dbname[?params]. The query
	// starts at the first "?" after the last "/", as a password may hold either.
	base, query := rest, ""
	if slash := strings.LastIndex(rest, "/"); slash >= 0 {
		if q := strings.Index(rest[slash:], "?"); q >= 0 {
			base, query = rest[:slash+q], rest[slash+q+1:]
		}
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return nil, errors.New("db: mysql DSN has an invalid query string")
	}
	params.Set("parseTime", "true")
	params.Set("loc", "UTC")
	if params.Get("charset") == "" {
		params.Set("charset", "utf8mb4")
	}
	// The server converts TIMESTAMP columns and NOW() from the session time zone.
	if params.Get("time_zone") == "" {
		params.Set("time_zone", "'+00:00'")
	}
	cfg, err := gomysql.ParseDSN(base + "?" + params.Encode())
	if err != nil {
		// The driver's errors may quote the DSN, password included.
		return nil, fmt.Errorf("%w: mysql DSN is not valid (want mysql://user:pass@tcp(host:3306)/db)", ErrUnsupportedDSN)
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("%w: mysql DSN names no database", ErrUnsupportedDSN)
	}
	return cfg, nil
}

func openMySQL(dsn string, log *slog.Logger) (*gorm.DB, error) {
	cfg, err := mysqlConfig(dsn)
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf("%s@%s(%s)/%s", cfg.User, cfg.Net, cfg.Addr, cfg.DBName)
	gdb, err := gorm.Open(mysql.New(mysql.Config{DSNConfig: cfg}), gormConfig(log))
	if err != nil {
		return nil, fmt.Errorf("db: open mysql %s: %w", where, redact(err, cfg.Passwd))
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("db: open mysql %s: %w", where, redact(err, cfg.Passwd))
	}
	sqlDB.SetMaxOpenConns(25)
	sqlDB.SetMaxIdleConns(10)
	// Stay well below the server's wait_timeout and pick up a failover eventually.
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	return gdb, nil
}

func gormConfig(log *slog.Logger) *gorm.Config {
	return &gorm.Config{
		Logger: NewLogger(log, 200*time.Millisecond),
		// Timestamps are stored in UTC so every database compares them the same way.
		NowFunc: func() time.Time { return time.Now().UTC() },
	}
}

// redact replaces a secret in err's text. The result deliberately does not wrap err:
// unwrapping would hand the unredacted text back to whoever prints it.
func redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "xxxxx"))
}

// Dialect reports which database db talks to: DialectSQLite, DialectPostgres or DialectMySQL.
func Dialect(db *gorm.DB) string {
	switch name := db.Dialector.Name(); name {
	case "sqlite", "sqlite3":
		return DialectSQLite
	case "postgres", "postgresql":
		return DialectPostgres
	case "mysql":
		return DialectMySQL
	default:
		return name
	}
}

// Ping checks that the database answers.
func Ping(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("db: ping: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("db: ping: %w", err)
	}
	return nil
}

// Close closes the pool behind db.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("db: close: %w", err)
	}
	return sqlDB.Close()
}
