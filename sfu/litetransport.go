package sfu

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	_ "crypto/sha1" // fingerprints a client may send
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v2"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v2"
	"github.com/pion/transport/v2/deadline"
	"github.com/pion/webrtc/v3"
)

// liteDTLSTimeout bounds a transport's DTLS handshake, counted from the
// first setRemote. A variable so that tests can shorten it.
var liteDTLSTimeout = 30 * time.Second

// liteDTLSQueue is how many DTLS datagrams wait for the handshake; more
// are dropped (the peer retransmits its flight).
const liteDTLSQueue = 64

// liteDTLSClientFlight is how often the transport resends its flight when
// it is the DTLS client (the subscriber answered setup:passive). A lite
// agent is connected at the client's first nomination, so the ClientHello
// can reach a peer whose own DTLS endpoint is not up yet (Pion drops it);
// pion/dtls's default, a fixed second, would then be the join's delay. As
// the DTLS server the peer's retransmissions drive ours, and its own timer
// (50 ms in browsers) already decides.
const liteDTLSClientFlight = 100 * time.Millisecond

// liteBufSize holds the largest datagram the transport sends or decrypts
// without allocating: an MTU-sized packet plus the SRTP trailer.
const liteBufSize = packetMTU + 64

// liteState is a lite transport's state. States only move forward.
type liteState int

const (
	liteNew          liteState = iota // made; no answer yet
	liteChecking                      // answer set: ICE and DTLS under way
	liteConnected                     // DTLS done and SRTP keys ready
	liteDisconnected                  // connected, then ICE consent expired; a nomination reconnects
	liteFailed                        // DTLS failed or timed out, or consent expired before connected
	liteClosed                        // Close was called
)

func (s liteState) String() string {
	switch s {
	case liteNew:
		return "new"
	case liteChecking:
		return "checking"
	case liteConnected:
		return "connected"
	case liteDisconnected:
		return "disconnected"
	case liteFailed:
		return "failed"
	case liteClosed:
		return "closed"
	}
	return "unknown"
}

// liteTransportParams configures a lite transport.
type liteTransportParams struct {
	// Mux is the engine's lite demultiplexer (Engine.lite); required.
	Mux *liteMux
	// Cert is our DTLS identity (Engine.certificates()[0]); its fingerprint
	// goes in the offer.
	Cert *webrtc.Certificate
	Log  *slog.Logger
	// OnICEConnected runs once, the first time a pair is nominated, on the
	// mux reader goroutine, with no transport lock held.
	OnICEConnected func()
	// OnState runs on every state change (checking; connected = DTLS done
	// and SRTP keys ready; failed; closed), in order, with no transport lock
	// held, on whichever goroutine made the change: the handshake goroutine,
	// the mux's consent ticker or Close's caller. It must not call Close
	// synchronously (Close waits for the handshake goroutine).
	OnState func(liteState)
	// OnRTCP gets each decrypted SRTCP compound packet, on the mux reader
	// goroutine, with the transport's inbound lock held; it must not block
	// or keep buf. It may call WriteRTP and WriteRTCP.
	OnRTCP func(buf []byte)
}

