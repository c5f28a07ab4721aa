package sfu

import (
	"crypto/rand"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/stun"
)

// liteConsentTimeout is how long a transport with a selected pair lives
// without a valid check (RFC 7675 allows 30 s; browsers check every few
// seconds). A variable so that tests can shorten it.
var liteConsentTimeout = 30 * time.Second

// liteMaxAddrs bounds the source addresses a transport keeps registered: a
// client checks from each of its candidates (host, reflexive, one per
// interface), and an ICE restart after a network change adds its new ones.
const liteMaxAddrs = 8

// liteICE is a transport's ICE-lite agent state, guarded by the
// transport's mu. The server is always the controlled agent: it answers
// checks and takes the pair the client nominates (RFC 8445 7.3.1.5), and
// sends no checks of its own.
type liteICE struct {
	// cur are the credentials of the latest offer; old, while an ICE
	// restart waits for the answer, the previous ones, which keep answering
	// so that media flows until the client switches.
	cur, old liteCreds

	addrs []netip.AddrPort // registered source addresses, oldest first
	// checked are the pairs checks came in on before the first nomination
	// (at most liteMaxAddrs), to check back once the remote credentials
	// are known (see triggeredCheck).
	checked   []liteRoute
	lastCheck time.Time // of the last valid check: consent
	nominated bool
	// nominatedUfrag is the local ufrag of the credentials the client last
	// nominated with: a check with newer ones (an ICE restart) is checked
	// back like a first one.
	nominatedUfrag string
	routed         chan struct{} // closed at the first nomination
}

// liteCreds are one generation of ICE credentials: ours, and the remote's
// once its answer is set ("" before: any remote ufrag is accepted).
type liteCreds struct {
	ufrag, pwd             string
	remoteUfrag, remotePwd string
}

// newLiteCreds makes random local credentials: 16 and 26 ice-chars, above
// RFC 8839's minimum of 4 and 22 (and 24 and 128 bits of randomness).
func newLiteCreds() liteCreds {
	return liteCreds{ufrag: rand.Text()[:16], pwd: rand.Text()}
}

// match returns the credentials a check's USERNAME (local:remote) is for,
// or nil.
func (ice *liteICE) match(local, remote string) *liteCreds {
	for _, c := range [2]*liteCreds{&ice.cur, &ice.old} {
		if c.ufrag == "" || c.ufrag != local {
			continue
		}
		if c.remoteUfrag != "" && c.remoteUfrag != remote {
			return nil
		}
		return c
	}
	return nil
}

// liteRoute is where a transport sends: the socket the nominating check
// came in on and its source.
type liteRoute struct {
	conn *batchConn
	addr *net.UDPAddr
}

// handleSTUN answers a Binding request for this transport; it runs on the
// reader goroutine of the socket the request came in on. Anything that is
// not an authentic request is dropped without a change of state.
func (t *liteTransport) handleSTUN(conn *batchConn, b []byte, src *net.UDPAddr) {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil || m.Type != stun.BindingRequest {
		return
	}
	var user stun.Username
	if user.GetFrom(m) != nil {
		return
	}
	local, remote, ok := strings.Cut(string(user), ":")
	if !ok {
		return
	}
	t.mu.Lock()
	var pwd string
	var creds liteCreds
	if c := t.ice.match(local, remote); c != nil && !t.closed {
		pwd, creds = c.pwd, *c
	}
	t.mu.Unlock()
	if pwd == "" {
		return
	}
	integrity := stun.NewShortTermIntegrity(pwd)
	if integrity.Check(m) != nil {
		return
	}
	if m.Contains(stun.AttrFingerprint) && stun.Fingerprint.Check(m) != nil {
		return
	}
	if m.Contains(stun.AttrICEControlled) {
		// Both sides claim to be controlled; a lite agent cannot switch, so
		// the client must (RFC 8445 7.3.1.1).
		if resp, err := stun.Build(m, stun.NewType(stun.MethodBinding, stun.ClassErrorResponse),
			stun.CodeRoleConflict, integrity, stun.Fingerprint); err == nil {
			_, _ = conn.WriteTo(resp.Raw, src)
		}
		return
	}

	ap := addrPort(src)
	first, trigger, reconnect := false, false, false
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.ice.lastCheck = time.Now()
	if !containsAddr(t.ice.addrs, ap) {
		var evicted netip.AddrPort
		if len(t.ice.addrs) == liteMaxAddrs {
			evicted = t.ice.addrs[0]
			t.ice.addrs = append(t.ice.addrs[:0], t.ice.addrs[1:]...)
		}
		t.ice.addrs = append(t.ice.addrs, ap)
		t.p.Mux.setAddr(t, ap, evicted)
	} else if t.p.Mux.lookupAddr(ap) != t {
		// Released meanwhile (see liteMux.releaseAddr), and in use by this
		// transport's client again.
		t.p.Mux.setAddr(t, ap, netip.AddrPort{})
	}
	if m.Contains(stun.AttrUseCandidate) {
		// The nominated pair carries everything from now on; a later
		// nomination of another address (the client's network changed and
		// it restarted ICE) moves it.
		if r := t.route.Load(); r == nil || !r.addr.IP.Equal(src.IP) || r.addr.Port != src.Port || r.conn != conn {
			t.route.Store(&liteRoute{conn: conn, addr: src})
		}
		t.ice.nominatedUfrag = creds.ufrag
		if !t.ice.nominated {
			t.ice.nominated, first = true, true
			close(t.ice.routed)
		}
		reconnect = t.st == liteDisconnected
	} else if t.ice.nominatedUfrag != creds.ufrag {
		trigger = creds.remotePwd != ""
		if !trigger && len(t.ice.checked) < liteMaxAddrs && !slices.ContainsFunc(t.ice.checked, func(r liteRoute) bool {
			return r.conn == conn && addrPort(r.addr) == ap
		}) {
			t.ice.checked = append(t.ice.checked, liteRoute{conn: conn, addr: src})
		}
	}
	t.mu.Unlock()

	resp, err := stun.Build(m, stun.BindingSuccess, &stun.XORMappedAddress{IP: src.IP, Port: src.Port},
		integrity, stun.Fingerprint)
	if err == nil {
		_, _ = conn.WriteTo(resp.Raw, src)
	}
	if trigger {
		t.triggeredCheck(conn, src, creds)
	}
	if reconnect {
		t.setState(liteConnected)
	}
	if first && t.p.OnICEConnected != nil {
		t.p.OnICEConnected()
	}
}

