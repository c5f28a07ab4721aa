package db

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Logger adapts gorm's logger to slog. It logs failed queries at error level and slow
// ones at warn level, always with placeholders instead of parameter values, because
// parameters carry password hashes, tokens and personal data. A missing record is an
// ordinary answer, not an error, and is not logged.
type Logger struct {
	log   *slog.Logger
	slow  time.Duration
	level logger.LogLevel
}

var (
	_ logger.Interface  = (*Logger)(nil)
	_ gorm.ParamsFilter = (*Logger)(nil)
)

// NewLogger returns a gorm logger writing to log; queries slower than slow are reported
// (0 turns slow-query reports off).
func NewLogger(log *slog.Logger, slow time.Duration) *Logger {
	return &Logger{log: log, slow: slow, level: logger.Warn}
}

// LogMode returns a copy of l at the given level.
func (l *Logger) LogMode(level logger.LogLevel) logger.Interface {
	c := *l
	c.level = level
	return &c
}

// Info logs gorm's informational messages.
func (l *Logger) Info(ctx context.Context, msg string, args ...any) {
	if l.level >= logger.Info {
		l.log.InfoContext(ctx, "gorm: "+msg, "args", args)
	}
}

// Warn logs gorm's warnings.
func (l *Logger) Warn(ctx context.Context, msg string, args ...any) {
	if l.level >= logger.Warn {
		l.log.WarnContext(ctx, "gorm: "+msg, "args", args)
	}
}

// Error logs gorm's errors.
func (l *Logger) Error(ctx context.Context, msg string, args ...any) {
	if l.level >= logger.Error {
		l.log.ErrorContext(ctx, "gorm: "+msg, "args", args)
	}
}

// ParamsFilter drops the parameter values so the SQL handed to Trace keeps its
// placeholders.
func (l *Logger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

// Trace reports a finished statement when it failed or was slow.
func (l *Logger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if l.level <= logger.Silent {
		return
	}
	elapsed := time.Since(begin)
	switch {
	case err != nil && l.level >= logger.Error && !errors.Is(err, gorm.ErrRecordNotFound):
		sql, rows := fc()
		l.log.ErrorContext(ctx, "db: query failed", "err", err, "elapsed", elapsed, "rows", rows, "sql", sql)
	case l.slow > 0 && elapsed > l.slow && l.level >= logger.Warn:
		sql, rows := fc()
		l.log.WarnContext(ctx, "db: slow query", "elapsed", elapsed, "threshold", l.slow, "rows", rows, "sql", sql)
	case l.level >= logger.Info:
		sql, rows := fc()
		l.log.DebugContext(ctx, "db: query", "elapsed", elapsed, "rows", rows, "sql", sql)
	}
}