// liteTransport is the network side of one subscriber connection without a
// Pion PeerConnection: ICE-lite (liteice.go), a DTLS handshake that only
// makes SRTP keys, SRTP out and SRTCP in, all through the single-port mux.
// Once the client has proven it finished the handshake (its first SRTCP
// packet decrypts), the DTLS connection is retired, and the transport then
// holds no goroutine and a few kilobytes: its keys, two packet buffers and
// its ICE state.
//
// Lock order: mu, then the mux's lock. rmu (inbound) is held while OnRTCP
// runs, which takes the subscriber's rtcpMu and down-tracks' mu and may
// resend through WriteRTP: rmu, then those, then wmu (outbound), a leaf.
type liteTransport struct {
	p    liteTransportParams
	cert *liteCert
	// tieBreaker is the ICE-CONTROLLED value of the server's checks.
	tieBreaker uint64

	route   atomic.Pointer[liteRoute]    // where everything is sent; nil before the first nomination
	dead    atomic.Bool                  // failed or closed: writes refused
	dtlsIn  atomic.Pointer[liteDTLSConn] // the handshake's adapter until retirement
	retired atomic.Bool                  // the client's first SRTCP decrypted

	mu         sync.Mutex
	st         liteState
	stQueue    []liteState // changes not yet passed to OnState
	delivering bool        // a goroutine is calling OnState
	ice        liteICE
	remoteFPs  []liteFingerprint // from the first setRemote
	cancel     context.CancelFunc
	closed     bool

	retire chan struct{} // closed with retired
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup

	wmu  sync.Mutex     // guards out, gcm, hdr, wbuf
	out  *srtp.Context  // RTCP, and RTP without GCM
	gcm  *srtpGCMSender // RTP with GCM: allocation-free
	hdr  rtp.Header     // EncryptRTP's parse of the packet, reused
	wbuf [liteBufSize]byte

	rmu sync.Mutex // guards in, inKeys, inSSRCs, rhdr, rbuf
	in  *srtp.Context
	// inKeys remake in (see handleSRTP); inSSRCs are the SSRCs in has
	// seen, authenticated or not.
	inKeys  liteInKeys
	inSSRCs map[uint32]struct{}
	rhdr    rtcp.Header
	rbuf    [liteBufSize]byte
}

// liteInKeys are what the inbound SRTP context is made from.
type liteInKeys struct {
	key, salt []byte
	profile   srtp.ProtectionProfile
}

func (k liteInKeys) context() (*srtp.Context, error) {
	return srtp.CreateContext(k.key, k.salt, k.profile, srtp.SRTCPReplayProtection(64))
}

// liteMaxSRTCPSSRCs bounds the sender SSRCs the inbound context keeps state
// for. pion/srtp makes an SSRC's replay state before it checks the packet's
// tag and never drops it, so SRTCP with ever new SSRCs (from the client, or
// spoofed from its address) would grow it without end. A client sends RTCP
// under one or two SSRCs; past the bound the context is made again.
const liteMaxSRTCPSSRCs = 16

// newLiteTransport makes a transport and registers its ICE credentials
// with the mux. It needs the single-port mux (ErrLiteNeedsMux).
func newLiteTransport(p liteTransportParams) (*liteTransport, error) {
	if p.Mux == nil {
		return nil, ErrLiteNeedsMux
	}
	if p.Cert == nil {
		return nil, ErrLiteCertificate
	}
	lc, err := p.Mux.cert(p.Cert)
	if err != nil {
		return nil, err
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	t := &liteTransport{p: p, cert: lc, retire: make(chan struct{}), done: make(chan struct{})}
	var tb [8]byte
	_, _ = rand.Read(tb[:])
	t.tieBreaker = binary.BigEndian.Uint64(tb[:])
	t.ice.cur = newLiteCreds()
	// The handshake's adapter exists from the start, so that a client's
	// first flight is queued, not dropped, when it arrives before the
	// client's answer has reached us (a client checks, nominates and, as
	// DTLS client, sends its ClientHello as soon as it has made its answer;
	// a dropped ClientHello costs a second, pion/dtls's retransmission
	// interval). Only datagrams from an address that passed a check reach it.
	t.dtlsIn.Store(&liteDTLSConn{t: t, in: make(chan []byte, liteDTLSQueue), closed: make(chan struct{}), readDeadline: deadline.New()})
	t.ice.routed = make(chan struct{})
	if err := p.Mux.add(t, t.ice.cur.ufrag); err != nil {
		return nil, err
	}
	return t, nil
}

// localCredentials returns the ICE ufrag and password for the next offer.
func (t *liteTransport) localCredentials() (ufrag, pwd string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ice.cur.ufrag, t.ice.cur.pwd
}

// fingerprint returns our certificate's fingerprint for the offer's
// a=fingerprint: "sha-256" and upper-case hex with colons.
func (t *liteTransport) fingerprint() (alg, value string) { return "sha-256", t.cert.fingerprint }

// state returns the current state.
func (t *liteTransport) state() liteState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st
}

