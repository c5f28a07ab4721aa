package auth

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
)

func TestLogin(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		v := e.register("ada@example.com", "password1", "Ada")
		tests := []struct {
			name, email, password string
			status                int
			code                  string
		}{
			{"ok", "ada@example.com", "password1", 200, ""},
			{"email in another case", " ADA@example.com", "password1", 200, ""},
			{"wrong password", "ada@example.com", "password2", 401, "invalid_credentials"},
			{"unknown email", "nobody@example.com", "password1", 401, "invalid_credentials"},
			{"empty", "", "", 401, "invalid_credentials"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := e.post("/api/v1/auth/login", map[string]string{"email": tc.email, "password": tc.password}).want(t, tc.status, tc.code)
				if tc.status != http.StatusOK {
					return
				}
				var toks Tokens
				r.decode(t, &toks)
				if toks.TokenType != "Bearer" || toks.ExpiresIn != 900 || toks.RefreshToken == "" || toks.User.ID != v.ID {
					t.Fatalf("tokens = %+v", toks)
				}
				id, err := e.issuer.Verify(toks.AccessToken)
				if err != nil {
					t.Fatal(err)
				}
				if id != (authn.Identity{UserID: v.ID, Role: authn.RolePlayer, Name: "Ada"}) {
					t.Fatalf("access token identity = %+v", id)
				}
			})
		}
	})
}

func TestLockout(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		login := func(email, pw string) resp {
			return e.post("/api/v1/auth/login", map[string]string{"email": email, "password": pw})
		}
		e.register("ada@example.com", "password1", "Ada")
		e.register("bob@example.com", "password1", "Bob")

		t.Run("five failures lock for fifteen minutes", func(t *testing.T) {
			for i := 0; i < 5; i++ {
				login("ada@example.com", "wrong-password").want(t, http.StatusUnauthorized, "invalid_credentials")
			}
			r := login("ada@example.com", "password1").want(t, http.StatusTooManyRequests, "account_locked")
			if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 890 || ra > 900 {
				t.Fatalf("Retry-After = %q, want about 900", r.header.Get("Retry-After"))
			}
			// Other accounts are unaffected.
			e.login("bob@example.com", "password1")

			e.clock.Advance(10 * time.Minute)
			r = login("ada@example.com", "password1").want(t, http.StatusTooManyRequests, "account_locked")
			if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 290 || ra > 300 {
				t.Fatalf("Retry-After = %q, want about 300", r.header.Get("Retry-After"))
			}
			e.clock.Advance(5*time.Minute + time.Second)
			e.login("ada@example.com", "password1")
		})

		t.Run("a success resets the count", func(t *testing.T) {
			for i := 0; i < 4; i++ {
				login("bob@example.com", "wrong-password").want(t, http.StatusUnauthorized, "invalid_credentials")
			}
			e.login("bob@example.com", "password1")
			for i := 0; i < 4; i++ {
				login("bob@example.com", "wrong-password").want(t, http.StatusUnauthorized, "invalid_credentials")
			}
			e.login("bob@example.com", "password1")
		})

		t.Run("unknown emails lock the same way", func(t *testing.T) {
			for i := 0; i < 5; i++ {
				login("ghost@example.com", "whatever1").want(t, http.StatusUnauthorized, "invalid_credentials")
			}
			login("ghost@example.com", "whatever1").want(t, http.StatusTooManyRequests, "account_locked")
		})
	})
}

func TestRefresh(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		e.register("ada@example.com", "password1", "Ada")

		t.Run("rotation", func(t *testing.T) {
			first := e.login("ada@example.com", "password1")
			var second Tokens
			e.refresh(first.RefreshToken).want(t, http.StatusOK, "").decode(t, &second)
			if second.RefreshToken == first.RefreshToken || second.AccessToken == "" || second.User.Email != "ada@example.com" {
				t.Fatalf("refresh answered %+v", second)
			}
			if _, err := e.issuer.Verify(second.AccessToken); err != nil {
				t.Fatal(err)
			}
			var third Tokens
			e.refresh(second.RefreshToken).want(t, http.StatusOK, "").decode(t, &third)
			if third.RefreshToken == second.RefreshToken {
				t.Fatal("refresh token not rotated")
			}
		})

		t.Run("reuse revokes the family", func(t *testing.T) {
			first := e.login("ada@example.com", "password1")
			other := e.login("ada@example.com", "password1") // another device: another family
			var second Tokens
			e.refresh(first.RefreshToken).want(t, http.StatusOK, "").decode(t, &second)
			// The rotated token is refused and its reuse revokes the family...
			e.refresh(first.RefreshToken).want(t, http.StatusUnauthorized, "invalid_token")
			// ...so the newest token is refused too.
			e.refresh(second.RefreshToken).want(t, http.StatusUnauthorized, "invalid_token")
			// The other family lives on.
			e.refresh(other.RefreshToken).want(t, http.StatusOK, "")
		})

		t.Run("unknown and empty", func(t *testing.T) {
			e.refresh("not-a-token").want(t, http.StatusUnauthorized, "invalid_token")
			e.refresh("").want(t, http.StatusUnauthorized, "invalid_token")
		})

		t.Run("expired", func(t *testing.T) {
			toks := e.login("ada@example.com", "password1")
			e.clock.Advance(30*24*time.Hour + time.Second)
			e.refresh(toks.RefreshToken).want(t, http.StatusUnauthorized, "invalid_token")
		})

		// Concurrent use of one token is reuse: at most one caller gets a new pair, and
		// the losers may revoke the family before the winner's answer.
		t.Run("concurrent use lets at most one through", func(t *testing.T) {
			toks := e.login("ada@example.com", "password1")
			codes := make(chan int, 4)
			for i := 0; i < 4; i++ {
				go func() { codes <- e.refresh(toks.RefreshToken).status }()
			}
			ok := 0
			for i := 0; i < 4; i++ {
				if <-codes == http.StatusOK {
					ok++
				}
			}
			if ok > 1 {
				t.Fatalf("%d concurrent refreshes with one token succeeded, want at most 1", ok)
			}
			e.refresh(toks.RefreshToken).want(t, http.StatusUnauthorized, "invalid_token")
		})
	})
}

func TestLogout(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		e.register("ada@example.com", "password1", "Ada")
		toks := e.login("ada@example.com", "password1")
		logout := func(tok string) resp {
			return e.post("/api/v1/auth/logout", map[string]string{"refresh_token": tok})
		}
		if r := logout(toks.RefreshToken).want(t, http.StatusNoContent, ""); len(r.body) != 0 {
			t.Fatalf("204 with a body: %s", r.body)
		}
		e.refresh(toks.RefreshToken).want(t, http.StatusUnauthorized, "invalid_token")
		logout(toks.RefreshToken).want(t, http.StatusNoContent, "")
		logout("never-issued").want(t, http.StatusNoContent, "")
		logout("").want(t, http.StatusNoContent, "")
	})
}
