package sfu

import (
	"testing"

	"github.com/pion/stun"
)

func TestLiteStunLocalUfrag(t *testing.T) {
	withUser := func(u string) []byte {
		m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewSoftware("x"), stun.NewUsername(u), stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		return m.Raw
	}
	noUser, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	badCookie := withUser("abcd:efgh")
	badCookie[4] ^= 0xff
	for _, tc := range []struct {
		name string
		b    []byte
		want string
		ok   bool
	}{
		{"local and remote", withUser("abcd:efgh"), "abcd", true},
		{"no colon", withUser("abcdefg"), "abcdefg", true},
		{"no username", noUser.Raw, "", false},
		{"truncated", withUser("abcd:efgh")[:26], "", false},
		{"not STUN", badCookie, "", false},
		{"short", []byte{0, 1, 0}, "", false},
	} {
		got, ok := stunLocalUfrag(tc.b)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("%s: %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// With a lite transport registered, a datagram from a source no transport
// checked from still goes to Pion, whatever its kind.
func TestLiteMuxUnknownToPion(t *testing.T) {
	e := newTestEngine(t)
	if e.lite == nil {
		t.Fatal("no lite mux on the single port")
	}
	newTestLite(t, e, liteTransportParams{})
	for _, first := range []byte{0x00, 0x16, 0x80, 0x90, 0xff} {
		b := make([]byte, 40)
		b[0], b[1] = first, 200
		if e.lite.handle(e.sockets.conns[0], b, e.sockets.conns[0].LocalAddr()) {
			t.Errorf("datagram starting %#x from an unknown source taken", first)
		}
	}
}
