package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/check"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openBus(t *testing.T, p bus.Params) *bus.Bus {
	t.Helper()
	b, err := bus.Open(ctxT(t), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// runServer starts a standalone NATS server standing in for an external cluster;
// port 0 picks a free one.
func runServer(t *testing.T, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("external server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

type event struct {
	Room string `json:"room"`
	Kind string `json:"kind"`
}

func TestEmbeddedRoundTrip(t *testing.T) {
	dir := t.TempDir()
	b := openBus(t, bus.Params{DataDir: dir, Name: "node-1"})
	if !b.Embedded() {
		t.Error("Embedded() = false with no URL")
	}
	if url := b.ClientURL(); !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Errorf("ClientURL = %q, want a loopback URL", url)
	}
	if err := b.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	msgs := make(chan *nats.Msg, 1)
	sub, err := b.Conn().ChanSubscribe("rooms.*.events", msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	want := event{Room: "r1", Kind: "join"}
	if err := b.PublishJSON("rooms.r1.events", want); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		var got event
		if err := json.Unmarshal(m.Data, &got); err != nil || got != want {
			t.Errorf("received %s (%v), want %+v", m.Data, err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}

	// JetStream is on and stores under <DataDir>/nats.
	js, err := b.Conn().JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "ROOMS", Subjects: []string{"rooms.>"}, Storage: nats.FileStorage}); err != nil {
		t.Fatalf("add stream: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nats")); err != nil {
		t.Errorf("JetStream store: %v", err)
	}
}

func TestPublishJSONRejectsUnencodable(t *testing.T) {
	b := openBus(t, bus.Params{DataDir: t.TempDir()})
	if err := b.PublishJSON("x", make(chan int)); err == nil {
		t.Error("published a channel")
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// Nothing listens on port 1.
	if b, err := bus.Open(ctx, bus.Params{URL: "nats://127.0.0.1:1"}); err == nil {
		b.Close()
		t.Fatal("connected to a closed port")
	}
}

// TestExternalOutage connects to a separate server by URL, takes that server away and
// brings it back on the same port: Ping must report the outage and the recovery.
func TestExternalOutage(t *testing.T) {
	ext := runServer(t, 0)
	port := ext.Addr().(*net.TCPAddr).Port
	b := openBus(t, bus.Params{URL: ext.ClientURL(), Name: "node-2"})
	if b.Embedded() {
		t.Error("Embedded() = true with a URL")
	}
	if err := b.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	ext.Shutdown()
	ext.WaitForShutdown()
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := b.Ping(ctx); !errors.Is(err, bus.ErrNotConnected) {
			return fmt.Errorf("Ping with the server gone = %v, want ErrNotConnected", err)
		}
		return nil
	})

	runServer(t, port)
	check.ForErr(t, 15*time.Second, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return b.Ping(ctx)
	})

	// The recovered connection carries messages again.
	sub, err := b.Conn().SubscribeSync("after")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PublishJSON("after", event{Kind: "ok"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("no message after reconnect: %v", err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := range 3 {
		b, err := bus.Open(ctxT(t), bus.Params{DataDir: t.TempDir(), Name: fmt.Sprint("leak-", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Conn().Subscribe("x", func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		if err := b.PublishJSON("x", i); err != nil {
			t.Fatal(err)
		}
		b.Close()
		b.Close() // idempotent
	}
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Errorf("%d goroutines before Open, %d after Close", before, n)
		}
		return nil
	})
}

func TestTempStoreRemovedOnClose(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	b, err := bus.Open(ctxT(t), bus.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 1 {
		t.Errorf("expected one temporary store, found %d entries", len(entries))
	}
	b.Close()
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("temporary store left behind: %v", entries)
	}
}
