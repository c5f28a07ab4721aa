package sfu

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"hash/crc32"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/webrtc/v3"
)

// liteConsentTick is how often the mux checks its lite transports' consent.
// A variable so that tests can shorten it along with liteConsentTimeout.
var liteConsentTick = time.Second

// liteMux sits in front of Pion's UDP mux on every socket of the single
// port and takes the datagrams that belong to a lite transport (our own
// ICE-lite, DTLS and SRTP for a subscriber connection, see liteTransport)
// before Pion sees them. Everything else goes to Pion unchanged, so Pion peer
// connections and lite transports share the port.
//
// Routing follows RFC 7983's first-byte ranges: a STUN message by the local
// part of its USERNAME (our ufrag), DTLS and SRTP/SRTCP by source address,
// which a transport registers when it accepts a connectivity check from it.
// With no lite transport at all the per-packet cost is one atomic load.
//
// The mux owns one goroutine, started with its first transport and stopped
// by close: a ticker that checks every transport's ICE consent.
type liteMux struct {
	count atomic.Int32 // transports alive; 0 lets every datagram through untouched

	mu         sync.RWMutex
	ufrags     map[string]*liteTransport         // local ufrag → transport
	addrs      map[netip.AddrPort]*liteTransport // checked source address → transport
	transports map[*liteTransport]struct{}
	running    bool // the consent ticker runs
	closed     bool

	cands   []string              // host candidates, fixed when the sockets open
	pionLog logging.LoggerFactory // for pion/dtls
	stop    chan struct{}
	wg      sync.WaitGroup

	certMu  sync.Mutex // guards the converted certificate cache
	certSrc webrtc.Certificate
	certTLS *liteCert
}

// liteCert is a webrtc.Certificate in the form pion/dtls takes, with its
// SDP fingerprint; one is shared by every transport presenting it.
type liteCert struct {
	tls         tls.Certificate
	fingerprint string // sha-256, upper-case hex with colons
}

func newLiteMux(pionLog logging.LoggerFactory) *liteMux {
	return &liteMux{
		pionLog:    pionLog,
		ufrags:     map[string]*liteTransport{},
		addrs:      map[netip.AddrPort]*liteTransport{},
		transports: map[*liteTransport]struct{}{},
		stop:       make(chan struct{}),
	}
}

// demuxConn is a mux socket as Pion's UDP mux sees it: its reads skip the
// datagrams a lite transport takes.
type demuxConn struct {
	*batchConn
	lite *liteMux
}

// ReadFrom returns the next datagram that is not a lite transport's. It runs
// on the Pion mux's reader goroutine for this socket; lite transports'
// handlers run there too.
func (c demuxConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.batchConn.ReadFrom(b)
		if err != nil || n == 0 || c.lite.count.Load() == 0 {
			return n, addr, err
		}
		if !c.lite.handle(c.batchConn, b[:n], addr) {
			return n, addr, err
		}
	}
}

// handle gives b to the lite transport it belongs to and reports whether
// one took it.
func (m *liteMux) handle(conn *batchConn, b []byte, addr net.Addr) bool {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return false
	}
	switch first := b[0]; {
	case first <= 3: // STUN
		ufrag, ok := stunLocalUfrag(b)
		if !ok {
			// A message without USERNAME from a lite transport's client is
			// the answer to a triggered check (see triggeredCheck): nothing
			// waits for it, and Pion's mux has no use for it.
			m.mu.RLock()
			t := m.addrs[addrPort(ua)]
			m.mu.RUnlock()
			return t != nil
		}
		m.mu.RLock()
		t := m.ufrags[string(ufrag)] // no allocation: the conversion is only a map key
		stale := t == nil && m.addrs[addrPort(ua)] != nil
		m.mu.RUnlock()
		if stale {
			m.releaseAddr(addrPort(ua))
		}
		if t == nil {
			return false
		}
		t.handleSTUN(conn, b, ua)
		return true
	case first >= 128 && first <= 191 && (len(b) < 2 || b[1] < 192 || b[1] > 223):
		// RTP media (RFC 5761 4: RTCP types are 192-223): only publishers
		// send it, to Pion; a lite transport takes RTCP alone. Deciding on
		// the second byte keeps the address lookup off the publishers'
		// per-packet path.
		return false
	case first >= 20 && first <= 63, first >= 128 && first <= 191: // DTLS, RTCP
		ap := addrPort(ua)
		m.mu.RLock()
		t := m.addrs[ap]
		m.mu.RUnlock()
		if t == nil {
			return false
		}
		if first <= 63 {
			// A retired transport's handshake is over: DTLS from its
			// address is a new connection's on a reused port (Pion's).
			if t.retired.Load() {
				return false
			}
			t.handleDTLS(b)
			return true
		}
		// SRTCP that does not authenticate may be such a connection's too.
		return t.handleSRTP(b)
	}
	return false
}

