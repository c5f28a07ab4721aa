package db

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSQLitePath(t *testing.T) {
	tests := []struct {
		dsn, dataDir string
		wantPath     string
		wantQuery    string
		wantErr      error
	}{
		{dsn: "", dataDir: "data", wantPath: filepath.Join("data", "onstage.db")},
		{dsn: "sqlite:", dataDir: "/var/lib/x", wantPath: "/var/lib/x/onstage.db"},
		{dsn: "", dataDir: "", wantPath: "onstage.db"},
		{dsn: "sqlite:/tmp/a.db", wantPath: "/tmp/a.db"},
		{dsn: "sqlite:///tmp/a.db", wantPath: "/tmp/a.db"},
		{dsn: "sqlite:rel/a.db", wantPath: "rel/a.db"},
		{dsn: "file:/tmp/b.db?_txlock=exclusive", wantPath: "/tmp/b.db", wantQuery: "_txlock=exclusive"},
		{dsn: "file::memory:", wantErr: ErrUnsupportedDSN},
		{dsn: "sqlite:?x=1", wantErr: ErrUnsupportedDSN},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			path, query, err := sqlitePath(tt.dsn, tt.dataDir)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if path != tt.wantPath || query != tt.wantQuery {
				t.Errorf("got (%q, %q), want (%q, %q)", path, query, tt.wantPath, tt.wantQuery)
			}
		})
	}
}

func TestMySQLConfig(t *testing.T) {
	cfg, err := mysqlConfig("mysql://app:p@ss/w?rd@tcp(db.example:3307)/onstage?timeout=5s&parseTime=false&loc=Local")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "app" || cfg.Passwd != "p@ss/w?rd" || cfg.Net != "tcp" || cfg.Addr != "db.example:3307" || cfg.DBName != "onstage" {
		t.Errorf("parsed %s:%s@%s(%s)/%s", cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName)
	}
	if !cfg.ParseTime || cfg.Loc != time.UTC {
		t.Errorf("parseTime = %v, loc = %v; want true, UTC", cfg.ParseTime, cfg.Loc)
	}
	if cfg.Timeout != 5*time.Second {
		t.Errorf("timeout = %v, want the caller's 5s", cfg.Timeout)
	}
	if got := cfg.Params["time_zone"]; got != "'+00:00'" {
		t.Errorf("time_zone = %q, want '+00:00'", got)
	}
	if !strings.Contains(cfg.FormatDSN(), "charset=utf8mb4") {
		t.Errorf("charset missing from %s", cfg.FormatDSN())
	}

	cfg, err = mysqlConfig("mysql://app@tcp(h:3306)/d?charset=latin1&time_zone=%27Europe%2FBerlin%27")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg.FormatDSN(), "charset=latin1") || cfg.Params["time_zone"] != "'Europe/Berlin'" {
		t.Errorf("caller's charset or time_zone not kept: %s", cfg.FormatDSN())
	}
}
