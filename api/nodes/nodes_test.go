package nodes

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/redis/go-redis/v9"

	"github.com/onstagehq/onstage/api"
	"github.com/onstagehq/onstage/api/auth"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/db/dbtest"
	"github.com/onstagehq/onstage/rooms"
)

func newServer(t *testing.T, reg *rooms.Registry) (*httptest.Server, *authn.Issuer) {
	t.Helper()
	iss, err := authn.NewIssuer([]byte("0123456789abcdef0123456789abcdef-test"))
	if err != nil {
		t.Fatal(err)
	}
	mw := authn.Middleware{Issuer: iss, Reject: api.Reject}
	// Real accounts, one per legacy role; seeding gives each its role (admin: super_admin).
	gdb := dbtest.Open(t, append(auth.Migrations(), authz.Migrations()...)...)
	for _, role := range []authn.Role{authn.RolePlayer, authn.RoleStreamer, authn.RoleAgency, authn.RoleAdmin} {
		err := gdb.Exec("INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at) VALUES (?, ?, 'x', 'x', ?, ?, ?)",
			"u-"+string(role), string(role)+"@example.com", string(role), time.Now(), time.Now()).Error
		if err != nil {
			t.Fatal(err)
		}
	}
	az := authz.NewService(authz.ServiceParams{Store: authz.NewStore(gdb), Cache: cache.NewMemory()})
	if err := az.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(mw.Authenticate)
		NewHandler(reg, az).Mount(r)
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, iss
}

func get(t *testing.T, srv *httptest.Server, iss *authn.Issuer, role authn.Role) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/nodes", nil)
	if role != "" {
		tok, _, err := iss.Mint(authn.Identity{UserID: "u-" + string(role), Role: role}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("status %d: undecodable body: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

func TestListNodesSingleNode(t *testing.T) {
	reg := rooms.NewRegistry(rooms.RegistryParams{NodeID: "solo", HTTPAddr: "127.0.0.1:8080",
		Load: func() rooms.NodeInfo {
			return rooms.NodeInfo{Rooms: 1, Participants: 3, BitrateBps: 1500000, CPULoad: 0.1}
		}})
	srv, iss := newServer(t, reg)

	if code, body := get(t, srv, iss, ""); code != http.StatusUnauthorized || body["error"] == nil {
		t.Fatalf("anonymous: %d %v", code, body)
	}
	for _, role := range []authn.Role{authn.RoleGuest, authn.RolePlayer, authn.RoleStreamer, authn.RoleAgency} {
		if code, body := get(t, srv, iss, role); code != http.StatusForbidden || body["error"] == nil {
			t.Fatalf("%s: %d %v", role, code, body)
		}
	}
	code, body := get(t, srv, iss, authn.RoleAdmin)
	if code != http.StatusOK {
		t.Fatalf("admin: %d %v", code, body)
	}
	items, ok := body["items"].([]any)
	if !ok || len(items) != 1 {
		t.Fatalf("items = %v", body)
	}
	n := items[0].(map[string]any)
	if n["id"] != "solo" || n["participants"] != float64(3) || n["bitrate_bps"] != float64(1500000) ||
		n["http_addr"] != "127.0.0.1:8080" || n["draining"] != false || n["updated_at"] == nil {
		t.Fatalf("node = %v", n)
	}
	if _, ok := n["advertise"].([]any); !ok {
		t.Fatalf("advertise is not an array: %v", n)
	}
}

func TestListNodesCluster(t *testing.T) {
	url := os.Getenv("ONSTAGE_TEST_REDIS_URL")
	if url == "" {
		t.Skip("set ONSTAGE_TEST_REDIS_URL to list nodes from Redis")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := "onstagetest:nodes:" + time.Now().Format("150405.000000000") + ":"
	var regs []*rooms.Registry
	for _, id := range []string{"n1", "n2", "n3"} {
		reg := rooms.NewRegistry(rooms.RegistryParams{Redis: rdb, Prefix: prefix, NodeID: id, Interval: time.Second})
		reg.Start()
		regs = append(regs, reg)
	}
	t.Cleanup(func() {
		for _, r := range regs {
			r.Close()
		}
		_ = rdb.Del(context.Background(), prefix+"nodes").Err()
	})
	srv, iss := newServer(t, regs[0])
	code, body := get(t, srv, iss, authn.RoleAdmin)
	items, _ := body["items"].([]any)
	if code != http.StatusOK || len(items) != 3 {
		t.Fatalf("admin: %d %v", code, body)
	}
}

func TestListNodesRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	srv, iss := newServer(t, rooms.NewRegistry(rooms.RegistryParams{Redis: rdb, NodeID: "n1"}))
	code, body := get(t, srv, iss, authn.RoleAdmin)
	if code != http.StatusServiceUnavailable || body["error"] == nil {
		t.Fatalf("admin with Redis down: %d %v", code, body)
	}
}
