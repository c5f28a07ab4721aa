package auth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
)

func TestRegister(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		e.register("Taken@Example.com", "password1", "Taken")
		tests := []struct {
			name      string
			body      registerBody
			status    int
			code      string
			badField  string
			wantRole  authn.Role
			wantEmail string
		}{
			{name: "player by default", body: registerBody{"ada@example.com", "password1", "Ada", ""}, status: 201, wantRole: authn.RolePlayer, wantEmail: "ada@example.com"},
			{name: "email lower-cased", body: registerBody{"  Bob@Example.COM ", "password1", "Bob", ""}, status: 201, wantRole: authn.RolePlayer, wantEmail: "bob@example.com"},
			{name: "streamer", body: registerBody{"s@example.com", "password1", "Streamer", "streamer"}, status: 201, wantRole: authn.RoleStreamer, wantEmail: "s@example.com"},
			{name: "agency", body: registerBody{"ag@example.com", "password1", "Agency", "agency"}, status: 201, wantRole: authn.RoleAgency, wantEmail: "ag@example.com"},
			{name: "explicit player", body: registerBody{"p@example.com", "password1", "P", "player"}, status: 201, wantRole: authn.RolePlayer, wantEmail: "p@example.com"},
			{name: "72-byte password", body: registerBody{"long@example.com", strings.Repeat("x", 72), "Long", ""}, status: 201, wantRole: authn.RolePlayer, wantEmail: "long@example.com"},
			{name: "duplicate email, other case", body: registerBody{"TAKEN@example.com", "password1", "Again", ""}, status: 409, code: "email_taken"},
			{name: "admin refused", body: registerBody{"adm@example.com", "password1", "Adm", "admin"}, status: 400, code: "validation_failed", badField: "role"},
			{name: "guest refused", body: registerBody{"g@example.com", "password1", "G", "guest"}, status: 400, code: "validation_failed", badField: "role"},
			{name: "unknown role", body: registerBody{"u@example.com", "password1", "U", "root"}, status: 400, code: "validation_failed", badField: "role"},
			{name: "bad email", body: registerBody{"not-an-email", "password1", "X", ""}, status: 400, code: "validation_failed", badField: "email"},
			{name: "email with name", body: registerBody{"X <x@example.com>", "password1", "X", ""}, status: 400, code: "validation_failed", badField: "email"},
			{name: "missing email", body: registerBody{"", "password1", "X", ""}, status: 400, code: "validation_failed", badField: "email"},
			{name: "short password", body: registerBody{"x@example.com", "seven77", "X", ""}, status: 400, code: "validation_failed", badField: "password"},
			{name: "73-byte password", body: registerBody{"x@example.com", strings.Repeat("x", 73), "X", ""}, status: 400, code: "validation_failed", badField: "password"},
			{name: "empty display name", body: registerBody{"x@example.com", "password1", "   ", ""}, status: 400, code: "validation_failed", badField: "display_name"},
			{name: "long display name", body: registerBody{"x@example.com", "password1", strings.Repeat("é", 65), ""}, status: 400, code: "validation_failed", badField: "display_name"},
			{name: "64-char display name", body: registerBody{"x64@example.com", "password1", strings.Repeat("é", 64), ""}, status: 201, wantRole: authn.RolePlayer, wantEmail: "x64@example.com"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := e.post("/api/v1/auth/register", tc.body).want(t, tc.status, tc.code)
				if tc.badField != "" {
					if _, ok := r.fields(t)[tc.badField]; !ok {
						t.Fatalf("fields %v do not name %s", r.fields(t), tc.badField)
					}
				}
				if tc.status != http.StatusCreated {
					return
				}
				var v View
				r.decode(t, &v)
				if v.Role != tc.wantRole || v.Email != tc.wantEmail || v.EmailVerified || v.ID == "" || v.CreatedAt.IsZero() {
					t.Fatalf("user = %+v; want role %s, email %s, unverified", v, tc.wantRole, tc.wantEmail)
				}
				if strings.Contains(string(r.body), "password") {
					t.Fatalf("the user view leaks the password hash: %s", r.body)
				}
				if e.mailedToken(tc.wantEmail, "Confirm") == "" {
					t.Fatal("no verification link mailed")
				}
			})
		}
	})
}

func TestVerifyEmail(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		verify := func(tok string) resp {
			return e.do(req{method: http.MethodGet, path: "/api/v1/auth/verify?code=" + tok})
		}

		e.register("ada@example.com", "password1", "Ada")
		tok := e.mailedToken("ada@example.com", "Confirm")
		if !strings.Contains(e.mustMail(t, "ada@example.com"), "https://onstage.test/verify-email?code="+tok) {
			t.Fatal("the mail lacks the absolute verification link")
		}
		var got map[string]bool
		verify(tok).want(t, http.StatusOK, "").decode(t, &got)
		if !got["verified"] {
			t.Fatalf("verify answered %v", got)
		}
		toks := e.login("ada@example.com", "password1")
		if !toks.User.EmailVerified {
			t.Fatal("login shows the email unverified after verification")
		}

		t.Run("reused", func(t *testing.T) { verify(tok).want(t, http.StatusBadRequest, "invalid_token") })
		t.Run("unknown", func(t *testing.T) { verify("nope").want(t, http.StatusBadRequest, "invalid_token") })
		t.Run("missing", func(t *testing.T) { verify("").want(t, http.StatusBadRequest, "invalid_token") })
		t.Run("expired", func(t *testing.T) {
			e.register("bob@example.com", "password1", "Bob")
			tok := e.mailedToken("bob@example.com", "Confirm")
			e.clock.Advance(24*time.Hour + time.Second)
			verify(tok).want(t, http.StatusBadRequest, "invalid_token")
		})
		t.Run("just in time", func(t *testing.T) {
			e.register("cy@example.com", "password1", "Cy")
			tok := e.mailedToken("cy@example.com", "Confirm")
			e.clock.Advance(24*time.Hour - time.Second)
			verify(tok).want(t, http.StatusOK, "")
		})
	})
}

func (e *env) mustMail(t *testing.T, addr string) string {
	t.Helper()
	msgs, err := e.outbox.Recent(t.Context(), addr, 1)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("no mail to %s (%v)", addr, err)
	}
	return msgs[0].Text
}
