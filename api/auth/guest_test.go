package auth

import (
	"net/http"
	"strings"
	"testing"

	"github.com/onstagehq/onstage/internal/authn"
)

func TestGuest(t *testing.T) {
	each(t, nil, func(t *testing.T, e *env) {
		tests := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"ok", map[string]string{"display_name": "  Visitor "}, 200, ""},
			{"empty name", map[string]string{"display_name": ""}, 400, "validation_failed"},
			{"long name", map[string]string{"display_name": strings.Repeat("a", 65)}, 400, "validation_failed"},
			{"control character", map[string]string{"display_name": "a\u0000b"}, 400, "validation_failed"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := e.post("/api/v1/auth/guest", tc.body).want(t, tc.status, tc.code)
				if tc.status != http.StatusOK {
					return
				}
				var g GuestToken
				r.decode(t, &g)
				if !strings.HasPrefix(g.User.ID, "guest_") || g.User.Role != authn.RoleGuest || g.User.DisplayName != "Visitor" ||
					g.TokenType != "Bearer" || g.ExpiresIn != 12*3600 || strings.Contains(string(r.body), "refresh_token") {
					t.Fatalf("guest answer = %s", r.body)
				}
				id, err := e.issuer.Verify(g.AccessToken)
				if err != nil || id.UserID != g.User.ID || id.Role != authn.RoleGuest || id.Name != "Visitor" {
					t.Fatalf("guest token identity = %+v, %v", id, err)
				}
				var me GuestView
				e.do(req{method: http.MethodGet, path: "/api/v1/users/me", token: g.AccessToken}).want(t, http.StatusOK, "").decode(t, &me)
				if me != g.User {
					t.Fatalf("/users/me = %+v, want %+v", me, g.User)
				}
				e.do(req{method: http.MethodPut, path: "/api/v1/users/me", token: g.AccessToken, body: map[string]string{"display_name": "X"}}).
					want(t, http.StatusForbidden, "forbidden")
				names, err := e.svc.DisplayNames(t.Context(), []string{g.User.ID})
				if err != nil || len(names) != 0 {
					t.Fatalf("a guest was stored: %v, %v", names, err)
				}
			})
		}
	})
}