// addrPort is ua as a map key: v4-mapped addresses unmapped, so that a
// dual-stack socket's view of an IPv4 peer matches an IPv4 socket's.
func addrPort(ua *net.UDPAddr) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(ua.IP)
	return netip.AddrPortFrom(ip.Unmap(), uint16(ua.Port))
}

// stunLocalUfrag returns the part of a STUN message's USERNAME before the
// colon (the receiver's ufrag in ICE), without parsing the whole message.
func stunLocalUfrag(b []byte) ([]byte, bool) {
	const header, attrUsername = 20, 0x0006
	if len(b) < header || binary.BigEndian.Uint32(b[4:8]) != 0x2112A442 {
		return nil, false
	}
	end := header + int(binary.BigEndian.Uint16(b[2:4]))
	if end > len(b) {
		return nil, false
	}
	for i := header; i+4 <= end; {
		typ, n := binary.BigEndian.Uint16(b[i:]), int(binary.BigEndian.Uint16(b[i+2:]))
		i += 4
		if i+n > end {
			return nil, false
		}
		if typ == attrUsername {
			u := b[i : i+n]
			if j := bytes.IndexByte(u, ':'); j >= 0 {
				u = u[:j]
			}
			return u, true
		}
		i += (n + 3) &^ 3
	}
	return nil, false
}

// add registers a new transport under its first ufrag and starts the
// consent ticker if it is not running.
func (m *liteMux) add(t *liteTransport, ufrag string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrLiteMuxClosed
	}
	m.transports[t] = struct{}{}
	m.ufrags[ufrag] = t
	m.count.Add(1)
	if !m.running {
		m.running = true
		m.wg.Add(1)
		go m.consentLoop()
	}
	return nil
}

// remove forgets t, its ufrags and its addresses.
func (m *liteMux) remove(t *liteTransport, ufrags []string, addrs []netip.AddrPort) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.transports[t]; !ok {
		return
	}
	delete(m.transports, t)
	for _, u := range ufrags {
		if m.ufrags[u] == t {
			delete(m.ufrags, u)
		}
	}
	for _, a := range addrs {
		if m.addrs[a] == t {
			delete(m.addrs, a)
		}
	}
	m.count.Add(-1)
}

// setUfrag registers (or, with on false, unregisters) another local ufrag of t.
func (m *liteMux) setUfrag(t *liteTransport, ufrag string, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.transports[t]; !ok {
		return
	}
	switch {
	case on:
		m.ufrags[ufrag] = t
	case m.ufrags[ufrag] == t:
		delete(m.ufrags, ufrag)
	}
}

// setAddr routes a's DTLS and SRTP to t. The latest transport to accept a
// check from an address takes it: the same client address can only be
// one live connection's. old, if valid, is dropped (the transport keeps a
// bounded list of its addresses).
func (m *liteMux) setAddr(t *liteTransport, a, old netip.AddrPort) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.transports[t]; !ok {
		return
	}
	if old.IsValid() && m.addrs[old] == t {
		delete(m.addrs, old)
	}
	m.addrs[a] = t
}

// releaseAddr unroutes a, whose checks now carry another connection's ufrag:
// the client's port was reused for a new connection (a closed peer
// connection's, reused by the operating system, or a NAT mapping's), and
// its DTLS and SRTP must go to that connection, which may be Pion's, not to
// the lite transport the address served before (still registered while it
// waits for its participant to leave).
//
// Such a check may be spoofed, and nothing here can verify it: another
// connection's password is Pion's. So only a transport still in its
// handshake gives the address up, where DTLS cannot tell the connections
// apart. A retired one keeps it, since what it no longer takes goes on to
// Pion anyway (handle): DTLS, and SRTCP that does not authenticate.
func (m *liteMux) releaseAddr(a netip.AddrPort) {
	m.mu.Lock()
	if t := m.addrs[a]; t != nil && !t.retired.Load() {
		delete(m.addrs, a)
	}
	m.mu.Unlock()
}