// setRemote takes each answer: the remote ICE credentials, the remote
// certificate's fingerprints from its SDP, and whether we are the DTLS
// server (the answer says setup:active). The first call starts the DTLS
// handshake on a goroutine the transport owns, bounded by liteDTLSTimeout:
// as the server it waits for the ClientHello, as the client it sends its
// first flight once the client has nominated a pair. Later calls only update
// the ICE credentials (after restartICE); a different fingerprint is
// ErrFingerprintChanged, since the DTLS association is never redone.
func (t *liteTransport) setRemote(ufrag, pwd string, fingerprints []liteFingerprint, dtlsServer bool) error {
	if ufrag == "" || pwd == "" {
		return ErrNoICECredentials
	}
	var usable []liteFingerprint
	for _, fp := range fingerprints {
		if fingerprintHash(fp.Alg) != 0 && fp.Value != "" {
			usable = append(usable, liteFingerprint{Alg: strings.ToLower(fp.Alg), Value: strings.ToUpper(fp.Value)})
		}
	}
	if len(usable) == 0 {
		return ErrNoFingerprint
	}
	// In a fixed order, so that a later answer listing the same ones
	// otherwise compares equal.
	slices.SortFunc(usable, func(a, b liteFingerprint) int {
		return cmp.Or(strings.Compare(a.Alg, b.Alg), strings.Compare(a.Value, b.Value))
	})
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrTransportClosed
	}
	if t.remoteFPs != nil {
		if !slices.Equal(usable, t.remoteFPs) {
			t.mu.Unlock()
			return ErrFingerprintChanged
		}
		recheck, creds := t.setRemoteICE(ufrag, pwd)
		t.mu.Unlock()
		for _, r := range recheck {
			t.triggeredCheck(r.conn, r.addr, creds)
		}
		return nil
	}
	t.remoteFPs = usable
	recheck, creds := t.setRemoteICE(ufrag, pwd)
	c := t.dtlsIn.Load() // made with the transport; nil only after Close
	if c == nil {
		t.mu.Unlock()
		return ErrTransportClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), liteDTLSTimeout)
	t.cancel = cancel
	t.wg.Add(1)
	go t.runDTLS(ctx, cancel, c, dtlsServer, usable, t.ice.routed)
	t.mu.Unlock()
	for _, r := range recheck {
		t.triggeredCheck(r.conn, r.addr, creds)
	}
	t.setState(liteChecking)
	return nil
}

// runDTLS is the transport's one goroutine: it runs the handshake, installs
// the SRTP keys, and keeps the DTLS connection (which answers the peer's
// retransmissions should our last flight be lost) until the client's first
// SRTCP packet proves it is done, or Close.
func (t *liteTransport) runDTLS(ctx context.Context, cancel context.CancelFunc, c *liteDTLSConn, server bool, fps []liteFingerprint, routed <-chan struct{}) {
	defer t.wg.Done()
	defer t.dtlsIn.CompareAndSwap(c, nil)
	defer c.Close()
	if !server {
		select {
		case <-routed:
		case <-ctx.Done():
			t.handshakeFailed(ctx.Err())
			return
		}
	}
	cfg := t.dtlsConfig(server, fps)
	var dc *dtls.Conn
	var err error
	if server {
		dc, err = dtls.ServerWithContext(ctx, c, cfg)
	} else {
		dc, err = dtls.ClientWithContext(ctx, c, cfg)
	}
	cancel() // its timer is done with
	if err != nil {
		t.handshakeFailed(err)
		return
	}
	if err := t.installKeys(dc, !server); err != nil {
		_ = dc.Close()
		t.handshakeFailed(err)
		return
	}
	t.setState(liteConnected)
	select {
	case <-t.retire:
	case <-t.done:
	}
	// The adapter first: the close_notify goes nowhere, and the DTLS read
	// loop sees io.EOF and ends.
	c.Close()
	_ = dc.Close()
}

