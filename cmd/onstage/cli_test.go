package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/mail"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String(), err
}

func TestCLI(t *testing.T) {
	t.Setenv("ONSTAGE_DATA_DIR", t.TempDir())
	t.Setenv("ONSTAGE_LOG_LEVEL", "error")

	if out, err := runCLI(t, "version"); err != nil || !strings.HasPrefix(out, "onstage ") {
		t.Fatalf("version: %q %v", out, err)
	}
	var ue usageError
	for _, args := range [][]string{{"bogus"}, {"user"}, {"user", "create"}, {"token"}, {"migrate", "extra"}, {"serve", "--nope"}} {
		if _, err := runCLI(t, args...); !errors.As(err, &ue) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
	out, err := runCLI(t, "migrate")
	if err != nil || !strings.Contains(out, "0001_auth_users") {
		t.Fatalf("migrate: %q %v", out, err)
	}
	if out, _ := runCLI(t, "migrate"); !strings.Contains(out, "applied 0 migration") {
		t.Fatalf("second migrate applied again: %q", out)
	}
	if out, err := runCLI(t, "user", "create", "--email", "root@example.com", "--password", "admin-pass", "--name", "Root", "--admin"); err != nil || !strings.Contains(out, "with role super_admin") {
		t.Fatalf("user create: %q %v", out, err)
	}
	if _, err := runCLI(t, "user", "create", "--email", "x@example.com", "--password", "short", "--name", "X"); err == nil {
		t.Fatal("short password accepted")
	}
	tok, err := runCLI(t, "token", "--user", "root@example.com")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := provideIssuer(mustLoad(t))
	if err != nil {
		t.Fatal(err)
	}
	id, err := iss.Verify(strings.TrimSpace(tok))
	if err != nil || id.Role != "admin" {
		t.Fatalf("minted token: %+v %v", id, err)
	}
	if _, err := runCLI(t, "token", "--user", "nobody@example.com"); err == nil {
		t.Fatal("token for an unknown user")
	}
}

// TestCLIMailOutbox: without SMTP a link reaches the operator through `mail outbox`, not
// the log.
func TestCLIMailOutbox(t *testing.T) {
	t.Setenv("ONSTAGE_DATA_DIR", t.TempDir())
	t.Setenv("ONSTAGE_LOG_LEVEL", "error")

	var ue usageError
	for _, args := range [][]string{{"mail"}, {"mail", "inbox"}, {"mail", "outbox", "--limit", "0"},
		{"mail", "outbox", "--limit", "1000"}, {"mail", "outbox", "--limit", "x"}, {"mail", "outbox", "extra"}} {
		if _, err := runCLI(t, args...); !errors.As(err, &ue) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
	if _, err := runCLI(t, "mail", "outbox"); err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("mail outbox before migrate: err = %v, want a hint to migrate", err)
	}
	if _, err := runCLI(t, "migrate"); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "mail", "outbox"); err != nil || out != "no messages\n" {
		t.Fatalf("empty outbox: %q %v", out, err)
	}

	ctx := context.Background()
	gdb, cleanup, err := openDatabase(ctx, mustLoad(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			cleanup()
		}
	})
	o := mail.NewOutbox(gdb, slog.New(slog.DiscardHandler))
	for _, m := range []mail.Message{
		{To: "ada@example.com", Subject: "Confirm your email address", Text: "open http://localhost:8080/verify-email?code=fake-verify-token\n"},
		{To: "bob@example.com", Subject: "Hi", Text: "for bob"},
		{To: "ada@example.com", Subject: "Reset your password", Text: "open http://localhost:8080/reset-password?code=fake-reset-token\n"},
	} {
		if err := o.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	cleanup() // the CLI opens the database itself
	closed = true

	out, err := runCLI(t, "mail", "outbox", "--to", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	reset, verify := strings.Index(out, "code=fake-reset-token"), strings.Index(out, "code=fake-verify-token")
	if reset < 0 || verify < 0 || reset > verify || strings.Contains(out, "for bob") {
		t.Fatalf("mail outbox --to ada: want both of ada's links, newest first, and not bob's:\n%s", out)
	}
	if !strings.HasPrefix(out, "#3 ") || !strings.Contains(out, " to ada@example.com: Reset your password\n") ||
		!strings.Contains(out, "fake-reset-token\n\n#1 ") {
		t.Fatalf("mail outbox format:\n%s", out)
	}
	if out, err := runCLI(t, "mail", "outbox", "--limit", "1"); err != nil || strings.Count(out, "\n#") != 0 || !strings.Contains(out, "fake-reset-token") {
		t.Fatalf("mail outbox --limit 1: %q %v", out, err)
	}
	if out, err := runCLI(t, "mail", "outbox", "--to", "nobody@example.com"); err != nil || out != "no messages\n" {
		t.Fatalf("mail outbox --to nobody: %q %v", out, err)
	}
}

func mustLoad(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load("", os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestGCPercent(t *testing.T) {
	cfg := config.Default()
	noEnv := func(string) (string, bool) { return "", false }
	gogc := func(k string) (string, bool) { return "200", k == "GOGC" }
	off := cfg
	off.GCPercent = 0
	for _, c := range []struct {
		name   string
		cfg    config.Config
		lookup func(string) (string, bool)
		want   int
		ok     bool
	}{
		{"default", cfg, noEnv, config.DefaultGCPercent, true},
		{"GOGC wins", cfg, gogc, 0, false},
		{"0 leaves the runtime's", off, noEnv, 0, false},
	} {
		if got, ok := gcPercent(c.cfg, c.lookup); got != c.want || ok != c.ok {
			t.Errorf("%s: gcPercent = %d, %v; want %d, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
