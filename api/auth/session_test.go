package auth

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
)

// TestSessionValid: an access token names its login, and SessionValid follows that login's
// revocation: a reused refresh token revokes its family, a password change every login of the
// user; other logins, later logins and tokens without a login stay valid.
func TestSessionValid(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		e.register("ada@example.com", "password1", "Ada")
		valid := func(access string) bool {
			t.Helper()
			id, sess, err := e.issuer.VerifySession(access)
			if err != nil {
				t.Fatal(err)
			}
			ok, err := e.svc.SessionValid(context.Background(), id.UserID, sess)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		a := e.login("ada@example.com", "password1")
		b := e.login("ada@example.com", "password1")
		if _, sa, _ := e.issuer.VerifySession(a.AccessToken); sa.Family == "" {
			t.Fatal("a login's access token names no login")
		}
		if !valid(a.AccessToken) || !valid(b.AccessToken) {
			t.Fatal("fresh logins are not valid")
		}

		var a2 Tokens
		e.refresh(a.RefreshToken).want(t, http.StatusOK, "").decode(t, &a2)
		if !valid(a2.AccessToken) {
			t.Fatal("a rotated login is not valid")
		}
		e.refresh(a.RefreshToken).want(t, http.StatusUnauthorized, "invalid_token") // reuse
		if valid(a.AccessToken) || valid(a2.AccessToken) {
			t.Fatal("a revoked family's access tokens are still valid")
		}
		if !valid(b.AccessToken) {
			t.Fatal("another login was revoked with the family")
		}

		e.do(req{method: http.MethodPut, path: "/api/v1/users/me", token: b.AccessToken,
			body: map[string]string{"password": "password2", "current_password": "password1"}}).want(t, http.StatusOK, "")
		if valid(b.AccessToken) {
			t.Fatal("a password change left a login valid")
		}
		c := e.login("ada@example.com", "password2")
		if !valid(c.AccessToken) {
			t.Fatal("a login after the password change is not valid")
		}

		if ok, err := e.svc.SessionValid(context.Background(), "guest_x", authn.Session{}); !ok || err != nil {
			t.Fatalf("a token without a login: %v %v", ok, err)
		}
	})
}

// BenchmarkSessionValid measures one re-check of a socket's login, the per-login cost of the
// hub's periodic revocation check: in-process, and against Redis when ONSTAGE_TEST_REDIS_URL
// is set.
func BenchmarkSessionValid(b *testing.B) {
	for name, open := range map[string]func(testing.TB) cache.Cache{"memory": cachetest.Memory, "redis": cachetest.Redis} {
		b.Run(name, func(b *testing.B) {
			svc := NewService(ServiceParams{Cache: open(b), Log: slog.New(slog.DiscardHandler)})
			ctx := context.Background()
			sess := authn.Session{Family: "family-1", Epoch: 1}
			b.ReportAllocs()
			for b.Loop() {
				if ok, err := svc.SessionValid(ctx, "user-1", sess); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