// dtlsConfig is the handshake's configuration in the given role, accepting
// a peer certificate that matches one of fps.
func (t *liteTransport) dtlsConfig(server bool, fps []liteFingerprint) *dtls.Config {
	cfg := &dtls.Config{
		Certificates:           []tls.Certificate{t.cert.tls},
		SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80},
		ExtendedMasterSecret:   dtls.RequireExtendedMasterSecret,
		ClientAuth:             dtls.RequireAnyClientCert,
		// The peer is authenticated by the fingerprint in its description,
		// not by a chain.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: verifyFingerprints(fps),
		LoggerFactory:         t.p.Mux.pionLog,
	}
	if !server {
		cfg.FlightInterval = liteDTLSClientFlight
	}
	return cfg
}

func (t *liteTransport) handshakeFailed(err error) {
	select {
	case <-t.done: // Close cancelled it
		return
	default:
	}
	t.p.Log.Info("lite transport: dtls handshake failed", "err", err)
	t.fail()
}

// installKeys derives the SRTP keys from the finished handshake.
func (t *liteTransport) installKeys(dc *dtls.Conn, isClient bool) error {
	var profile srtp.ProtectionProfile
	selected, _ := dc.SelectedSRTPProtectionProfile()
	switch selected {
	case dtls.SRTP_AEAD_AES_128_GCM:
		profile = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return ErrTransportNotReady
	}
	cfg := srtp.Config{Profile: profile}
	state := dc.ConnectionState()
	if err := cfg.ExtractSessionKeysFromDTLS(&state, isClient); err != nil {
		return err
	}
	return t.setKeys(profile, cfg.Keys)
}

// setKeys makes the outbound and inbound SRTP contexts.
func (t *liteTransport) setKeys(profile srtp.ProtectionProfile, k srtp.SessionKeys) error {
	out, err := srtp.CreateContext(k.LocalMasterKey, k.LocalMasterSalt, profile)
	if err != nil {
		return err
	}
	inKeys := liteInKeys{key: k.RemoteMasterKey, salt: k.RemoteMasterSalt, profile: profile}
	in, err := inKeys.context()
	if err != nil {
		return err
	}
	var gcm *srtpGCMSender
	if profile == srtp.ProtectionProfileAeadAes128Gcm {
		if gcm, err = newSRTPGCMSender(k.LocalMasterKey, k.LocalMasterSalt); err != nil {
			return err
		}
	}
	t.wmu.Lock()
	t.out, t.gcm = out, gcm
	t.wmu.Unlock()
	t.rmu.Lock()
	t.in, t.inKeys, t.inSSRCs = in, inKeys, make(map[uint32]struct{}, 2)
	t.rmu.Unlock()
	return nil
}

// fail moves the transport to failed: writes stop, it stays registered
// until Close.
func (t *liteTransport) fail() {
	t.dead.Store(true)
	t.setState(liteFailed)
}

// setState moves to s if that is forward (or back from disconnected to
// connected) and passes the change to OnState. Changes made while another
// goroutine is calling OnState are queued and passed by it, so OnState sees
// them in order and never concurrently.
func (t *liteTransport) setState(s liteState) {
	t.mu.Lock()
	if s <= t.st && !(t.st == liteDisconnected && s == liteConnected) {
		t.mu.Unlock()
		return
	}
	t.st = s
	if t.p.OnState == nil {
		t.mu.Unlock()
		return
	}
	t.stQueue = append(t.stQueue, s)
	if t.delivering {
		t.mu.Unlock()
		return
	}
	t.delivering = true
	for len(t.stQueue) > 0 {
		next := t.stQueue[0]
		t.stQueue = append(t.stQueue[:0], t.stQueue[1:]...)
		t.mu.Unlock()
		t.p.OnState(next)
		t.mu.Lock()
	}
	t.delivering = false
	t.mu.Unlock()
}

// handleDTLS queues a DTLS datagram for the handshake; after retirement,
// or with the queue full, it is dropped.
func (t *liteTransport) handleDTLS(b []byte) {
	if c := t.dtlsIn.Load(); c != nil {
		c.push(b)
	}
}

