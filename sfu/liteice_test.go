package sfu

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/stun"
	"github.com/pion/webrtc/v3"

	"github.com/onstagehq/onstage/internal/check"
)

// liteProbe is a client socket on loopback and the address of the mux's
// loopback socket, for checks written by hand.
func liteProbe(t *testing.T, e *Engine) (*net.UDPConn, *net.UDPAddr) {
	t.Helper()
	var dst *net.UDPAddr
	for _, c := range e.sockets.conns {
		if a := c.LocalAddr().(*net.UDPAddr); a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			dst = a
		}
	}
	if dst == nil {
		t.Skip("no IPv4 loopback mux socket")
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, dst
}

// liteNominated makes a lite transport and nominates it from a probe.
func liteNominated(t *testing.T, e *Engine) (*liteTransport, *net.UDPConn, *net.UDPAddr) {
	t.Helper()
	tr := newTestLite(t, e, liteTransportParams{})
	ufrag, pwd := tr.localCredentials()
	probe, dst := liteProbe(t, e)
	if exchange(t, probe, dst, bindingRequest(t, ufrag+":r", pwd, ice.AttrControlling(1), ice.UseCandidate())) == nil {
		t.Fatal("lite check not answered")
	}
	return tr, probe, dst
}

func bindingRequest(t *testing.T, user, pwd string, extra ...stun.Setter) []byte {
	t.Helper()
	setters := append([]stun.Setter{stun.TransactionID, stun.BindingRequest, stun.NewUsername(user)}, extra...)
	setters = append(setters, stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	m, err := stun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

// exchange sends req and returns the answer, or nil when none comes within
// two seconds.
func exchange(t *testing.T, c *net.UDPConn, dst *net.UDPAddr, req []byte) *stun.Message {
	t.Helper()
	return exchangeWithin(t, c, dst, req, 2*time.Second)
}

// unanswered reports that req got no answer within a wait long enough for
// a loopback answer.
func unanswered(t *testing.T, c *net.UDPConn, dst *net.UDPAddr, req []byte) bool {
	t.Helper()
	return exchangeWithin(t, c, dst, req, 300*time.Millisecond) == nil
}

func exchangeWithin(t *testing.T, c *net.UDPConn, dst *net.UDPAddr, req []byte, wait time.Duration) *stun.Message {
	t.Helper()
	if _, err := c.WriteToUDP(req, dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	n, _, err := c.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	m := &stun.Message{Raw: buf[:n]}
	if err := m.Decode(); err != nil {
		t.Fatalf("answer is not STUN: %v", err)
	}
	return m
}

// Each kind of Binding request gets the answer ICE-lite owes it, and only
// an authentic one changes state.
func TestLiteBindingRequests(t *testing.T) {
	e := newTestEngine(t)
	const noAnswer = stun.MessageClass(0xff)
	controlling := []stun.Setter{ice.AttrControlling(1), ice.PriorityAttr(1)}
	for _, tc := range []struct {
		name       string
		user       func(ufrag string) string
		wrongPwd   bool
		remote     string // remote ufrag set with setRemote first, if any
		extra      []stun.Setter
		wantClass  stun.MessageClass
		registered bool // the source routes to the transport
		routed     bool // ... and is where it sends
	}{
		{name: "wrong integrity", user: func(u string) string { return u + ":r" }, wrongPwd: true, extra: controlling, wantClass: noAnswer},
		{name: "unknown ufrag goes to Pion", user: func(string) string { return "nobody:r" }, extra: controlling, wantClass: noAnswer},
		{name: "wrong remote ufrag", user: func(u string) string { return u + ":x" }, remote: "r", extra: controlling, wantClass: noAnswer},
		{name: "role conflict", user: func(u string) string { return u + ":r" }, extra: []stun.Setter{ice.AttrControlled(1)}, wantClass: stun.ClassErrorResponse},
		{name: "check before the answer", user: func(u string) string { return u + ":anything" }, extra: controlling, wantClass: stun.ClassSuccessResponse, registered: true},
		{name: "check after the answer", user: func(u string) string { return u + ":r" }, remote: "r", extra: controlling, wantClass: stun.ClassSuccessResponse, registered: true},
		{name: "nomination", user: func(u string) string { return u + ":r" }, extra: append(controlling, ice.UseCandidate()), wantClass: stun.ClassSuccessResponse, registered: true, routed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var iceUp atomic.Int32
			tr := newTestLite(t, e, liteTransportParams{OnICEConnected: func() { iceUp.Add(1) }})
			if tc.remote != "" {
				if err := tr.setRemote(tc.remote, "remotepassword", []liteFingerprint{{"sha-256", "AB"}}, true); err != nil {
					t.Fatal(err)
				}
			}
			ufrag, pwd := tr.localCredentials()
			usePwd := pwd
			if tc.wrongPwd {
				usePwd = "not-the-password-at-all"
			}
			probe, dst := liteProbe(t, e)
			req := bindingRequest(t, tc.user(ufrag), usePwd, tc.extra...)
			var resp *stun.Message
			if tc.wantClass != noAnswer {
				resp = exchange(t, probe, dst, req)
			} else if !unanswered(t, probe, dst, req) {
				t.Fatal("answered")
			}
			switch {
			case tc.wantClass == noAnswer:
			case resp == nil:
				t.Fatal("no answer")
			case resp.Type.Class != tc.wantClass:
				t.Fatalf("answer %v, want class %v", resp.Type, tc.wantClass)
			default:
				if err := stun.NewShortTermIntegrity(pwd).Check(resp); err != nil {
					t.Fatalf("answer integrity: %v", err)
				}
				if err := stun.Fingerprint.Check(resp); err != nil {
					t.Fatalf("answer fingerprint: %v", err)
				}
				if tc.wantClass == stun.ClassErrorResponse {
					var code stun.ErrorCodeAttribute
					if err := code.GetFrom(resp); err != nil || code.Code != stun.CodeRoleConflict {
						t.Fatalf("error answer %v (%v), want 487", code, err)
					}
				} else {
					var xor stun.XORMappedAddress
					if err := xor.GetFrom(resp); err != nil {
						t.Fatal(err)
					}
					if la := probe.LocalAddr().(*net.UDPAddr); !xor.IP.Equal(la.IP) || xor.Port != la.Port {
						t.Fatalf("XOR-MAPPED-ADDRESS %v, client is %v", xor, la)
					}
				}
			}
			ap := addrPort(probe.LocalAddr().(*net.UDPAddr))
			if tc.name == "unknown ufrag goes to Pion" && e.lite.handle(e.sockets.conns[0], req, probe.LocalAddr()) {
				t.Fatal("the lite mux took another connection's check")
			}
			if got := e.lite.lookupAddr(ap) == tr; got != tc.registered {
				t.Fatalf("source registered: %v, want %v", got, tc.registered)
			}
			r := tr.route.Load()
			if routed := r != nil && addrPort(r.addr) == ap; routed != tc.routed {
				t.Fatalf("routed: %v, want %v", routed, tc.routed)
			}
			// The callback runs after the answer is written.
			want := map[bool]int32{true: 1}[tc.routed]
			check.For(t, 2*time.Second, "OnICEConnected", func() bool { return iceUp.Load() == want })
			time.Sleep(20 * time.Millisecond)
			if iceUp.Load() != want {
				t.Fatalf("OnICEConnected ran %d times", iceUp.Load())
			}
		})
	}
}

// A nomination from another address moves the route there (the client's
// network changed); a check without USE-CANDIDATE does not.
func TestLiteRenomination(t *testing.T) {
	e := newTestEngine(t)
	tr := newTestLite(t, e, liteTransportParams{})
	ufrag, pwd := tr.localCredentials()
	a, dst := liteProbe(t, e)
	b, _ := liteProbe(t, e)
	for _, step := range []struct {
		from     *net.UDPConn
		nominate bool
		want     *net.UDPConn
	}{
		{a, true, a},
		{b, false, a},
		{b, true, b},
		{a, false, b},
	} {
		extra := []stun.Setter{ice.AttrControlling(1), ice.PriorityAttr(1)}
		if step.nominate {
			extra = append(extra, ice.UseCandidate())
		}
		if exchange(t, step.from, dst, bindingRequest(t, ufrag+":r", pwd, extra...)) == nil {
			t.Fatal("check not answered")
		}
		r := tr.route.Load()
		if r == nil || addrPort(r.addr) != addrPort(step.want.LocalAddr().(*net.UDPAddr)) {
			t.Fatalf("route %v, want %v", r, step.want.LocalAddr())
		}
	}
	for _, c := range []*net.UDPConn{a, b} {
		if e.lite.lookupAddr(addrPort(c.LocalAddr().(*net.UDPAddr))) != tr {
			t.Fatalf("%v not registered", c.LocalAddr())
		}
	}
}

// setConsent shortens the consent timeout and tick for a test. Call it
// before making the engine: the values come back after the engine's own
// cleanup has stopped the consent loop that reads them.
func setConsent(t *testing.T, timeout, tick time.Duration) {
	oldTimeout, oldTick := liteConsentTimeout, liteConsentTick
	t.Cleanup(func() { liteConsentTimeout, liteConsentTick = oldTimeout, oldTick })
	liteConsentTimeout, liteConsentTick = timeout, tick
}

// A nominated transport fails when checks stop for the consent timeout,
// not while they come; once closed, it answers nothing.
func TestLiteConsentExpiry(t *testing.T) {
	setConsent(t, 2*time.Second, 50*time.Millisecond)
	e := newTestEngine(t)
	states := make(chan liteState, 8)
	tr := newTestLite(t, e, liteTransportParams{OnState: func(s liteState) { states <- s }})
	ufrag, pwd := tr.localCredentials()
	probe, dst := liteProbe(t, e)
	check := func(nominate bool) *stun.Message {
		extra := []stun.Setter{ice.AttrControlling(1), ice.PriorityAttr(1)}
		if nominate {
			extra = append(extra, ice.UseCandidate())
		}
		return exchange(t, probe, dst, bindingRequest(t, ufrag+":r", pwd, extra...))
	}
	if check(true) == nil {
		t.Fatal("nomination not answered")
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if check(false) == nil {
			t.Fatal("consent check not answered")
		}
		if s := tr.state(); s != liteNew {
			t.Fatalf("state %v while checks come", s)
		}
	}
	select {
	case s := <-states:
		if s != liteFailed {
			t.Fatalf("state %v, want failed", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("consent did not expire")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if s := <-states; s != liteClosed {
		t.Fatalf("state %v after Close", s)
	}
	if !unanswered(t, probe, dst, bindingRequest(t, ufrag+":r", pwd, ice.AttrControlling(1))) {
		t.Fatal("a closed transport answered")
	}
	if e.lite.lookupAddr(addrPort(probe.LocalAddr().(*net.UDPAddr))) != nil {
		t.Fatal("source still registered after Close")
	}
}

// Pion's own connections keep working on the mux while a lite transport
// is registered, with its addresses: what is not the lite transport's goes
// to Pion unchanged.
func TestLitePionAlongside(t *testing.T) {
	e := newTestEngine(t)
	tr, probe, dst := liteNominated(t, e)
	ufrag, pwd := tr.localCredentials()

	server, err := e.newPC(&interceptor.Registry{})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if _, err := server.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	client := newLiteClient(t, webrtc.DTLSRoleClient)
	offer, err := server.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(server)
	if err := server.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := client.pc.SetRemoteDescription(*server.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := client.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	if err := server.SetRemoteDescription(answer); err != nil {
		t.Fatal(err)
	}
	check.For(t, 10*time.Second, "Pion connection up beside the lite transport", func() bool {
		return server.ConnectionState() == webrtc.PeerConnectionStateConnected &&
			client.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
	if exchange(t, probe, dst, bindingRequest(t, ufrag+":r", pwd, ice.AttrControlling(1))) == nil {
		t.Fatal("lite check not answered with a Pion connection up")
	}
}

// A check before nomination is checked back on the same pair, so that a
// controlling client may nominate at once; one that came before the answer
// is checked back when the answer sets the remote credentials. After the
// nomination nothing is checked back.
func TestLiteTriggeredCheck(t *testing.T) {
	e := newTestEngine(t)
	tr := newTestLite(t, e, liteTransportParams{})
	ufrag, pwd := tr.localCredentials()
	const remotePwd = "the-clients-ice-password"
	probe, dst := liteProbe(t, e)
	controlling := []stun.Setter{ice.AttrControlling(1), ice.PriorityAttr(1)}

	read := func(wait time.Duration) *stun.Message {
		buf := make([]byte, 1500)
		_ = probe.SetReadDeadline(time.Now().Add(wait))
		n, _, err := probe.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		m := &stun.Message{Raw: buf[:n]}
		if err := m.Decode(); err != nil {
			t.Fatalf("not STUN: %v", err)
		}
		return m
	}
	wantCheck := func(when string) {
		t.Helper()
		m := read(2 * time.Second)
		if m == nil || m.Type != stun.BindingRequest {
			t.Fatalf("%s: got %v, want a binding request", when, m)
		}
		var user stun.Username
		if err := user.GetFrom(m); err != nil || user.String() != "r:"+ufrag {
			t.Fatalf("%s: USERNAME %q (%v)", when, user, err)
		}
		if !m.Contains(stun.AttrICEControlled) || !m.Contains(stun.AttrPriority) {
			t.Fatalf("%s: check lacks ICE-CONTROLLED or PRIORITY", when)
		}
		if err := stun.NewShortTermIntegrity(remotePwd).Check(m); err != nil {
			t.Fatalf("%s: integrity: %v", when, err)
		}
		if err := stun.Fingerprint.Check(m); err != nil {
			t.Fatalf("%s: fingerprint: %v", when, err)
		}
	}

	// Before the answer: answered, not checked back yet.
	if resp := exchange(t, probe, dst, bindingRequest(t, ufrag+":r", pwd, controlling...)); resp == nil || resp.Type != stun.BindingSuccess {
		t.Fatalf("answer %v", resp)
	}
	if m := read(300 * time.Millisecond); m != nil {
		t.Fatalf("checked back before the remote credentials were known: %v", m.Type)
	}
	if err := tr.setRemote("r", remotePwd, []liteFingerprint{{"sha-256", "AB"}}, true); err != nil {
		t.Fatal(err)
	}
	wantCheck("after the answer")

	// The client's answer to the check back is taken and dropped (not
	// answered, nor passed to Pion).
	resp, err := stun.Build(stun.TransactionID, stun.BindingSuccess, stun.NewShortTermIntegrity(remotePwd), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if !e.lite.handle(e.sockets.conns[0], resp.Raw, probe.LocalAddr()) {
		t.Fatal("the client's answer to a check back went on to Pion")
	}
	if e.lite.handle(e.sockets.conns[0], resp.Raw, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}) {
		t.Fatal("a STUN answer from an unknown address was taken")
	}
	if !unanswered(t, probe, dst, resp.Raw) {
		t.Fatal("the client's answer to a check back was answered")
	}

	// A check with the answer known: the answer, then a check back.
	if resp := exchange(t, probe, dst, bindingRequest(t, ufrag+":r", pwd, controlling...)); resp == nil || resp.Type != stun.BindingSuccess {
		t.Fatalf("answer %v", resp)
	}
	wantCheck("a later check")

	// Nominated: answered only.
	if resp := exchange(t, probe, dst, bindingRequest(t, ufrag+":r", pwd, append(controlling, ice.UseCandidate())...)); resp == nil || resp.Type != stun.BindingSuccess {
		t.Fatalf("answer %v", resp)
	}
	if m := read(300 * time.Millisecond); m != nil {
		t.Fatalf("checked back after the nomination: %v", m.Type)
	}

	// An ICE restart: checks with the new credentials are checked back as
	// first ones were, once the answer gives the client's new credentials.
	tr.restartICE()
	ufrag, pwd = tr.localCredentials()
	if resp := exchange(t, probe, dst, bindingRequest(t, ufrag+":r2", pwd, controlling...)); resp == nil || resp.Type != stun.BindingSuccess {
		t.Fatalf("answer after the restart %v", resp)
	}
	if err := tr.setRemote("r2", remotePwd, []liteFingerprint{{"sha-256", "AB"}}, true); err != nil {
		t.Fatal(err)
	}
	m := read(2 * time.Second)
	var user stun.Username
	if m == nil || m.Type != stun.BindingRequest || user.GetFrom(m) != nil || user.String() != "r2:"+ufrag {
		t.Fatalf("after the restart's answer: %v (USERNAME %q), want a check back", m, user)
	}
}

// A connected transport whose consent expires is disconnected, not failed:
// the client's next nomination connects it again, keys and all.
func TestLiteConsentReconnects(t *testing.T) {
	setConsent(t, time.Second, 20*time.Millisecond)
	e := newTestEngine(t)
	states := make(chan liteState, 8)
	tr := newTestLite(t, e, liteTransportParams{OnState: func(s liteState) { states <- s }})
	ufrag, pwd := tr.localCredentials()
	probe, dst := liteProbe(t, e)
	nominate := func() {
		t.Helper()
		if exchange(t, probe, dst, bindingRequest(t, ufrag+":r", pwd, ice.AttrControlling(1), ice.PriorityAttr(1), ice.UseCandidate())) == nil {
			t.Fatal("nomination not answered")
		}
	}
	want := func(s liteState) {
		t.Helper()
		select {
		case got := <-states:
			if got != s {
				t.Fatalf("state %v, want %v", got, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no state change, want %v", s)
		}
	}
	nominate()
	// As the DTLS handshake would: this test is about ICE alone.
	tr.setState(liteConnected)
	want(liteConnected)
	want(liteDisconnected) // no checks for the timeout
	nominate()
	want(liteConnected)
	if s := tr.state(); s != liteConnected {
		t.Fatalf("state %v", s)
	}
}

// An address a lite transport was reached from is released when a check
// with another connection's ufrag comes from it: the client's port now
// belongs to a new connection (Pion's here), whose DTLS and SRTP must not
// go to the old transport.
func TestLiteAddressReused(t *testing.T) {
	e := newTestEngine(t)
	tr, probe, dst := liteNominated(t, e)
	ufrag, pwd := tr.localCredentials()
	ap := addrPort(probe.LocalAddr().(*net.UDPAddr))
	if e.lite.lookupAddr(ap) != tr {
		t.Fatal("source not registered")
	}
	// Pion's mux has no connection with this ufrag: no answer, but the
	// address is no longer the lite transport's.
	if _, err := probe.WriteToUDP(bindingRequest(t, "someoneelse:r", "a-password-of-22-chars", ice.AttrControlling(1)), dst); err != nil {
		t.Fatal(err)
	}
	check.For(t, 2*time.Second, "address released", func() bool { return e.lite.lookupAddr(ap) == nil })
	// The lite transport's own next check takes it back.
	if exchange(t, probe, dst, bindingRequest(t, ufrag+":r", pwd, ice.AttrControlling(1))) == nil {
		t.Fatal("lite check not answered")
	}
	if e.lite.lookupAddr(ap) != tr {
		t.Fatal("source not registered again")
	}
}