// liteCheckPriority is the PRIORITY of the server's checks: that of a
// peer-reflexive candidate (RFC 8445 7.1.1), the type the client learns the
// server's address as should it differ from the offered one.
const liteCheckPriority = 110<<24 | 65535<<8 | 255

// triggeredCheck sends the client a check on the pair its check just came
// in on. A lite agent need not check (RFC 8445 2.5), but a controlling agent
// may nominate a pair only once it has seen that pair work both ways, and
// one that has not had a check from us waits for its own next pacing tick
// to nominate: Pion's controlling agent nominates as soon as a check
// arrives on a pair that has succeeded, about 200 ms sooner. The client's
// answer is read and dropped by the mux; nothing here waits for it.
func (t *liteTransport) triggeredCheck(conn *batchConn, dst *net.UDPAddr, c liteCreds) {
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(c.remoteUfrag+":"+c.ufrag),
		ice.AttrControlled(t.tieBreaker), ice.PriorityAttr(liteCheckPriority),
		stun.NewShortTermIntegrity(c.remotePwd), stun.Fingerprint)
	if err == nil {
		_, _ = conn.WriteTo(req.Raw, dst)
	}
}

func containsAddr(as []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// restartICE makes new local credentials for the next offer. The current
// ones keep answering until the answer to that offer is set (setRemote):
// media flows on the old pair while the client restarts. A second restart
// before that answer replaces the unanswered credentials, not the ones in use.
func (t *liteTransport) restartICE() {
	next := newLiteCreds()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	drop := t.ice.old.ufrag
	if t.ice.old.ufrag != "" && t.ice.cur.remoteUfrag == "" {
		drop = t.ice.cur.ufrag // unanswered: the old ones are still those in use
	} else {
		t.ice.old = t.ice.cur
	}
	t.ice.cur = next
	t.p.Mux.setUfrag(t, next.ufrag, true)
	if drop != "" {
		t.p.Mux.setUfrag(t, drop, false)
	}
}

// setRemoteICE takes the remote credentials of an answer; the credentials
// of before a restart stop answering. It returns the pairs to check back:
// those the client checked before its answer reached us, when it was too
// early for a triggered check (a client sends checks as soon as it has made
// its answer, which reaches us through the signaling server). Called with
// mu held; the caller sends the checks after unlocking.
func (t *liteTransport) setRemoteICE(ufrag, pwd string) (recheck []liteRoute, creds liteCreds) {
	t.ice.cur.remoteUfrag, t.ice.cur.remotePwd = ufrag, pwd
	if t.ice.nominatedUfrag != t.ice.cur.ufrag {
		recheck = t.ice.checked
	}
	t.ice.checked = nil
	creds = t.ice.cur
	if t.ice.old.ufrag != "" {
		t.p.Mux.setUfrag(t, t.ice.old.ufrag, false)
		t.ice.old = liteCreds{}
	}
	return recheck, creds
}

// checkConsent acts when the selected pair has had no valid check for
// liteConsentTimeout; the mux's ticker calls it. A connected transport is
// disconnected, as a Pion connection would be: its DTLS session and SRTP
// keys stay, and the client's next nomination (after an ICE restart, on
// another network) connects it again. One that never connected fails.
func (t *liteTransport) checkConsent(now time.Time) {
	t.mu.Lock()
	expired := t.ice.nominated && !t.closed && t.st != liteDisconnected && t.st < liteFailed &&
		now.Sub(t.ice.lastCheck) > liteConsentTimeout
	connected := t.st == liteConnected
	t.mu.Unlock()
	switch {
	case !expired:
	case connected:
		t.p.Log.Info("lite transport: ICE consent expired; disconnected")
		t.setState(liteDisconnected)
	default:
		t.p.Log.Info("lite transport: ICE consent expired")
		t.fail()
	}
}
