package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
)

func TestWriteLimit(t *testing.T) {
	iss, _ := authn.NewIssuer([]byte("0123456789abcdef0123456789abcdef-test"))
	mw := authn.Middleware{Issuer: iss, Reject: Reject}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := mw.Authenticate(WriteLimit(cache.NewMemory(), 3, 2, slog.New(slog.DiscardHandler))(ok))
	tok, _, _ := iss.Mint(authn.Identity{UserID: "u1", Role: authn.RolePlayer}, time.Minute)
	send := func(method, addr, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/api/v1/x", nil)
		req.RemoteAddr = addr + ":1234"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i, tc := range []struct {
		method, addr, token string
		want                int
	}{
		{"POST", "10.0.0.1", "", 204},
		{"POST", "10.0.0.1", "", 204},
		{"GET", "10.0.0.1", "", 204}, // reads are not counted
		{"DELETE", "10.0.0.1", "", 204},
		{"PUT", "10.0.0.1", "", 429}, // fourth write from the address
		{"POST", "10.0.0.2", tok, 204},
		{"POST", "10.0.0.3", tok, 204},
		{"POST", "10.0.0.4", tok, 429}, // third write of the user, from a fresh address
		{"POST", "10.0.0.4", "", 204},
	} {
		rec := send(tc.method, tc.addr, tc.token)
		if rec.Code != tc.want {
			t.Fatalf("request %d (%s from %s): %d %s, want %d", i, tc.method, tc.addr, rec.Code, rec.Body, tc.want)
		}
		if tc.want == 429 && rec.Header().Get("Retry-After") == "" {
			t.Fatalf("request %d: 429 without Retry-After", i)
		}
	}
}
