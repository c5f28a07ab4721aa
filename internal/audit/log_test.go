package audit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// databases runs fn on SQLite, and on PostgreSQL and MySQL when the test environment names them.
func databases(t *testing.T, fn func(t *testing.T, gdb *gorm.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, dbtest.Open(t, Migrations()...)) })
	t.Run("postgres", func(t *testing.T) { fn(t, dbtest.Postgres(t, Migrations()...)) })
	t.Run("mysql", func(t *testing.T) { fn(t, dbtest.MySQL(t, Migrations()...)) })
}

// TestConcurrentAppendsFormOneChain: writers racing on several connections still produce ids
// without gaps, each row pointing at the one before.
func TestConcurrentAppendsFormOneChain(t *testing.T) {
	databases(t, func(t *testing.T, gdb *gorm.DB) {
		l := New(Params{DB: gdb})
		const writers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					_, err := l.Append(context.Background(), Entry{ActorID: fmt.Sprint("w", w), Module: "roles",
						Operation: "roles:create", Status: StatusSuccess, HTTPStatus: 201})
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		v, err := l.verify(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !v.OK || v.Rows != writers*each {
			t.Fatalf("verdict %+v, want ok with %d rows", v, writers*each)
		}
	})
}

func TestVerifyNamesTheFirstBrokenRow(t *testing.T) {
	databases(t, func(t *testing.T, gdb *gorm.DB) {
		l := New(Params{DB: gdb})
		for i := 0; i < 5; i++ {
			if _, err := l.Append(context.Background(), Entry{ActorID: "a", Module: "roles", Status: StatusSuccess, IP: "10.0.0.1"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name   string
			tamper func() error
			bad    int64
		}{
			{"edited field", func() error { return gdb.Exec("UPDATE admin_operation_logs SET ip = '10.9.9.9' WHERE id = 3").Error }, 3},
			{"deleted row", func() error { return gdb.Exec("DELETE FROM admin_operation_logs WHERE id = 2").Error }, 2},
		} {
			if err := tc.tamper(); err != nil {
				t.Fatal(err)
			}
			v, err := l.verify(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if v.OK || v.FirstBadID == nil || *v.FirstBadID != tc.bad {
				t.Fatalf("%s: verdict %+v, want first bad %d", tc.name, v, tc.bad)
			}
		}
	})
}

func TestArchiveKeepsTheChainVerifiable(t *testing.T) {
	databases(t, func(t *testing.T, gdb *gorm.DB) {
		now := time.Now()
		clock := func() time.Time { return now }
		dir := t.TempDir()
		l := New(Params{DB: gdb, Now: clock, ArchiveDir: dir, Retention: 24 * time.Hour})
		for i := 0; i < 3; i++ {
			if _, err := l.Append(context.Background(), Entry{ActorID: "old", Status: StatusSuccess}); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(48 * time.Hour)
		if _, err := l.Append(context.Background(), Entry{ActorID: "new", Status: StatusSuccess}); err != nil {
			t.Fatal(err)
		}
		n, err := l.Archive(context.Background())
		if err != nil || n != 3 {
			t.Fatalf("archived %d, %v; want 3", n, err)
		}
		v, err := l.verify(context.Background())
		if err != nil || !v.OK || v.Rows != 1 {
			t.Fatalf("after archive: %+v, %v", v, err)
		}
		f, err := os.Open(filepath.Join(dir, "audit-1-3.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		lines := 0
		for s := bufio.NewScanner(f); s.Scan(); {
			lines++
		}
		if lines != 3 {
			t.Fatalf("archive file has %d lines, want 3", lines)
		}
		if _, err := l.Append(context.Background(), Entry{ActorID: "newer", Status: StatusSuccess}); err != nil {
			t.Fatal(err)
		}
		if v, _ := l.verify(context.Background()); !v.OK || v.Rows != 2 {
			t.Fatalf("after another append: %+v", v)
		}
	})
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"name":"x","password":"p","nested":{"refresh_token":"t","ok":1}}`, `{"name":"x","nested":{"ok":1,"refresh_token":"[redacted]"},"password":"[redacted]"}`},
		{`not json`, `[8 bytes, not JSON]`},
		{``, ``},
	} {
		if got := redact([]byte(tc.in)); got != tc.want {
			t.Errorf("redact(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