// handleSRTP decrypts an SRTCP packet and passes it to OnRTCP, and reports
// whether it did; anything else (a subscriber sends no RTP) is not its. The
// first packet that decrypts retires the DTLS connection.
func (t *liteTransport) handleSRTP(b []byte) bool {
	// RFC 5761 4: RTCP packet types 192-223 sit where an RTP payload type
	// with the marker bit would.
	if len(b) < 8 || b[1] < 192 || b[1] > 223 {
		return false
	}
	t.rmu.Lock()
	if t.in == nil {
		t.rmu.Unlock()
		return false
	}
	if ssrc := binary.BigEndian.Uint32(b[4:8]); !t.knownSRTCPSSRC(ssrc) {
		t.rmu.Unlock()
		return false
	}
	pkt, err := t.in.DecryptRTCP(t.rbuf[:0], b, &t.rhdr)
	if err != nil {
		t.rmu.Unlock()
		return false
	}
	if t.p.OnRTCP != nil {
		t.p.OnRTCP(pkt)
	}
	t.rmu.Unlock()
	if !t.retired.Load() && t.retired.CompareAndSwap(false, true) {
		close(t.retire)
	}
	return true
}

// knownSRTCPSSRC notes ssrc as one the inbound context has state for, and
// makes the context again first when it already has liteMaxSRTCPSSRCs. The
// replay windows start over then, which costs a replayed RTCP packet at
// most: NACKs are budgeted and keyframe requests throttled. It reports
// false if the context could not be made. Called with rmu held.
func (t *liteTransport) knownSRTCPSSRC(ssrc uint32) bool {
	if _, ok := t.inSSRCs[ssrc]; ok {
		return true
	}
	if len(t.inSSRCs) >= liteMaxSRTCPSSRCs {
		in, err := t.inKeys.context()
		if err != nil {
			return false
		}
		t.in = in
		clear(t.inSSRCs)
	}
	t.inSSRCs[ssrc] = struct{}{}
	return true
}

// WriteRTP sends one RTP packet: the header and payload are marshalled
// into the transport's buffer, encrypted in place and written to the
// selected pair (batched during a fan-out pass). ErrTransportNotReady
// before the keys exist or after failure. Safe for concurrent use. With
// the GCM profile it allocates nothing; with AES-CM, pion/srtp's context
// allocates a little per packet.
func (t *liteTransport) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if t.dead.Load() {
		return 0, ErrTransportNotReady
	}
	r := t.route.Load()
	if r == nil {
		return 0, ErrTransportNotReady
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.out == nil {
		return 0, ErrTransportNotReady
	}
	hn := h.MarshalSize()
	if hn+len(payload)+srtpMaxTrailer > len(t.wbuf) {
		return 0, errLitePacketTooLarge
	}
	if _, err := h.MarshalTo(t.wbuf[:]); err != nil {
		return 0, err
	}
	n := hn + copy(t.wbuf[hn:], payload)
	if t.gcm != nil {
		return r.conn.WriteTo(t.gcm.seal(t.wbuf[:], hn, n, h), r.addr)
	}
	// The context parses the header back and writes the ciphertext over the
	// plaintext: same buffer, same offsets.
	pkt, err := t.out.EncryptRTP(t.wbuf[:0], t.wbuf[:n], &t.hdr)
	if err != nil {
		return 0, err
	}
	return r.conn.WriteTo(pkt, r.addr)
}

// srtpMaxTrailer is the most SRTP adds to a packet: a 16-byte GCM tag (an
// HMAC-SHA1-80 tag is 10).
const srtpMaxTrailer = 16

// WriteRTCP marshals, encrypts and sends one compound RTCP packet.
func (t *liteTransport) WriteRTCP(pkts []rtcp.Packet) error {
	if t.dead.Load() {
		return ErrTransportNotReady
	}
	r := t.route.Load()
	if r == nil {
		return ErrTransportNotReady
	}
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		return err
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.out == nil {
		return ErrTransportNotReady
	}
	pkt, err := t.out.EncryptRTCP(t.wbuf[:0], raw, nil)
	if err != nil {
		return err
	}
	_, err = r.conn.WriteTo(pkt, r.addr)
	return err
}

