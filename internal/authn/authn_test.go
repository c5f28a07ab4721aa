package authn

import (
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func TestVerify(t *testing.T) {
	iss, err := NewIssuer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewIssuer([]byte("ffffffffffffffffffffffffffffffff"))
	id := Identity{UserID: "u1", Role: RoleStreamer, Name: "Ann"}
	good, _, _ := iss.Mint(id, time.Minute)
	expired, _, _ := iss.Mint(id, -time.Minute)
	forged, _, _ := other.Mint(id, time.Minute)
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"sub": "u1", "role": "admin", "iss": "onstage",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString(iss.macKey("access"))
	badRole, _, _ := iss.Mint(Identity{UserID: "u1", Role: "root"}, time.Minute)

	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", good, true},
		{"expired", expired, false},
		{"forged", forged, false},
		{"alg none", none, false},
		{"other alg", hs512, false},
		{"unknown role", badRole, false},
		{"garbage", "abc", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := iss.Verify(tc.token)
			if tc.ok != (err == nil) {
				t.Fatalf("Verify err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && got != id {
				t.Fatalf("identity = %+v, want %+v", got, id)
			}
		})
	}
}

func TestSessionClaims(t *testing.T) {
	iss, _ := NewIssuer(testSecret)
	id := Identity{UserID: "u1", Role: RolePlayer, Name: "Ann"}
	want := Session{Family: "fam-1", Epoch: 1700000000123456789}
	tok, _, err := iss.MintSession(id, want, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, sess, err := iss.VerifySession(tok)
	if err != nil || got != id || sess != want {
		t.Fatalf("VerifySession = %+v %+v %v, want %+v %+v", got, sess, err, id, want)
	}
	plain, _, _ := iss.Mint(id, time.Minute)
	if _, sess, err := iss.VerifySession(plain); err != nil || sess != (Session{}) {
		t.Fatalf("a token minted without a session: %+v %v", sess, err)
	}
}

func TestSignOpen(t *testing.T) {
	iss, _ := NewIssuer(testSecret)
	s := iss.Sign("resume", []byte("payload"))
	if p, err := iss.Open("resume", s); err != nil || string(p) != "payload" {
		t.Fatalf("Open = %q, %v", p, err)
	}
	if _, err := iss.Open("other", s); err == nil {
		t.Fatal("a value signed for one purpose verified for another")
	}
	tampered := base64.RawURLEncoding.EncodeToString([]byte("payloaX")) + s[strings.Index(s, "."):]
	if _, err := iss.Open("resume", tampered); err == nil {
		t.Fatal("tampered payload verified")
	}
	if _, err := NewIssuer([]byte("short")); err == nil {
		t.Fatal("short secret accepted")
	}
}

func TestTokenFromRequest(t *testing.T) {
	for _, tc := range []struct{ header, query, rest, ws string }{
		{"Bearer abc", "", "abc", "abc"},
		{"bearer  abc ", "", "abc", "abc"},
		{"Basic abc", "", "", ""},
		{"Basic abc", "xyz", "", ""},
		// A token in the URL is read for a WebSocket only, never for REST.
		{"", "xyz", "", "xyz"},
		{"Bearer abc", "xyz", "abc", "abc"},
	} {
		r := httptest.NewRequest("GET", "/x?token="+tc.query, nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := TokenFromRequest(r); got != tc.rest {
			t.Errorf("REST: header %q query %q: got %q want %q", tc.header, tc.query, got, tc.rest)
		}
		if got := TokenFromWebSocketRequest(r); got != tc.ws {
			t.Errorf("WebSocket: header %q query %q: got %q want %q", tc.header, tc.query, got, tc.ws)
		}
	}
}
