package rooms

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedis returns a client on ONSTAGE_TEST_REDIS_URL and a key prefix unique to the test,
// whose keys are removed when the test ends; it skips the test without Redis.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("ONSTAGE_TEST_REDIS_URL")
	if url == "" {
		t.Skip("set ONSTAGE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run the cluster tests against Redis")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("ONSTAGE_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at ONSTAGE_TEST_REDIS_URL does not answer: %v", err)
	}
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	prefix := "onstagetest:" + hex.EncodeToString(buf) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var keys []string
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			_ = c.Del(ctx, keys...).Err()
		}
		_ = c.Close()
	})
	return c, prefix
}

// closedRedis returns a client on a loopback port where nothing listens.
func closedRedis(t *testing.T) *redis.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// syncBuffer is a log sink that tests read while goroutines write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func bufLogger() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func fixedLoad(n NodeInfo) func() NodeInfo { return func() NodeInfo { return n } }

func TestRegistrySingleNodeListsItself(t *testing.T) {
	reg := NewRegistry(RegistryParams{NodeID: "solo", HTTPAddr: ":8080", Advertise: []string{"10.0.0.1"},
		Load: fixedLoad(NodeInfo{Rooms: 2, Participants: 5})})
	reg.Start() // no-op without Redis
	defer reg.Close()
	nodes, err := reg.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].ID != "solo" || nodes[0].Rooms != 2 || nodes[0].Participants != 5 ||
		nodes[0].HTTPAddr != ":8080" || len(nodes[0].Advertise) != 1 || nodes[0].UpdatedAt.IsZero() {
		t.Fatalf("nodes = %+v", nodes)
	}
	reg.SetLoad(fixedLoad(NodeInfo{Rooms: 9, Advertise: []string{"192.0.2.1"}}))
	if n := reg.Self(); n.Rooms != 9 || n.Advertise[0] != "192.0.2.1" || n.ID != "solo" {
		t.Fatalf("after SetLoad: %+v", n)
	}
	if reg.Clustered() {
		t.Fatal("a registry without Redis claims to be clustered")
	}
	var typedNil *redis.Client
	if NewRegistry(RegistryParams{Redis: typedNil, NodeID: "x"}).Clustered() {
		t.Fatal("a nil *redis.Client is taken for a Redis")
	}
}

func TestRegistryPublishesAndExpires(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx := context.Background()
	mk := func(id string, parts int) *Registry {
		return NewRegistry(RegistryParams{Redis: rdb, Prefix: prefix, NodeID: id, Interval: 50 * time.Millisecond,
			TTL: 300 * time.Millisecond, Advertise: []string{"127.0.0.1"}, HTTPAddr: "127.0.0.1:808" + id[len(id)-1:],
			Load: fixedLoad(NodeInfo{Participants: parts, BitrateBps: 1e6, CPULoad: 0.25})})
	}
	a, b := mk("node-1", 3), mk("node-2", 7)
	a.Start()
	b.Start()
	nodes, err := a.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].ID != "node-1" || nodes[1].ID != "node-2" || nodes[1].Participants != 7 ||
		nodes[0].CPULoad != 0.25 || nodes[0].HTTPAddr != "127.0.0.1:8081" {
		t.Fatalf("nodes = %+v", nodes)
	}
	ttl, err := rdb.PTTL(ctx, prefix+"node:node-1").Result()
	if err != nil || ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("node key TTL = %v, %v; want within (0, 300ms]", ttl, err)
	}

	// Entries stay while published: wait several TTLs.
	time.Sleep(700 * time.Millisecond)
	if nodes, _ = b.Nodes(ctx); len(nodes) != 2 {
		t.Fatalf("after 700ms of publishing: %d nodes", len(nodes))
	}

	// A clean Close removes the entry at once.
	a.Close()
	if nodes, _ = b.Nodes(ctx); len(nodes) != 1 || nodes[0].ID != "node-2" {
		t.Fatalf("after node-1 closed: %+v", nodes)
	}

	// A node that stops publishing without Close (it died) drops out within TTL.
	close(b.stop)
	<-b.done
	deadline := time.Now().Add(time.Second)
	for {
		nodes, err = a.Nodes(ctx) // a closed registry can still read
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a dead node is still listed after 1s: %+v", nodes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRegistryRedisDown(t *testing.T) {
	log, buf := bufLogger()
	reg := NewRegistry(RegistryParams{Redis: closedRedis(t), NodeID: "n1", Interval: 20 * time.Millisecond, Log: log})
	reg.Start()
	time.Sleep(100 * time.Millisecond)
	reg.Close()
	if _, err := reg.Nodes(context.Background()); err == nil {
		t.Fatal("Nodes with Redis down returned no error")
	}
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || strings.Count(out, "cannot publish") != 1 {
		t.Fatalf("want exactly one publish warning per outage, log:\n%s", out)
	}
}

func TestCPUSampler(t *testing.T) {
	s := NewCPUSampler()
	end := time.Now().Add(150 * time.Millisecond)
	x := 0
	for time.Now().Before(end) {
		x++
	}
	if l := s.Load(); l <= 0 || l > 1 {
		t.Fatalf("CPU load after a busy loop = %v, want in (0, 1]", l)
	}
}
