package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/httpx"
)

func TestUsersMe(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		v := e.register("ada@example.com", "password1", "Ada")
		toks := e.login("ada@example.com", "password1")
		me := func(token string) resp {
			return e.do(req{method: http.MethodGet, path: "/api/v1/users/me", token: token})
		}
		put := func(token string, body any) resp {
			return e.do(req{method: http.MethodPut, path: "/api/v1/users/me", token: token, body: body})
		}

		t.Run("get", func(t *testing.T) {
			var got View
			me(toks.AccessToken).want(t, http.StatusOK, "").decode(t, &got)
			if got.ID != v.ID || got.Email != "ada@example.com" || got.DisplayName != "Ada" || got.Role != authn.RolePlayer {
				t.Fatalf("/users/me = %+v", got)
			}
		})
		t.Run("no token", func(t *testing.T) { me("").want(t, http.StatusUnauthorized, "unauthorized") })
		t.Run("forged token", func(t *testing.T) { me(toks.AccessToken+"x").want(t, http.StatusUnauthorized, "unauthorized") })
		t.Run("put without token", func(t *testing.T) {
			put("", map[string]string{"display_name": "X"}).want(t, http.StatusUnauthorized, "unauthorized")
		})

		tests := []struct {
			name     string
			body     map[string]string
			status   int
			code     string
			badField string
		}{
			{"display name", map[string]string{"display_name": "Ada L."}, 200, "", ""},
			{"bad display name", map[string]string{"display_name": ""}, 400, "validation_failed", "display_name"},
			{"password without current", map[string]string{"password": "new-password"}, 400, "validation_failed", "current_password"},
			{"password with wrong current", map[string]string{"password": "new-password", "current_password": "nope-nope"}, 400, "validation_failed", "current_password"},
			{"short new password", map[string]string{"password": "short", "current_password": "password1"}, 400, "validation_failed", "password"},
			{"nothing", map[string]string{}, 200, "", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := put(toks.AccessToken, tc.body).want(t, tc.status, tc.code)
				if tc.badField != "" {
					if _, ok := r.fields(t)[tc.badField]; !ok {
						t.Fatalf("fields %v do not name %s", r.fields(t), tc.badField)
					}
				}
			})
		}

		t.Run("password change", func(t *testing.T) {
			var got View
			put(toks.AccessToken, map[string]string{"password": "new-password", "current_password": "password1"}).
				want(t, http.StatusOK, "").decode(t, &got)
			if got.DisplayName != "Ada L." {
				t.Fatalf("display name = %q, want the earlier change", got.DisplayName)
			}
			e.post("/api/v1/auth/login", map[string]string{"email": "ada@example.com", "password": "password1"}).
				want(t, http.StatusUnauthorized, "invalid_credentials")
			e.refresh(toks.RefreshToken).want(t, http.StatusUnauthorized, "invalid_token")
			e.login("ada@example.com", "new-password")
		})
	})
}

func TestRoleMiddleware(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		ctx := t.Context()
		admin, err := e.svc.CreateUser(ctx, "root@example.com", "password1", "Root", authn.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		e.register("ada@example.com", "password1", "Ada")
		adminTok, err := e.svc.MintToken(ctx, admin.ID)
		if err != nil {
			t.Fatal(err)
		}
		playerTok, err := e.svc.MintToken(ctx, "ADA@example.com")
		if err != nil {
			t.Fatal(err)
		}
		var guest GuestToken
		e.post("/api/v1/auth/guest", map[string]string{"display_name": "G"}).want(t, http.StatusOK, "").decode(t, &guest)

		tests := []struct {
			name, token string
			status      int
			code        string
		}{
			{"anonymous", "", 401, "unauthorized"},
			{"forged", "abc.def.ghi", 401, "unauthorized"},
			{"guest", guest.AccessToken, 403, "forbidden"},
			{"player", playerTok, 403, "forbidden"},
			{"admin", adminTok, 204, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e.do(req{method: http.MethodGet, path: "/api/v1/admin-only", token: tc.token}).want(t, tc.status, tc.code)
			})
		}
	})
}

func TestServiceForOtherModules(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		ctx := t.Context()
		a, err := e.svc.CreateUser(ctx, "A@example.com", "password1", "Alpha", authn.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if a.Email != "a@example.com" || a.Role != authn.RoleAdmin || !a.View().EmailVerified {
			t.Fatalf("CreateUser = %+v", a)
		}
		b, err := e.svc.CreateUser(ctx, "b@example.com", "password1", "Beta", authn.RoleStreamer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.CreateUser(ctx, "a@example.com", "password1", "Dup", authn.RolePlayer); !errors.Is(err, ErrEmailTaken) {
			t.Fatalf("duplicate CreateUser: %v", err)
		}
		if _, err := e.svc.CreateUser(ctx, "g@example.com", "password1", "G", authn.RoleGuest); !errors.Is(err, apperr.ErrValidation) {
			t.Fatalf("guest CreateUser: %v", err)
		}

		names, err := e.svc.DisplayNames(ctx, []string{a.ID, b.ID, "guest_x", "missing"})
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 2 || names[a.ID] != "Alpha" || names[b.ID] != "Beta" {
			t.Fatalf("DisplayNames = %v", names)
		}
		if names, err := e.svc.DisplayNames(ctx, nil); err != nil || len(names) != 0 {
			t.Fatalf("DisplayNames(nil) = %v, %v", names, err)
		}

		got, err := e.svc.UserByID(ctx, b.ID)
		if err != nil || got.Email != "b@example.com" {
			t.Fatalf("UserByID = %+v, %v", got, err)
		}
		if _, err := e.svc.UserByID(ctx, "missing"); !errors.Is(err, ErrUserNotFound) {
			t.Fatalf("UserByID(missing) = %v", err)
		}

		tok, err := e.svc.MintToken(ctx, "a@example.com")
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.issuer.Verify(tok)
		if err != nil || id.UserID != a.ID || id.Role != authn.RoleAdmin || id.Name != "Alpha" {
			t.Fatalf("MintToken identity = %+v, %v", id, err)
		}
		if _, err := e.svc.MintToken(ctx, "nobody@example.com"); !errors.Is(err, ErrUserNotFound) {
			t.Fatalf("MintToken(unknown) = %v", err)
		}
	})
}

