package sfu

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/pion/stun"
	"github.com/pion/webrtc/v3"

	"github.com/onstagehq/onstage/internal/check"
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

// The consent ticker starts with the first lite transport and stops with
// the engine; a transport made after that is refused.
func TestLiteMuxCloseStopsTicker(t *testing.T) {
	base := runtime.NumGoroutine()
	e, err := NewEngine(Config{IncludeLoopback: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTestLite(t, e, liteTransportParams{})
	e.lite.mu.RLock()
	running := e.lite.running
	e.lite.mu.RUnlock()
	if !running {
		t.Fatal("no consent ticker with a transport")
	}
	_ = tr.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	certs, _ := e.certificates()
	if _, err := newLiteTransport(liteTransportParams{Mux: e.lite, Cert: &certs[0]}); err != ErrLiteMuxClosed {
		t.Fatalf("newLiteTransport after Close: %v", err)
	}
	check.ForErr(t, 5*time.Second, 20*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > base {
			return fmt.Errorf("%d goroutines, baseline %d", n, base)
		}
		return nil
	})
}

// Publishers' RTP goes to Pion without an address lookup, even from an
// address a lite transport registered; DTLS from it is the transport's
// while its handshake runs, and RTCP only if it authenticates.
func TestLiteMuxLeavesRTPToPion(t *testing.T) {
	e := newTestEngine(t)
	_, probe, _ := liteNominated(t, e)
	src := probe.LocalAddr()
	conn := e.sockets.conns[0]
	rtp := []byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xaa}
	rtpMarker := []byte{0x80, 96 | 0x80, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xaa} // PT 96 + marker = 224
	rtcp := []byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
	dtls := []byte{22, 0xfe, 0xfd, 0, 0}
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"RTP", rtp, false},
		{"RTP with marker", rtpMarker, false},
		{"RTCP that does not authenticate", rtcp, false},
		{"DTLS", dtls, true},
		{"one byte", []byte{0x80}, false},
	} {
		if got := e.lite.handle(conn, tc.b, src); got != tc.want {
			t.Errorf("%s: taken %t, want %t", tc.name, got, tc.want)
		}
	}
}

// A transport whose handshake is over keeps its client's address when a
// check with another ufrag comes from it (which may be spoofed), and leaves
// DTLS and unauthenticated SRTCP from it to Pion; its media still flows.
func TestLiteRetiredKeepsAddress(t *testing.T) {
	e := newTestEngine(t)
	tr, c, s := liteConnect(t, e, webrtc.DTLSRoleClient, nil)
	r := tr.route.Load()
	ap := addrPort(r.addr)
	if e.lite.handle(r.conn, bindingRequest(t, "someoneelse:r", "a-password-of-22-chars"), r.addr) {
		t.Error("another connection's check taken")
	}
	if e.lite.lookupAddr(ap) != tr {
		t.Fatal("a foreign check released a retired transport's address")
	}
	if e.lite.handle(r.conn, []byte{22, 0xfe, 0xfd, 0, 0}, r.addr) {
		t.Error("DTLS taken by a retired transport")
	}
	if e.lite.handle(r.conn, []byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, r.addr) {
		t.Error("unauthenticated SRTCP taken")
	}
	s.expectMedia(t, tr, c, 10, s.counter)
}
