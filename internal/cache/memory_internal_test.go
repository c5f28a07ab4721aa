package cache

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestMemoryFull(t *testing.T) {
	m := newMemory(2, time.Hour)
	defer m.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if err := m.Set(ctx, k, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"set new key", func() error { return m.Set(ctx, "c", nil, 0) }, ErrFull},
		{"setnx new key", func() error { _, err := m.SetNX(ctx, "c", nil, 0); return err }, ErrFull},
		{"incr new key", func() error { _, err := m.Incr(ctx, "c", 0); return err }, ErrFull},
		{"overwrite existing key", func() error { return m.Set(ctx, "a", []byte("w"), 0) }, nil},
	}
	for _, tt := range tests {
		if err := tt.op(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	// An expired entry makes room for a new key.
	if err := m.Set(ctx, "b", []byte("v"), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := m.Set(ctx, "c", []byte("v"), 0); err != nil {
		t.Errorf("set after expiry: %v", err)
	}
}

func TestMemoryJanitorSweeps(t *testing.T) {
	m := newMemory(DefaultMaxEntries, 10*time.Millisecond)
	defer m.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if err := m.Set(ctx, k, []byte("v"), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Set(ctx, "keep", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for m.Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d entries, want 1", m.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMemoryCloseStopsJanitor(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 10 {
		m := NewMemory()
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		_ = m.Close() // idempotent
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after Close", before, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
