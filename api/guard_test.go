package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/onstagehq/onstage/internal/authn"
)

// TestRouteTableDeclaresAccess: every row names a level the guard knows.
func TestRouteTableDeclaresAccess(t *testing.T) {
	for _, rt := range routes {
		if !ValidAuth(rt.Auth) {
			t.Errorf("%s %s declares %q: want public, token, member or a known permission", rt.Method, rt.Path, rt.Auth)
		}
	}
}

type testModule func(r chi.Router)

func (m testModule) Mount(r chi.Router) { m(r) }

// TestGuardDeniesByDefault: a route missing from the table is refused even to a valid token,
// while declared ones reach their handlers.
func TestGuardDeniesByDefault(t *testing.T) {
	iss, _ := authn.NewIssuer([]byte("0123456789abcdef0123456789abcdef-test"))
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
	h := NewRouter(RouterParams{
		Auth:     authn.Middleware{Issuer: iss, Reject: Reject},
		Registry: prometheus.NewRegistry(),
		Modules: []Module{testModule(func(r chi.Router) {
			r.Get("/undeclared", ok)
			r.Post("/auth/guest", ok) // public
			r.Get("/users/me", ok)    // token
			r.Post("/meetings", ok)   // member
			r.Get("/admin/roles", ok) // roles:manage; no Authorizer: refused
		})},
	})
	member, _, _ := iss.Mint(authn.Identity{UserID: "u1", Role: authn.RolePlayer}, time.Minute)
	guest, _, _ := iss.Mint(authn.Identity{UserID: "g1", Role: authn.RoleGuest}, time.Minute)
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/v1/undeclared", member, 403},
		{"POST", "/api/v1/auth/guest", "", 204},
		{"GET", "/api/v1/users/me", "", 401},
		{"GET", "/api/v1/users/me", guest, 204},
		{"POST", "/api/v1/meetings", guest, 403},
		{"POST", "/api/v1/meetings", member, 204},
		{"GET", "/api/v1/admin/roles", member, 403},
		{"GET", "/api/v1/no/such", member, 404},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, rec.Code, rec.Body, tc.want)
		}
	}
}
