package sfu

import (
	"log/slog"
	"net"
	"testing"

	"github.com/pion/transport/v2/stdnet"
)

// localMuxAddresses is this machine's network and what the mux listens on in it.
func localMuxAddresses(t *testing.T) (*stdnet.Net, []net.IP) {
	t.Helper()
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := muxAddresses(n)
	if err != nil {
		t.Fatal(err)
	}
	return n, addrs
}

// The mux listens on each local address, so that a reply leaves from the
// address the client checked; with NAT 1:1 addresses, on one unspecified one.
func TestMuxSocketPerAddress(t *testing.T) {
	_, want := localMuxAddresses(t)
	e := newTestEngine(t)
	if len(want) == 0 {
		want = []net.IP{net.IPv6unspecified}
	}
	if len(e.sockets.conns) != len(want) {
		t.Fatalf("%d mux sockets, want one per address %v", len(e.sockets.conns), want)
	}
	seen := map[string]bool{}
	for i, c := range e.sockets.conns {
		ip := c.LocalAddr().(*net.UDPAddr).IP
		if !ip.Equal(want[i]) || seen[ip.String()] {
			t.Fatalf("socket %d listens on %v; addresses %v", i, ip, want)
		}
		seen[ip.String()] = true
	}

	nat, err := NewEngine(Config{NAT1To1IPs: []string{"203.0.113.7"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nat.Close()
	if len(nat.sockets.conns) != 1 || !nat.sockets.conns[0].LocalAddr().(*net.UDPAddr).IP.IsUnspecified() {
		t.Fatalf("with NAT 1:1 addresses: %d sockets, first on %v", len(nat.sockets.conns), nat.sockets.conns[0].LocalAddr())
	}
}

func TestUsableMuxIP(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true},
		{"192.0.2.2", true},
		{"::1", false}, // in ::/96, which Pion does not gather either
		{"fd00::2", true},
		{"2001:db8::1", true},
		{"0.0.0.0", false},
		{"::", false},
		{"fe80::1", false},
		{"169.254.1.1", false},
		{"fec0::1", false},
		{"::192.0.2.2", false},
		{"224.0.0.1", false},
	} {
		if got := usableMuxIP(net.ParseIP(tc.ip)); got != tc.want {
			t.Errorf("usableMuxIP(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

// An address that cannot be bound is skipped; the others still serve.
func TestMuxSkipsAddressItCannotBind(t *testing.T) {
	n, addrs := localMuxAddresses(t)
	if len(addrs) < 2 || !addrs[0].IsLoopback() {
		t.Skipf("needs loopback and another address, have %v", addrs)
	}
	taken, err := net.ListenUDP("udp4", &net.UDPAddr{IP: addrs[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.LocalAddr().(*net.UDPAddr).Port
	mux, g, _, err := listenMux(n, port, nil, true, newPionLoggers(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer mux.Close()
	if len(g.conns) != len(addrs)-1 {
		t.Fatalf("%d sockets for %d addresses, one taken", len(g.conns), len(addrs))
	}
	for _, c := range g.conns {
		if a := c.LocalAddr().(*net.UDPAddr); a.IP.Equal(addrs[0]) || a.Port != port {
			t.Fatalf("socket on %v", a)
		}
	}
}
