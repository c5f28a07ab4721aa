package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/onstagehq/onstage/api"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db"
)

// superAdmin creates a super admin the way an operator does (`onstage user create --admin`)
// and returns its access token.
func (n *node) superAdmin(cfg config.Config, name string) string {
	n.t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano())
	log := slog.New(slog.DiscardHandler)
	if err := createUser(context.Background(), cfg, log, io.Discard, email, "password-"+name, name, authn.RoleAdmin); err != nil {
		n.t.Fatalf("create super admin: %v", err)
	}
	r := n.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "password-" + name})
	expect(n.t, r, 200, "")
	return r.body["access_token"].(string)
}

// TestAdminFlow is the roles issue's walk-through: the super admin makes a reviewer role, Bob
// gets it, reads the audit log, cannot manage roles, loses it; the log shows all of it and
// notices an edited row.
func TestAdminFlow(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	n := startNode(t, cfg)
	root := n.superAdmin(cfg, "root")
	bob, bobID := n.login("bob")

	me := n.do("GET", "/api/v1/users/me", root, nil)
	expect(t, me, 200, "")
	if fmt.Sprint(me.body["roles"]) != "[super_admin]" || !strings.Contains(me.raw, `"roles:manage"`) {
		t.Fatalf("super admin me: %s", me.raw)
	}
	expect(t, n.do("GET", "/api/v1/admin/audit", bob, nil), 403, "forbidden")
	expect(t, n.do("POST", "/api/v1/admin/roles", root, map[string]any{
		"name": "reviewer", "description": "reads the audit log", "permissions": []string{"audit:read"}}), 201, "")
	expect(t, n.do("POST", "/api/v1/admin/users/"+bobID+"/roles", root, map[string]any{"role": "reviewer"}), 204, "")
	me = n.do("GET", "/api/v1/users/me", bob, nil)
	if !strings.Contains(me.raw, `"reviewer"`) || !strings.Contains(me.raw, `"audit:read"`) {
		t.Fatalf("bob me after grant: %s", me.raw)
	}
	expect(t, n.do("GET", "/api/v1/admin/audit", bob, nil), 200, "")
	expect(t, n.do("POST", "/api/v1/admin/roles", bob, map[string]any{"name": "evil", "permissions": []string{"roles:manage"},
		"password": "never-logged"}), 403, "forbidden")
	expect(t, n.do("DELETE", "/api/v1/admin/roles/reviewer", root, nil), 409, "role_assigned")
	expect(t, n.do("DELETE", "/api/v1/admin/users/"+bobID+"/roles/reviewer", root, nil), 204, "")
	expect(t, n.do("GET", "/api/v1/admin/audit", bob, nil), 403, "forbidden")

	// The last super admin stays, and cannot be locked.
	rootID := n.do("GET", "/api/v1/users/me", root, nil).body["id"].(string)
	expect(t, n.do("DELETE", "/api/v1/admin/users/"+rootID+"/roles/super_admin", root, nil), 409, "last_super_admin")
	expect(t, n.do("PUT", "/api/v1/admin/roles/super_admin", root, map[string]any{"permissions": []string{}}), 409, "system_role")

	// Lock and unlock: a locked account cannot log in.
	expect(t, n.do("POST", "/api/v1/admin/users/"+bobID+"/lock", root, nil), 204, "")
	users := n.do("GET", "/api/v1/admin/users?status=locked", root, nil)
	expect(t, users, 200, "")
	if users.body["total"] != float64(1) {
		t.Fatalf("locked users: %s", users.raw)
	}
	expect(t, n.do("POST", "/api/v1/admin/users/"+bobID+"/unlock", root, nil), 204, "")
	expect(t, n.do("POST", "/api/v1/admin/users/no-such-user/lock", root, nil), 404, "")

	// Bob's attempts, allowed and denied, with address and status.
	log := n.do("GET", "/api/v1/admin/audit?actor="+bobID, root, nil)
	expect(t, log, 200, "")
	var seen []string
	for _, it := range log.body["items"].([]any) {
		e := it.(map[string]any)
		if e["ip"] != "127.0.0.1" {
			t.Fatalf("row without the client address: %v", e)
		}
		if strings.Contains(fmt.Sprint(e["body"]), "never-logged") {
			t.Fatalf("a secret reached the log: %v", e)
		}
		seen = append(seen, fmt.Sprintf("%s %s %v", e["operation"], e["status"], e["http_status"]))
	}
	want := "[audit:read denied 403 role:create denied 403 audit:read success 200 audit:read denied 403]"
	if fmt.Sprint(seen) != want {
		t.Fatalf("bob's rows %v, want %s", seen, want)
	}
	expect(t, n.do("GET", "/api/v1/admin/audit?from=yesterday", root, nil), 400, "")

	verify := n.do("GET", "/api/v1/admin/audit/verify", root, nil)
	expect(t, verify, 200, "")
	if verify.body["ok"] != true {
		t.Fatalf("verify: %s", verify.raw)
	}
	// Someone with database access rewrites history.
	gdb, err := db.Open(cfg.Database.DSN, cfg.DataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(gdb)
	if err := gdb.Exec("UPDATE admin_operation_logs SET ip = '10.6.6.6' WHERE id = 3").Error; err != nil {
		t.Fatal(err)
	}
	verify = n.do("GET", "/api/v1/admin/audit/verify", root, nil)
	if verify.body["ok"] != false || verify.body["first_bad_id"] != float64(3) {
		t.Fatalf("verify after tampering: %s", verify.raw)
	}

	// An agent admin manages only the accounts it created (parent_id); others do not exist for it.
	agentAdmin, agentAdminID := n.login("aga")
	expect(t, n.do("POST", "/api/v1/admin/users/"+agentAdminID+"/roles", root, map[string]any{"role": "agent_admin"}), 204, "")
	_, childID := n.login("child")
	if err := gdb.Exec("UPDATE users SET parent_id = ? WHERE id = ?", agentAdminID, childID).Error; err != nil {
		t.Fatal(err)
	}
	mine := n.do("GET", "/api/v1/admin/users", agentAdmin, nil)
	expect(t, mine, 200, "")
	if mine.body["total"] != float64(1) || !strings.Contains(mine.raw, childID) {
		t.Fatalf("agent admin's users: %s", mine.raw)
	}
	expect(t, n.do("POST", "/api/v1/admin/users/"+childID+"/lock", agentAdmin, nil), 204, "")
	expect(t, n.do("POST", "/api/v1/admin/users/"+childID+"/unlock", agentAdmin, nil), 204, "")
	expect(t, n.do("POST", "/api/v1/admin/users/"+bobID+"/lock", agentAdmin, nil), 404, "not_found")
	expect(t, n.do("POST", "/api/v1/admin/roles", agentAdmin, map[string]any{"name": "x"}), 403, "forbidden")
}

// TestAdminRevokeSeenByAnotherNode: two nodes share PostgreSQL and Redis; a grant and a revoke
// made through one are in force on the other at its very next request.
func TestAdminRevokeSeenByAnotherNode(t *testing.T) {
	dsn, redisURL := os.Getenv("ONSTAGE_TEST_POSTGRES_DSN"), os.Getenv("ONSTAGE_TEST_REDIS_URL")
	if dsn == "" || redisURL == "" {
		t.Skip("set ONSTAGE_TEST_POSTGRES_DSN and ONSTAGE_TEST_REDIS_URL to run two nodes")
	}
	schemaDSN := freshSchema(t, dsn)
	cfgFor := func(id string) config.Config {
		cfg := testConfig(t, t.TempDir())
		cfg.NodeID = id
		cfg.Database.DSN = schemaDSN
		cfg.Redis.URL = redisURL
		cfg.Auth.JWTSecret = "a-shared-secret-of-at-least-32-characters"
		if u := os.Getenv("ONSTAGE_TEST_NATS_URL"); u != "" {
			cfg.NATS.URL = u
		}
		return cfg
	}
	cfg1 := cfgFor(fmt.Sprintf("roles-a-%d", time.Now().UnixNano()))
	n1 := startNode(t, cfg1)
	n2 := startNode(t, cfgFor(fmt.Sprintf("roles-b-%d", time.Now().UnixNano())))
	root := n1.superAdmin(cfg1, "root")
	bob, bobID := n1.login("bob")
	role := fmt.Sprintf("reviewer_%d", time.Now().UnixNano())

	// Node 2 warms its snapshot of Bob: no permission.
	expect(t, n2.do("GET", "/api/v1/admin/audit", bob, nil), 403, "")
	expect(t, n1.do("POST", "/api/v1/admin/roles", root, map[string]any{"name": role, "permissions": []string{"audit:read"}}), 201, "")
	expect(t, n1.do("POST", "/api/v1/admin/users/"+bobID+"/roles", root, map[string]any{"role": role}), 204, "")
	expect(t, n2.do("GET", "/api/v1/admin/audit", bob, nil), 200, "")
	expect(t, n1.do("DELETE", "/api/v1/admin/users/"+bobID+"/roles/"+role, root, nil), 204, "")
	expect(t, n2.do("GET", "/api/v1/admin/audit", bob, nil), 403, "")
	// Both nodes appended to one chain.
	v := n2.do("GET", "/api/v1/admin/audit/verify", root, nil)
	if v.body["ok"] != true {
		t.Fatalf("verify: %s", v.raw)
	}
}

// TestEveryRouteDeclaresAccess walks the live router: every /api/v1 route must declare its
// access in the route table, and every admin route must have an audit operation name.
func TestEveryRouteDeclaresAccess(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()))
	mux := n.app.Server.Handler.(chi.Routes)
	count := 0
	_ = chi.Walk(mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !strings.HasPrefix(route, "/api/v1/") {
			return nil
		}
		count++
		a, ok := api.RouteAuth(method, route)
		if !ok || !api.ValidAuth(a) {
			t.Errorf("%s %s declares no valid access (%q)", method, route, a)
		}
		if strings.HasPrefix(route, "/api/v1/admin/") {
			if _, ok := adminOperations()[method+" "+strings.TrimSuffix(route, "/")]; !ok {
				t.Errorf("%s %s has no audit operation name", method, route)
			}
		}
		return nil
	})
	if count < 30 {
		t.Fatalf("walked only %d routes", count)
	}
}

