// Command onstage runs an onstage node: the REST API, the WebSocket signaling hub, the SFU and
// the browser client in one binary. With no configuration it starts a working single node on
// :8080 with SQLite, an embedded NATS server and an in-process cache.
//
//	onstage [serve]                      run the server (the default)
//	onstage migrate                      apply database migrations and exit
//	onstage user create --email E --password P --name N [--admin]
//	onstage token --user EMAIL_OR_ID    print a development access token
//	onstage mail outbox [--to EMAIL] [--limit N]  print the newest mail kept without SMTP
//	onstage version
//
// Every subcommand takes --config FILE; ONSTAGE_* environment variables override the file.
package main

//go:generate go tool wire

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "onstage:", err)
		if e, ok := apperr.As(err); ok {
			for field, why := range e.Fields {
				fmt.Fprintf(os.Stderr, "  %s: %s\n", field, why)
			}
		}
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: onstage [serve|migrate|user create|token|mail outbox|version] [--config FILE] [flags]`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "user" {
		if len(args) == 0 || args[0] != "create" {
			return usageError{"usage: onstage user create --email E --password P --name N [--admin]"}
		}
		cmd, args = "user create", args[1:]
	}
	if cmd == "mail" {
		if len(args) == 0 || args[0] != "outbox" {
			return usageError{mailOutboxUsage}
		}
		cmd, args = "mail outbox", args[1:]
	}
	fs := flag.NewFlagSet("onstage "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML config file (ONSTAGE_* environment variables override it)")
	var (
		email, password, name, user, to *string
		admin                           *bool
		limit                           *int
	)
	switch cmd {
	case "serve", "migrate", "version":
	case "user create":
		email = fs.String("email", "", "the user's email")
		password = fs.String("password", "", "the user's password (at least 8 characters)")
		name = fs.String("name", "", "the user's display name")
		admin = fs.Bool("admin", false, "make the user a super_admin, holding every permission (only possible here)")
	case "token":
		user = fs.String("user", "", "email or id of the user")
	case "mail outbox":
		to = fs.String("to", "", "only mail to this address")
		limit = fs.Int("limit", 10, fmt.Sprintf("print at most this many messages (1–%d)", maxOutboxLimit))
	default:
		return usageError{fmt.Sprintf("unknown command %q\n%s", cmd, usage)}
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %v\n%s", fs.Args(), usage)}
	}
	if cmd == "mail outbox" && (*limit < 1 || *limit > maxOutboxLimit) {
		return usageError{fmt.Sprintf("--limit must be 1–%d\n%s", maxOutboxLimit, mailOutboxUsage)}
	}
	if cmd == "version" {
		fmt.Fprintln(stdout, "onstage", version)
		return nil
	}
	cfg, err := config.Load(*configPath, os.LookupEnv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	slog.SetDefault(log)

	switch cmd {
	case "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		return migrate(ctx, cfg, log, stdout)
	case "user create":
		role := authn.RolePlayer
		if *admin {
			role = authn.RoleAdmin
		}
		return createUser(ctx, cfg, log, stdout, *email, *password, *name, role)
	case "token":
		return mintToken(ctx, cfg, log, stdout, *user)
	case "mail outbox":
		return mailOutbox(ctx, cfg, log, stdout, *to, *limit)
	}
	return nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// gcPercent is the collector target serve sets: gc_percent, unless it is 0 (the runtime's
// default) or the GOGC environment variable is set, which the runtime has applied already
// and an operator who set it expects to hold.
func gcPercent(cfg config.Config, lookup func(string) (string, bool)) (int, bool) {
	if _, set := lookup("GOGC"); set || cfg.GCPercent == 0 {
		return 0, false
	}
	return cfg.GCPercent, true
}

func logConfig(log *slog.Logger, cfg config.Config) {
	m := cfg.Masked()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		attrs = append(attrs, k, m[k])
	}
	log.Info("effective config", attrs...)
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg.NodeID = nodeID(cfg)
	logConfig(log, cfg)
	if pct, ok := gcPercent(cfg, os.LookupEnv); ok {
		debug.SetGCPercent(pct)
	}
	app, cleanup, err := initApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()

	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTP.Addr, err)
	}
	log.Info("onstage listening", "addr", ln.Addr().String(), "version", version, "node", app.NodeID)
	errc := make(chan error, 2)
	go func() { errc <- app.Server.Serve(ln) }()
	if app.Metrics != nil {
		mln, err := net.Listen("tcp", app.Metrics.Addr)
		if err != nil {
			_ = app.Server.Close()
			return fmt.Errorf("listen %s (http.metrics_addr): %w", app.Metrics.Addr, err)
		}
		log.Info("metrics listening", "addr", mln.Addr().String())
		go func() { errc <- app.Metrics.Serve(mln) }()
		// The metrics listener stays up until the very end, so the drain can be watched.
		defer func() { _ = app.Metrics.Close() }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	app.Drain()
	log.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	app.Shutdown(sctx)
	if err := app.Server.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	return nil
}

func migrate(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	gdb, cleanup, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()
	applied, err := db.Migrate(ctx, gdb, allMigrations())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s)\n", len(applied))
	for _, id := range applied {
		fmt.Fprintln(stdout, " ", id)
	}
	return nil
}
