package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote, xff, want string
	}{
		{"direct client, header ignored", "203.0.113.9:5555", "1.2.3.4", "203.0.113.9:5555"},
		{"through proxy", "127.0.0.1:4000", "198.51.100.7", "198.51.100.7:0"},
		{"spoofed left-most ignored", "127.0.0.1:4000", "6.6.6.6, 198.51.100.7", "198.51.100.7:0"},
		{"chain of trusted proxies", "10.1.1.1:80", "198.51.100.7, 10.2.2.2", "198.51.100.7:0"},
		{"garbage header", "127.0.0.1:4000", "not-an-ip", "127.0.0.1:4000"},
		{"no header", "127.0.0.1:4000", "", "127.0.0.1:4000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			h := clientIP(trusted)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Fatalf("RemoteAddr = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := ParseTrustedProxies([]string{"nope"}); err == nil {
		t.Fatal("bad proxy accepted")
	}
}
