package sfu

import (
	"sync"

	"github.com/pion/logging"
)

// pionLoggers hands every Pion component the same logger per scope. Pion
// asks its factory for a logger per scope and component on every peer
// connection (ice, dtls, srtp, pc, ortc, mux, sctp, ...), and the default
// factory builds each from scratch: five log.Loggers and a writer apiece,
// several kilobytes per connection that all log to the same place at the
// same level. The scopes are a small fixed set, so the cache stays small.
type pionLoggers struct {
	base logging.LoggerFactory // builds a scope's logger the first time

	mu   sync.Mutex
	byID map[string]logging.LeveledLogger
}

func newPionLoggers() *pionLoggers {
	// The default factory keeps Pion's usual configuration: stderr, and the
	// levels set by the PION_LOG_* environment variables.
	return &pionLoggers{base: logging.NewDefaultLoggerFactory(), byID: map[string]logging.LeveledLogger{}}
}

// NewLogger returns the scope's shared logger. Pion's default loggers are
// safe for concurrent use.
func (f *pionLoggers) NewLogger(scope string) logging.LeveledLogger {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.byID[scope]
	if !ok {
		l = f.base.NewLogger(scope)
		f.byID[scope] = l
	}
	return l
}
