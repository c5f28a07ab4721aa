package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onstagehq/onstage/internal/config"
)

// These tests run real `onstage serve` processes, built from this package into a temporary
// directory, against the shared PostgreSQL, Redis and NATS.

type proc struct {
	t    *testing.T
	addr string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clusterEnv returns what a node of a cluster needs besides its defaults, or skips the test.
func clusterEnv(t *testing.T) []string {
	t.Helper()
	dsn, redisURL, natsURL := os.Getenv("ONSTAGE_TEST_POSTGRES_DSN"), os.Getenv("ONSTAGE_TEST_REDIS_URL"), os.Getenv("ONSTAGE_TEST_NATS_URL")
	if dsn == "" || redisURL == "" || natsURL == "" {
		t.Skip("set ONSTAGE_TEST_POSTGRES_DSN, ONSTAGE_TEST_REDIS_URL and ONSTAGE_TEST_NATS_URL to run nodes as processes")
	}
	return []string{"ONSTAGE_DATABASE_DSN=" + freshSchema(t, dsn), "ONSTAGE_REDIS_URL=" + redisURL,
		"ONSTAGE_NATS_URL=" + natsURL, "ONSTAGE_CLUSTER_DRAIN_TIMEOUT=0s", "ONSTAGE_HTTP_SHUTDOWN_TIMEOUT=3s"}
}

// binary builds this command into a temporary directory of t (the build cache makes the
// second build cheap).
func binary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "onstage")
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return path
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProc runs `onstage serve` in dir (its ./data is the default data dir) on a free port.
func startProc(t *testing.T, bin, dir string, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, addr: freePort(t), out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Dir = dir
	p.cmd.Env = append(append(os.Environ()[:0:0], "PATH="+os.Getenv("PATH"), "HOME="+dir, "ONSTAGE_HTTP_ADDR="+p.addr), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) ready(within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exited (%v):\n%s", p.err, p.out)
		}
		if resp, err := http.Get("http://" + p.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v:\n%s", within, p.out)
}

func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Two nodes on one host with default settings (no node_id, one data dir) are two nodes of
// one cluster, not one node twice.
func TestTwoDefaultNodesOnOneHost(t *testing.T) {
	env := clusterEnv(t)
	bin, dir := binary(t), t.TempDir()
	a := startProc(t, bin, dir, env...)
	if err := a.ready(60 * time.Second); err != nil {
		t.Fatalf("first node: %v", err)
	}
	b := startProc(t, bin, dir, env...)
	if err := b.ready(60 * time.Second); err != nil {
		t.Fatalf("second node: %v", err)
	}
	idA, idB := config.DefaultNodeID(a.addr, "./data"), config.DefaultNodeID(b.addr, "./data")
	if idA == idB {
		t.Fatalf("both nodes default to the id %q", idA)
	}
	opts, err := redis.ParseURL(os.Getenv("ONSTAGE_TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	for _, id := range []string{idA, idB} {
		n, err := rdb.Exists(ctx, "onstage:node:"+id).Result()
		if err != nil || n != 1 {
			t.Fatalf("registry entry of %s: exists=%d, %v", id, n, err)
		}
	}
	for _, p := range []*proc{a, b} {
		if p.exited() {
			t.Fatalf("node on %s exited:\n%s", p.addr, p.out)
		}
	}
}

// Two processes with one explicit node_id never both run: the second refuses to start and
// names the first; once the first is killed, a new process takes the id over.
func TestDuplicateNodeIDRefused(t *testing.T) {
	env := clusterEnv(t)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	env = append(env, "ONSTAGE_NODE_ID=twin-"+hex.EncodeToString(rnd[:]))
	bin, dir := binary(t), t.TempDir()
	first := startProc(t, bin, dir, env...)
	if err := first.ready(60 * time.Second); err != nil {
		t.Fatalf("first node: %v", err)
	}
	second := startProc(t, bin, dir, env...)
	select {
	case <-second.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the second node with the same id still runs:\n%s", second.out)
	}
	if out := second.out.String(); second.err == nil || !strings.Contains(out, first.addr) || !strings.Contains(out, "node id") {
		t.Fatalf("second node: exit %v, output does not name the first node (%s):\n%s", second.err, first.addr, out)
	}
	if err := first.ready(5 * time.Second); err != nil {
		t.Fatalf("first node after the refusal: %v", err)
	}

	// kill -9: the id is free once the dead node's claim lapses.
	_ = first.cmd.Process.Kill()
	<-first.done
	third := startProc(t, bin, dir, env...)
	if err := third.ready(60 * time.Second); err != nil {
		t.Fatalf("a node taking over a dead node's id: %v", err)
	}
}
