package auth

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPasswordReset(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		forgot := func(email string) resp {
			return e.post("/api/v1/auth/password/forgot", map[string]string{"email": email})
		}
		reset := func(tok, pw string) resp {
			return e.post("/api/v1/auth/password/reset", map[string]string{"token": tok, "password": pw})
		}
		e.register("ada@example.com", "password1", "Ada")

		t.Run("unknown email answers the same and sends nothing", func(t *testing.T) {
			forgot("nobody@example.com").want(t, http.StatusAccepted, "")
			forgot("not an email").want(t, http.StatusAccepted, "")
			if n := e.mailCount("nobody@example.com"); n != 0 {
				t.Fatalf("%d mails to an unknown address", n)
			}
		})

		t.Run("reset flow", func(t *testing.T) {
			session := e.login("ada@example.com", "password1")
			// A lock from failed logins is lifted by the reset.
			for i := 0; i < 5; i++ {
				e.post("/api/v1/auth/login", map[string]string{"email": "ada@example.com", "password": "bad-guess"})
			}
			e.post("/api/v1/auth/login", map[string]string{"email": "ada@example.com", "password": "password1"}).
				want(t, http.StatusTooManyRequests, "account_locked")

			forgot("ADA@example.com").want(t, http.StatusAccepted, "")
			tok := e.mailedToken("ada@example.com", "Reset")
			if !strings.Contains(e.mustMail(t, "ada@example.com"), "https://onstage.test/reset-password?code="+tok) {
				t.Fatal("the reset mail lacks the absolute link")
			}
			reset(tok, "short").want(t, http.StatusBadRequest, "validation_failed")
			if r := reset(tok, "new-password").want(t, http.StatusNoContent, ""); len(r.body) != 0 {
				t.Fatalf("204 with a body: %s", r.body)
			}
			if !strings.Contains(e.mustMail(t, "ada@example.com"), "password") {
				t.Fatal("no password-changed notice")
			}
			// Every refresh token of the user is revoked.
			e.refresh(session.RefreshToken).want(t, http.StatusUnauthorized, "invalid_token")
			e.post("/api/v1/auth/login", map[string]string{"email": "ada@example.com", "password": "password1"}).
				want(t, http.StatusUnauthorized, "invalid_credentials")
			fresh := e.login("ada@example.com", "new-password")
			e.refresh(fresh.RefreshToken).want(t, http.StatusOK, "")
			// Single use.
			reset(tok, "another-password").want(t, http.StatusBadRequest, "invalid_token")
		})

		t.Run("expired after an hour", func(t *testing.T) {
			forgot("ada@example.com").want(t, http.StatusAccepted, "")
			tok := e.mailedToken("ada@example.com", "Reset")
			e.clock.Advance(time.Hour + time.Second)
			reset(tok, "third-password").want(t, http.StatusBadRequest, "invalid_token")
		})

		t.Run("unknown token", func(t *testing.T) {
			reset("nope", "third-password").want(t, http.StatusBadRequest, "invalid_token")
			reset("", "third-password").want(t, http.StatusBadRequest, "invalid_token")
		})
	})
}
