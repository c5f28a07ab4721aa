package db

import (
	"errors"
	"path/filepath"
	"testing"
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
