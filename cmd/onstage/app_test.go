package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db"
)

// node is one running onstage process-equivalent: the real object graph serving on a real port.
type node struct {
	t       *testing.T
	base    string
	app     *App
	cleanup func()
	done    chan struct{}
}

func testConfig(t *testing.T, dataDir string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.ShutdownTimeout = 5 * time.Second
	return cfg
}

func startNode(t *testing.T, cfg config.Config) *node {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app, cleanup, err := initApp(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("initApp: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		cleanup()
		t.Fatal(err)
	}
	n := &node{t: t, base: "http://" + ln.Addr().String(), app: app, cleanup: cleanup, done: make(chan struct{})}
	go func() { defer close(n.done); _ = app.Server.Serve(ln) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	if n.app == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.app.Shutdown(ctx)
	_ = n.app.Server.Shutdown(ctx)
	<-n.done
	n.cleanup()
	n.app = nil
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r resp) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (n *node) do(method, path, token string, body any) resp {
	n.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, n.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func expect(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.errCode() != code) {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
}

// TestSkeletonFlow is the walking skeleton's "done when", run against the real object graph:
// register → login → refresh (old token refused) → me → lockout → guest, bad input, and a
// restart that keeps users and the signing secret.
func TestSkeletonFlow(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { skeletonFlow(t, func(cfg *config.Config) {}) })
	t.Run("postgres+redis", func(t *testing.T) {
		dsn, redisURL := os.Getenv("ONSTAGE_TEST_POSTGRES_DSN"), os.Getenv("ONSTAGE_TEST_REDIS_URL")
		if dsn == "" || redisURL == "" {
			t.Skip("set ONSTAGE_TEST_POSTGRES_DSN and ONSTAGE_TEST_REDIS_URL to run against PostgreSQL and Redis")
		}
		schemaDSN := freshSchema(t, dsn)
		skeletonFlow(t, func(cfg *config.Config) { cfg.Database.DSN = schemaDSN; cfg.Redis.URL = redisURL })
	})
}

// freshSchema creates an empty PostgreSQL schema for one test and returns a DSN that uses it.
func freshSchema(t *testing.T, dsn string) string {
	t.Helper()
	gdb, err := db.Open(dsn, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("test_app_%d", time.Now().UnixNano())
	if err := gdb.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gdb.Exec("DROP SCHEMA " + schema + " CASCADE")
		_ = db.Close(gdb)
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

func skeletonFlow(t *testing.T, configure func(*config.Config)) {
	dataDir := t.TempDir()
	cfgFor := func() config.Config { cfg := testConfig(t, dataDir); configure(&cfg); return cfg }
	n := startNode(t, cfgFor())
	email := fmt.Sprintf("ann-%d@example.com", time.Now().UnixNano())

	expect(t, n.do("GET", "/healthz", "", nil), 200, "")
	expect(t, n.do("GET", "/readyz", "", nil), 200, "")

	expect(t, n.do("POST", "/api/v1/auth/register", "", map[string]any{
		"email": email, "password": "correct horse", "display_name": "Ann"}), 201, "")
	login := n.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "correct horse"})
	expect(t, login, 200, "")
	access, _ := login.body["access_token"].(string)
	refresh, _ := login.body["refresh_token"].(string)
	if access == "" || refresh == "" {
		t.Fatalf("login body %s", login.raw)
	}
	rotated := n.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh})
	expect(t, rotated, 200, "")
	expect(t, n.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh}), 401, "")
	me := n.do("GET", "/api/v1/users/me", access, nil)
	expect(t, me, 200, "")
	if me.body["email"] != email {
		t.Fatalf("me = %s", me.raw)
	}
	expect(t, n.do("GET", "/api/v1/users/me", "", nil), 401, "unauthorized")
	expect(t, n.do("GET", "/api/v1/users/me", access+"x", nil), 401, "unauthorized")

	bad := map[string]any{"email": email, "password": "wrong password"}
	for i := 0; i < 5; i++ {
		r := n.do("POST", "/api/v1/auth/login", "", bad)
		if r.status != 401 {
			t.Fatalf("bad login %d: %d %s", i+1, r.status, r.raw)
		}
	}
	locked := n.do("POST", "/api/v1/auth/login", "", bad)
	expect(t, locked, 429, "")
	if locked.header.Get("Retry-After") == "" {
		t.Fatal("lockout without Retry-After")
	}
	guest := n.do("POST", "/api/v1/auth/guest", "", map[string]any{"display_name": "Visitor"})
	expect(t, guest, 200, "")

	// Bad input gets a 4xx in the error shape, never a 5xx.
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/api/v1/auth/register", `{"email":`, 400},
		{"POST", "/api/v1/auth/register", `{"email":1,"password":"x","display_name":"y"}`, 400},
		{"POST", "/api/v1/auth/register", `{"email":"a@b.c","password":"xxxxxxxx","display_name":"y","admin":true}`, 400},
		{"POST", "/api/v1/auth/register", `[]`, 400},
		{"POST", "/api/v1/auth/login", `{"email":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
		{"GET", "/api/v1/no/such/route", ``, 404},
		{"GET", "/nothing-here", ``, 404},
		{"DELETE", "/api/v1/auth/login", ``, 405},
	} {
		r := n.do(tc.method, tc.path, "", tc.body)
		if r.status != tc.status || r.errCode() == "" {
			t.Errorf("%s %s %.40q: got %d %s, want %d with the error shape", tc.method, tc.path, tc.body, r.status, r.raw, tc.status)
		}
	}

	// Metrics are labelled by route pattern.
	metrics := n.do("GET", "/metrics", "", nil)
	if !strings.Contains(metrics.raw, `route="/api/v1/auth/login"`) || strings.Contains(metrics.raw, "no/such/route") ||
		!strings.Contains(metrics.raw, "process_cpu_seconds_total") || !strings.Contains(metrics.raw, "go_goroutines") ||
		!strings.Contains(metrics.raw, "onstage_sfu_forwarded_packets_total") || !strings.Contains(metrics.raw, "onstage_ws_connections") ||
		!strings.Contains(metrics.raw, "onstage_sfu_fanout_queue_dropped_total") || !strings.Contains(metrics.raw, "onstage_sfu_fanout_stale_dropped_total") {
		t.Fatalf("metrics missing route patterns or collectors")
	}

	// Restart on the same data dir: the user and the secret survive, so old tokens stay valid.
	n.stop()
	n2 := startNode(t, cfgFor())
	expect(t, n2.do("GET", "/api/v1/users/me", access, nil), 200, "")
	expect(t, n2.do("POST", "/api/v1/auth/register", "", map[string]any{
		"email": email, "password": "correct horse", "display_name": "Ann"}), 409, "")
}

// TestOpenAPICoversRoutes keeps the OpenAPI document and the router in step.
func TestOpenAPICoversRoutes(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()))
	mux, ok := n.app.Server.Handler.(chi.Routes)
	if !ok {
		t.Fatalf("handler is %T, not a chi router", n.app.Server.Handler)
	}
	var served []string
	_ = chi.Walk(mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/api/v1/") {
			served = append(served, method+" "+strings.TrimSuffix(route, "/"))
		}
		return nil
	})
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	r := n.do("GET", "/api/openapi.json", "", nil)
	if err := json.Unmarshal([]byte(r.raw), &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(served)
	sort.Strings(documented)
	if fmt.Sprint(served) != fmt.Sprint(documented) {
		t.Fatalf("router and OpenAPI differ:\nserved     %v\ndocumented %v", served, documented)
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

// TestNodesReportLoad checks what this node publishes to the cluster's registry, through the
// admin route: its load, and the draining state once a drain starts.
func TestNodesReportLoad(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	n := startNode(t, cfg)
	iss, err := provideIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin := n.superAdmin(cfg, "root")
	player, _, _ := iss.Mint(authn.Identity{UserID: "p-1", Role: authn.RolePlayer, Name: "P"}, time.Minute)
	expect(t, n.do("GET", "/api/v1/nodes", player, nil), 403, "")
	self := func() map[string]any {
		r := n.do("GET", "/api/v1/nodes", admin, nil)
		expect(t, r, 200, "")
		items, _ := r.body["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("nodes %s", r.raw)
		}
		node := items[0].(map[string]any)
		for _, k := range []string{"id", "rooms", "participants", "bitrate_bps", "cpu_load", "draining"} {
			if _, ok := node[k]; !ok {
				t.Fatalf("node entry without %s: %s", k, r.raw)
			}
		}
		return node
	}
	if self()["draining"] != false {
		t.Fatal("a fresh node reports draining")
	}
	n.app.hub.StartDrain()
	if self()["draining"] != true {
		t.Fatal("a draining node does not report it")
	}
}