// TestAuthorizationMatrix: each seeded role against each admin route. A role holding the
// route's permission gets past the check (its request aims at nothing, so 2xx or 404/400);
// any other role gets 403.
func TestAuthorizationMatrix(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { authorizationMatrix(t, func(*config.Config) {}) })
	t.Run("postgres", func(t *testing.T) {
		dsn := os.Getenv("ONSTAGE_TEST_POSTGRES_DSN")
		if dsn == "" {
			t.Skip("set ONSTAGE_TEST_POSTGRES_DSN to run against PostgreSQL")
		}
		schemaDSN := freshSchema(t, dsn)
		authorizationMatrix(t, func(cfg *config.Config) { cfg.Database.DSN = schemaDSN })
	})
}

func authorizationMatrix(t *testing.T, configure func(*config.Config)) {
	cfg := testConfig(t, t.TempDir())
	configure(&cfg)
	n := startNode(t, cfg)
	root := n.superAdmin(cfg, "root")
	roles := n.do("GET", "/api/v1/admin/roles", root, nil)
	expect(t, roles, 200, "")
	held := map[string]map[string]bool{}
	for _, it := range roles.body["items"].([]any) {
		r := it.(map[string]any)
		held[r["name"].(string)] = map[string]bool{}
		for _, g := range r["permissions"].([]any) {
			held[r["name"].(string)][g.(map[string]any)["permission"].(string)] = true
		}
	}
	requests := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/admin/permissions", nil},
		{"GET", "/api/v1/admin/roles", nil},
		{"POST", "/api/v1/admin/roles", map[string]any{"name": "!"}},
		{"PUT", "/api/v1/admin/roles/no_such_role", map[string]any{}},
		{"DELETE", "/api/v1/admin/roles/no_such_role", nil},
		{"POST", "/api/v1/admin/users/no-such-user/roles", map[string]any{"role": "player"}},
		{"DELETE", "/api/v1/admin/users/no-such-user/roles/player", nil},
		{"GET", "/api/v1/admin/users", nil},
		{"POST", "/api/v1/admin/users/no-such-user/lock", nil},
		{"POST", "/api/v1/admin/users/no-such-user/unlock", nil},
		{"GET", "/api/v1/admin/audit", nil},
		{"GET", "/api/v1/admin/audit/verify", nil},
		{"GET", "/api/v1/nodes", nil},
	}
	for _, role := range []string{"super_admin", "admin", "content_manager", "agent_admin", "agent", "agency", "streamer", "player"} {
		tok, id := n.login(role)
		if role != "player" {
			expect(t, n.do("POST", "/api/v1/admin/users/"+id+"/roles", root, map[string]any{"role": role}), 204, "")
			expect(t, n.do("DELETE", "/api/v1/admin/users/"+id+"/roles/player", root, nil), 204, "")
		}
		for _, rq := range requests {
			pattern := rq.path
			for _, seg := range []string{"no_such_role", "no-such-user"} {
				pattern = strings.Replace(pattern, seg, map[string]string{"no_such_role": "{name}", "no-such-user": "{id}"}[seg], 1)
			}
			pattern = strings.Replace(pattern, "/roles/player", "/roles/{role}", 1)
			perm, ok := api.RouteAuth(rq.method, pattern)
			if !ok {
				t.Fatalf("no table entry for %s %s", rq.method, pattern)
			}
			r := n.do(rq.method, rq.path, tok, rq.body)
			if held[role][perm] {
				if r.status == 401 || r.status == 403 || r.status >= 500 {
					t.Errorf("%s holds %s but %s %s = %d %s", role, perm, rq.method, rq.path, r.status, r.raw)
				}
			} else if r.status != 403 {
				t.Errorf("%s lacks %s but %s %s = %d %s", role, perm, rq.method, rq.path, r.status, r.raw)
			}
		}
	}
}