// Close unregisters the transport from the mux, ends the handshake if it
// still runs and waits for its goroutine. It sends no close_notify: the
// client learns from its consent checks going unanswered, or from the
// signalling that closed us.
func (t *liteTransport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	ufrags := []string{t.ice.cur.ufrag, t.ice.old.ufrag}
	addrs := t.ice.addrs
	t.ice.addrs = nil
	cancel := t.cancel
	close(t.done)
	t.mu.Unlock()
	t.dead.Store(true)
	t.p.Mux.remove(t, ufrags, addrs)
	if c := t.dtlsIn.Swap(nil); c != nil {
		c.Close()
	}
	if cancel != nil {
		cancel()
	}
	t.wg.Wait()
	t.route.Store(nil)
	t.setState(liteClosed)
	return nil
}

// fingerprintHash is the hash an SDP fingerprint algorithm names, or 0.
func fingerprintHash(alg string) crypto.Hash {
	switch strings.ToLower(alg) {
	case "sha-1":
		return crypto.SHA1
	case "sha-224":
		return crypto.SHA224
	case "sha-256":
		return crypto.SHA256
	case "sha-384":
		return crypto.SHA384
	case "sha-512":
		return crypto.SHA512
	}
	return 0
}

// verifyFingerprints accepts a peer certificate that matches one of fps
// (normalised: lower-case algorithm, upper-case value).
func verifyFingerprints(fps []liteFingerprint) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errFingerprintMismatch
		}
		for _, fp := range fps {
			h := fingerprintHash(fp.Alg).New()
			h.Write(raw[0])
			if subtle.ConstantTimeCompare([]byte(hexColons(h.Sum(nil))), []byte(fp.Value)) == 1 {
				return nil
			}
		}
		return errFingerprintMismatch
	}
}

// liteDTLSConn is the net.Conn pion/dtls runs over: reads come from the
// mux (DTLS datagrams from the transport's checked addresses), writes go
// to the selected pair. Closed, it reads io.EOF and drops writes, so that
// the DTLS connection winds down without sending anything.
type liteDTLSConn struct {
	t      *liteTransport
	in     chan []byte
	once   sync.Once
	closed chan struct{}
	// pion/dtls interrupts a read by setting a deadline in the past (when
	// its handshake fails or times out, and on Close): without it, its read
	// loop would wait for the next datagram.
	readDeadline *deadline.Deadline
}

// push queues a copy of b, or drops it when the queue is full.
func (c *liteDTLSConn) push(b []byte) {
	select {
	case c.in <- append([]byte(nil), b...):
	default:
	}
}

func (c *liteDTLSConn) Read(b []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, io.EOF
	default:
	}
	select {
	case p := <-c.in:
		return copy(b, p), nil
	case <-c.closed:
		return 0, io.EOF
	case <-c.readDeadline.Done():
		return 0, os.ErrDeadlineExceeded
	}
}

// Write sends on the selected pair; before there is one the datagram is
// dropped, as a lossy network would, and DTLS retransmits it.
func (c *liteDTLSConn) Write(b []byte) (int, error) {
	select {
	case <-c.closed:
		return len(b), nil
	default:
	}
	r := c.t.route.Load()
	if r == nil {
		return len(b), nil
	}
	return r.conn.WriteTo(b, r.addr)
}

func (c *liteDTLSConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *liteDTLSConn) LocalAddr() net.Addr {
	if r := c.t.route.Load(); r != nil {
		return r.conn.LocalAddr()
	}
	return &net.UDPAddr{}
}

func (c *liteDTLSConn) RemoteAddr() net.Addr {
	if r := c.t.route.Load(); r != nil {
		return r.addr
	}
	return &net.UDPAddr{}
}

// SetDeadline sets the read deadline; writes never block.
func (c *liteDTLSConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *liteDTLSConn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Set(t)
	return nil
}

func (c *liteDTLSConn) SetWriteDeadline(time.Time) error { return nil }