// lookupAddr returns the transport a is routed to.
func (m *liteMux) lookupAddr(a netip.AddrPort) *liteTransport {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.addrs[a]
}

// consentLoop checks every transport's consent each tick until close.
func (m *liteMux) consentLoop() {
	defer m.wg.Done()
	tick := time.NewTicker(liteConsentTick)
	defer tick.Stop()
	var ts []*liteTransport
	for {
		select {
		case <-m.stop:
			return
		case now := <-tick.C:
			m.mu.RLock()
			for t := range m.transports {
				ts = append(ts, t)
			}
			m.mu.RUnlock()
			for _, t := range ts {
				t.checkConsent(now)
			}
			clear(ts)
			ts = ts[:0]
		}
	}
}

// close stops the consent ticker; transports still open stay as they are
// (their sockets close with the mux).
func (m *liteMux) close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	close(m.stop)
	m.mu.Unlock()
	m.wg.Wait()
}

// candidates returns the host candidates of the mux's sockets as SDP
// attribute values ("candidate:..."), for the offer of a lite transport.
func (m *liteMux) candidates() []string { return m.cands }

// setCandidates fixes the candidates: one per socket and address, the NAT
// 1:1 addresses in place of the socket's own when there are any (as Pion
// advertises them), loopback addresses only with loopback (as Pion's
// SetIncludeLoopbackCandidate). The highest priority goes to the first.
func (m *liteMux) setCandidates(conns []*batchConn, natIPs []string, loopback bool) {
	var cands []string
	add := func(ip net.IP, port int) {
		if ip == nil || ip.IsUnspecified() || (ip.IsLoopback() && !loopback) {
			return
		}
		s := ip.String()
		if ip4 := ip.To4(); ip4 != nil {
			s = ip4.String()
		}
		// RFC 8445 5.1.2.1 with the host type preference (126) and one local
		// preference per candidate; the foundation is the same for a given
		// address and transport, as RFC 8445 5.1.1.3 asks.
		prio := uint32(126)<<24 | uint32(65535-len(cands))<<8 | (256 - 1)
		found := crc32.ChecksumIEEE([]byte("host" + s + "udp"))
		cands = append(cands, fmt.Sprintf("candidate:%d 1 udp %d %s %d typ host", found, prio, s, port))
	}
	for _, c := range conns {
		la, ok := c.LocalAddr().(*net.UDPAddr)
		if !ok {
			continue
		}
		if len(natIPs) == 0 {
			add(la.IP, la.Port)
			continue
		}
		for _, n := range natIPs {
			// Pion's form "external/internal" maps one local address; the
			// mux has one socket on the unspecified address then, so every
			// external address is served by it.
			ext, _, _ := strings.Cut(n, "/")
			add(net.ParseIP(ext), la.Port)
		}
	}
	m.cands = cands
}

// cert converts c for pion/dtls once per certificate: parsing the key and
// certificate back from PEM is the only way in from outside Pion, and one
// converted copy shared by every transport keeps them small.
func (m *liteMux) cert(c *webrtc.Certificate) (*liteCert, error) {
	m.certMu.Lock()
	defer m.certMu.Unlock()
	if m.certTLS != nil && m.certSrc.Equals(*c) {
		return m.certTLS, nil
	}
	p, err := c.PEM()
	if err != nil {
		return nil, fmt.Errorf("sfu: dtls certificate: %w", err)
	}
	var lc liteCert
	rest := []byte(p)
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			// Pion base64-encodes the DER once more inside the PEM block
			// (see webrtc.CertificateFromPEM).
			der := make([]byte, len(block.Bytes))
			n, err := base64.StdEncoding.Decode(der, block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("sfu: dtls certificate: %w", err)
			}
			lc.tls.Certificate = [][]byte{der[:n]}
			lc.fingerprint = fingerprintSHA256(der[:n])
		case "PRIVATE KEY":
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("sfu: dtls key: %w", err)
			}
			lc.tls.PrivateKey = key
		}
	}
	if lc.tls.Certificate == nil || lc.tls.PrivateKey == nil {
		return nil, ErrLiteCertificate
	}
	m.certSrc, m.certTLS = *c, &lc
	return &lc, nil
}

// fingerprintSHA256 is the SDP fingerprint of a DER certificate:
// upper-case hex pairs joined by colons.
func fingerprintSHA256(der []byte) string {
	sum := sha256.Sum256(der)
	return hexColons(sum[:])
}

func hexColons(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, len(b)*3)
	for i, x := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}
