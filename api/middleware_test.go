package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/web"
)

// whoami is a module with one route that needs a token.
type whoami struct{ mw authn.Middleware }

func (m whoami) Mount(r chi.Router) {
	r.With(m.mw.Require()).Get("/users/me", func(w http.ResponseWriter, r *http.Request) {
		id, _ := authn.FromContext(r.Context())
		_, _ = w.Write([]byte(id.UserID))
	})
}

func testRouter(t *testing.T) (http.Handler, string) {
	t.Helper()
	iss, err := authn.NewIssuer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := iss.Mint(authn.Identity{UserID: "u1", Role: authn.RolePlayer, Name: "Ann"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	mw := authn.Middleware{Issuer: iss, Reject: Reject}
	h := NewRouter(RouterParams{
		Auth: mw, Modules: []Module{whoami{mw}}, Registry: prometheus.NewRegistry(),
		OpenAPI: OpenAPI(), Web: web.Handler(),
		WebSocket: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(authn.TokenFromWebSocketRequest(r)))
		}),
	})
	return h, tok
}

func serve(h http.Handler, path, header string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestOneContentSecurityPolicy: the page, its assets, the API and the operations endpoints all
// carry the web client's one policy, and that policy lets the page open sockets to its own
// origin only.
func TestOneContentSecurityPolicy(t *testing.T) {
	h, _ := testRouter(t)
	for _, p := range []string{"/", "/m/ABC123", "/static/app.css", "/api/openapi.json", "/healthz", "/api/v1/users/me", "/nothing"} {
		if got := serve(h, p, "").Header().Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
			t.Errorf("%s: Content-Security-Policy %q, want the client's policy %q", p, got, web.ContentSecurityPolicy)
		}
	}
	for _, d := range strings.Split(web.ContentSecurityPolicy, ";") {
		if f := strings.Fields(d); len(f) > 0 && f[0] == "connect-src" && strings.Join(f[1:], " ") != "'self'" {
			t.Errorf("connect-src is %q, want 'self' only", strings.Join(f[1:], " "))
		}
	}
}

// TestTokenInQueryOnlyForWebSocket: a REST route ignores ?token= (so it is refused without
// the Authorization header), while /ws still reads it.
func TestTokenInQueryOnlyForWebSocket(t *testing.T) {
	h, tok := testRouter(t)
	if rec := serve(h, "/api/v1/users/me", "Bearer "+tok); rec.Code != http.StatusOK || rec.Body.String() != "u1" {
		t.Fatalf("with the header: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(h, "/api/v1/users/me?token="+tok, ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("REST with ?token=: %d %s, want 401", rec.Code, rec.Body)
	}
	if rec := serve(h, "/ws?token="+tok, ""); rec.Body.String() != tok {
		t.Fatalf("/ws did not read ?token=: %q", rec.Body)
	}
}

// TestClientPagesServeTheApp: every page of the browser client (portal and console) answers
// the app's index.html through the router, so a reload or a shared link works; unknown paths
// and the API's own 404s stay 404.
func TestClientPagesServeTheApp(t *testing.T) {
	h, _ := testRouter(t)
	for _, p := range []string{"/", "/meet", "/login", "/register", "/forgot-password", "/reset-password?code=x",
		"/verify-email?code=x", "/orders", "/me", "/me/profile", "/me/schedule", "/streamers/u1", "/admin",
		"/admin/approvals", "/admin/audit", "/m/ABC123"} {
		rec := serve(h, p, "")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `id="app"`) {
			t.Errorf("%s: %d, want the client's page", p, rec.Code)
		}
	}
	for _, p := range []string{"/nothing", "/streamers/", "/adminx", "/api/v1/nothing"} {
		if rec := serve(h, p, ""); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, rec.Code)
		}
	}
}