func TestMalformedRequests(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		e.register("ada@example.com", "password1", "Ada")
		toks := e.login("ada@example.com", "password1")
		huge := `{"email":"` + strings.Repeat("a", 2<<20) + `"}`
		tests := []struct {
			name, method, path, body string
			status                   int
			code, field              string
		}{
			{"bad JSON", "POST", "/api/v1/auth/login", `{"email":`, 400, "bad_request", ""},
			{"not an object", "POST", "/api/v1/auth/register", `[1,2]`, 400, "bad_request", ""},
			{"empty body", "POST", "/api/v1/auth/refresh", ``, 400, "bad_request", ""},
			{"trailing data", "POST", "/api/v1/auth/logout", `{"refresh_token":"x"} {}`, 400, "bad_request", ""},
			{"unknown field", "POST", "/api/v1/auth/register", `{"email":"x@example.com","password":"password1","display_name":"X","is_admin":true}`, 400, "bad_request", "is_admin"},
			{"wrong type", "POST", "/api/v1/auth/login", `{"email":"ada@example.com","password":12345678}`, 400, "bad_request", "password"},
			{"wrong type guest", "POST", "/api/v1/auth/guest", `{"display_name":false}`, 400, "bad_request", "display_name"},
			{"2 MiB body", "POST", "/api/v1/auth/register", huge, 413, "body_too_large", ""},
			{"2 MiB body on forgot", "POST", "/api/v1/auth/password/forgot", huge, 413, "body_too_large", ""},
			{"wrong type on me", "PUT", "/api/v1/users/me", `{"display_name":1}`, 400, "bad_request", "display_name"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(req{method: tc.method, path: tc.path, body: tc.body, token: toks.AccessToken}).want(t, tc.status, tc.code)
				if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Fatalf("Content-Type = %q", ct)
				}
				if tc.field != "" {
					if _, ok := r.fields(t)[tc.field]; !ok {
						t.Fatalf("fields %v do not name %s", r.fields(t), tc.field)
					}
				}
			})
		}
	})
}

func TestRateLimit(t *testing.T) {
	each(t, func(c *config.Auth) { c.RatePerMinute = 3 }, func(t *testing.T, e *env) {
		login := func(addr string) resp {
			return e.do(req{method: http.MethodPost, path: "/api/v1/auth/login", addr: addr,
				body: map[string]string{"email": "x@example.com", "password": "whatever1"}})
		}
		for i := 0; i < 3; i++ {
			login("198.51.100.7").want(t, http.StatusUnauthorized, "invalid_credentials")
		}
		r := login("198.51.100.7").want(t, http.StatusTooManyRequests, "rate_limited")
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Fatalf("Retry-After = %q, want 1-60 seconds", r.header.Get("Retry-After"))
		}
		// Every auth route shares the budget...
		e.do(req{method: http.MethodPost, path: "/api/v1/auth/guest", addr: "198.51.100.7", body: map[string]string{"display_name": "G"}}).
			want(t, http.StatusTooManyRequests, "rate_limited")
		// ...per client address.
		var b httpx.ErrorBody
		login("198.51.100.8").want(t, http.StatusUnauthorized, "invalid_credentials").decode(t, &b)
	})
}

// TestRevokeEpochNeverGoesBack covers an expired revocation epoch coming back: tokens
// issued under the old epoch, or with none, must stay revoked by the next revocation.
func TestRevokeEpochNeverGoesBack(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		ctx := t.Context()
		u, err := e.svc.CreateUser(ctx, "ada@example.com", "password1", "Ada", authn.RolePlayer)
		if err != nil {
			t.Fatal(err)
		}
		before, err := e.svc.issue(ctx, u, "fam1", 1)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(-time.Hour) // a node whose clock lags
		if err := e.svc.revokeAll(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.revokeAll(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Refresh(ctx, before.RefreshToken); !errors.Is(err, ErrInvalidRefresh) {
			t.Fatalf("refresh after revocation: %v", err)
		}
		after, err := e.svc.issue(ctx, u, "fam2", 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Refresh(ctx, after.RefreshToken); err != nil {
			t.Fatalf("refresh of a token issued after the revocation: %v", err)
		}
	})
}
