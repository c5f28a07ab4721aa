package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/onstagehq/onstage/internal/config"
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
