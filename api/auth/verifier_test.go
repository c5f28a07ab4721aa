package auth

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/db/dbtest"
	"github.com/onstagehq/onstage/internal/mail"
)

// siteverify is a local stand-in for the verification service: it knows one secret and one
// good token, and can be made to fail.
func siteverify(t *testing.T, down *atomic.Bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		if r.Method != http.MethodPost || r.ParseForm() != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		ok := r.PostForm.Get("secret") == "s3cret" && r.PostForm.Get("response") == "human" && r.PostForm.Get("remoteip") != ""
		w.Header().Set("Content-Type", "application/json")
		if ok {
			_, _ = w.Write([]byte(`{"success":true}`))
		} else {
			_, _ = w.Write([]byte(`{"success":false,"error-codes":["invalid-input-response"]}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoginAsksForHumanVerificationAfterThreeFailures(t *testing.T) {
	var down atomic.Bool
	srv := siteverify(t, &down)
	gdb := dbtest.Open(t, append(append(Migrations(), mail.Migrations()...), authz.Migrations()...)...)
	e := newEnvWith(t, gdb, cachetest.Memory(t), nil, func(p *ServiceParams) {
		p.Verifier = &HTTPVerifier{URL: srv.URL, Secret: "s3cret", Site: "site-1", Provider: "turnstile"}
	})
	e.register("ann@example.com", "correct horse", "Ann")
	e.login("ann@example.com", "correct horse") // no verification before failures
	for i := 0; i < 3; i++ {
		e.post("/api/v1/auth/login", map[string]string{"email": "ann@example.com", "password": "wrong"}).want(t, 401, "invalid_credentials")
	}
	good := map[string]string{"email": "ann@example.com", "password": "correct horse"}
	r := e.post("/api/v1/auth/login", good).want(t, 401, "captcha_required")
	var body struct {
		Error struct{ Fields map[string]string } `json:"error"`
	}
	r.decode(t, &body)
	if body.Error.Fields["site_key"] != "site-1" || body.Error.Fields["provider"] != "turnstile" {
		t.Fatalf("captcha_required without the widget: %s", r.body)
	}
	good["captcha_token"] = "robot"
	e.post("/api/v1/auth/login", good).want(t, 401, "captcha_required")
	down.Store(true)
	good["captcha_token"] = "human"
	e.post("/api/v1/auth/login", good).want(t, 503, "")
	down.Store(false)
	e.post("/api/v1/auth/login", good).want(t, 200, "")
	// A success clears the failures: the next login needs no token.
	e.login("ann@example.com", "correct horse")
}

// TestLockedAccountCannotSignIn: an account an admin locked neither logs in nor refreshes.
func TestLockedAccountCannotSignIn(t *testing.T) {
	gdb := dbtest.Open(t, append(append(Migrations(), mail.Migrations()...), authz.Migrations()...)...)
	e := newEnv(t, gdb, cachetest.Memory(t), nil)
	u := e.register("lee@example.com", "correct horse", "Lee")
	toks := e.login("lee@example.com", "correct horse")
	if err := gdb.Exec("UPDATE users SET locked_at = ? WHERE id = ?", e.clock.Now(), u.ID).Error; err != nil {
		t.Fatal(err)
	}
	e.post("/api/v1/auth/login", map[string]string{"email": "lee@example.com", "password": "correct horse"}).want(t, 403, "account_disabled")
	e.refresh(toks.RefreshToken).want(t, 403, "account_disabled")
}
