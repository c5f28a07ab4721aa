package sfu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v2"
	"github.com/pion/webrtc/v3"

	"github.com/onstagehq/onstage/internal/check"
)

// liteSSRC is the one video SSRC the hand-written offers announce.
const liteSSRC = 0x4c495445

// newTestLite makes a lite transport on e's mux, closed with the test.
func newTestLite(t testing.TB, e *Engine, p liteTransportParams) *liteTransport {
	t.Helper()
	certs, err := e.certificates()
	if err != nil {
		t.Fatal(err)
	}
	p.Mux, p.Cert = e.lite, &certs[0]
	tr, err := newLiteTransport(p)
	if err != nil {
		t.Fatal(err)
	}
	// A weak reference, so that the memory test can measure a closed
	// transport's heap as freed; an open one is held by the mux anyway.
	w := weak.Make(tr)
	t.Cleanup(func() {
		if tr := w.Value(); tr != nil {
			_ = tr.Close()
		}
	})
	return tr
}

// liteHandOffer is an offer like the one the SDP code writes for a lite transport: one
// VP8 video section the server sends, ICE-lite, BUNDLE, rtcp-mux, the
// mux's host candidates.
func liteHandOffer(tr *liteTransport) webrtc.SessionDescription {
	ufrag, pwd := tr.localCredentials()
	alg, fp := tr.fingerprint()
	var b strings.Builder
	b.WriteString("v=0\r\no=- 4215775240449105457 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	b.WriteString("a=group:BUNDLE 0\r\na=ice-lite\r\na=msid-semantic: WMS lite\r\n")
	b.WriteString("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n")
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=fingerprint:%s %s\r\na=setup:actpass\r\n", ufrag, pwd, alg, fp)
	b.WriteString("a=mid:0\r\na=sendonly\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\n")
	fmt.Fprintf(&b, "a=msid:lite video\r\na=ssrc:%d cname:lite\r\na=ssrc:%d msid:lite video\r\n", liteSSRC, liteSSRC)
	for _, c := range tr.p.Mux.candidates() {
		b.WriteString("a=" + c + "\r\n")
	}
	b.WriteString("a=end-of-candidates\r\n")
	return webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: b.String()}
}

// handAnswer is what setRemote takes from an answer, read the simple way.
type handAnswer struct {
	ufrag, pwd string
	fps        []liteFingerprint
	dtlsServer bool // the client answered setup:active
}

func parseHandAnswer(sdp string) handAnswer {
	var a handAnswer
	for _, line := range strings.Split(sdp, "\r\n") {
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
			a.ufrag = v
		} else if v, ok := strings.CutPrefix(line, "a=ice-pwd:"); ok {
			a.pwd = v
		} else if v, ok := strings.CutPrefix(line, "a=fingerprint:"); ok {
			alg, val, _ := strings.Cut(v, " ")
			a.fps = append(a.fps, liteFingerprint{Alg: alg, Value: val})
		} else if v, ok := strings.CutPrefix(line, "a=setup:"); ok {
			a.dtlsServer = v == "active"
		}
	}
	return a
}

// liteClient is a Pion client for a lite transport: it records the RTP it
// receives and its ICE connection states.
type liteClient struct {
	pc   *webrtc.PeerConnection
	rtp  chan *rtp.Packet
	mu   sync.Mutex
	ices []webrtc.ICEConnectionState
}

// newLiteClient makes a client answering with DTLS role (client: setup:active).
func newLiteClient(t testing.TB, role webrtc.DTLSRole) *liteClient {
	t.Helper()
	return newLiteClientOn(t, role, nil)
}

// newLiteClientOn is newLiteClient with the client's ICE on udp, when not
// nil.
func newLiteClientOn(t testing.TB, role webrtc.DTLSRole, udp net.PacketConn) *liteClient {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetPrflxAcceptanceMinWait(0)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if err := se.SetAnsweringDTLSRole(role); err != nil {
		t.Fatal(err)
	}
	if udp != nil {
		mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: udp})
		t.Cleanup(func() { _ = mux.Close() })
		se.SetICEUDPMux(mux)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)).
		NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &liteClient{pc: pc, rtp: make(chan *rtp.Packet, 1024)}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case c.rtp <- p:
			default:
			}
		}
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		c.mu.Lock()
		c.ices = append(c.ices, s)
		c.mu.Unlock()
	})
	t.Cleanup(func() { _ = pc.Close() })
	return c
}

func (c *liteClient) iceStates() []webrtc.ICEConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]webrtc.ICEConnectionState(nil), c.ices...)
}

// negotiate has the client answer tr's current offer and gives the answer
// to tr.
func (c *liteClient) negotiate(t testing.TB, tr *liteTransport) handAnswer {
	t.Helper()
	a := c.answer(t, tr)
	if err := tr.setRemote(a.ufrag, a.pwd, a.fps, a.dtlsServer); err != nil {
		t.Fatal(err)
	}
	return a
}

// answer has the client answer tr's current offer, without giving the
// answer to tr.
func (c *liteClient) answer(t testing.TB, tr *liteTransport) handAnswer {
	t.Helper()
	return parseHandAnswer(c.answerOffer(t, liteHandOffer(tr)).SDP)
}

// answerOffer has the client apply offer and returns its answer.
func (c *liteClient) answerOffer(t testing.TB, offer webrtc.SessionDescription) webrtc.SessionDescription {
	t.Helper()
	if err := c.pc.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := c.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	return answer
}

// liteSender writes numbered VP8 packets on tr.
type liteSender struct {
	seq     uint16
	counter uint32
}

func (s *liteSender) send(tr *liteTransport) error {
	s.seq++
	s.counter++
	h := rtp.Header{Version: 2, Marker: true, PayloadType: 96, SequenceNumber: s.seq, Timestamp: s.counter * 3000, SSRC: liteSSRC}
	_, err := tr.WriteRTP(&h, makePayload(webrtc.RTPCodecTypeVideo, 0, s.counter, s.counter == 1, 200))
	return err
}

// expectMedia sends until the client has received n packets after from,
// each with the payload sent.
func (s *liteSender) expectMedia(t testing.TB, tr *liteTransport, c *liteClient, n int, from uint32) {
	t.Helper()
	got := 0
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for got < n {
		select {
		case <-deadline:
			t.Fatalf("client received %d of %d packets", got, n)
		case <-tick.C:
			if err := s.send(tr); err != nil {
				t.Fatalf("WriteRTP: %v", err)
			}
		case p := <-c.rtp:
			info := parsePayload(p.Payload)
			if !bytes.Equal(p.Payload, makePayload(webrtc.RTPCodecTypeVideo, 0, info.counter, info.counter == 1, 200)) {
				t.Fatalf("packet %d: payload differs", p.SequenceNumber)
			}
			if info.counter > from {
				got++
			}
		}
	}
}

// liteConnect brings tr up with a real client answering role, sends media
// until it arrives and has the client's PLI reach OnRTCP.
func liteConnect(t testing.TB, e *Engine, role webrtc.DTLSRole, states chan liteState) (*liteTransport, *liteClient, *liteSender) {
	t.Helper()
	var plis atomic.Int32
	var iceUp atomic.Int32
	tr := newTestLite(t, e, liteTransportParams{
		OnICEConnected: func() { iceUp.Add(1) },
		OnState: func(s liteState) {
			if states != nil {
				states <- s
			}
		},
		OnRTCP: func(buf []byte) {
			pkts, err := rtcp.Unmarshal(buf)
			if err != nil {
				t.Errorf("OnRTCP: %v", err)
				return
			}
			for _, p := range pkts {
				if pli, ok := p.(*rtcp.PictureLossIndication); ok && pli.MediaSSRC == liteSSRC {
					plis.Add(1)
				}
			}
		},
	})
	c := newLiteClient(t, role)
	a := c.negotiate(t, tr)
	if a.dtlsServer != (role == webrtc.DTLSRoleClient) {
		t.Fatalf("client answered dtlsServer=%v for role %v", a.dtlsServer, role)
	}
	check.For(t, 10*time.Second, "lite transport connected", func() bool { return tr.state() == liteConnected })
	if iceUp.Load() != 1 {
		t.Fatalf("OnICEConnected ran %d times", iceUp.Load())
	}
	s := &liteSender{}
	s.expectMedia(t, tr, c, 10, 0)
	check.For(t, 10*time.Second, "PLI in OnRTCP", func() bool {
		_ = c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: liteSSRC}})
		return plis.Load() > 0
	})
	check.For(t, 5*time.Second, "DTLS retired", func() bool { return tr.retired.Load() && tr.dtlsIn.Load() == nil })
	return tr, c, s
}

// A real Pion client receives what WriteRTP sends and its RTCP reaches
// OnRTCP, with either DTLS role; the DTLS connection is gone afterwards and
// media still flows.
func TestLiteEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		role webrtc.DTLSRole // the client's
	}{
		{"client active, server DTLS", webrtc.DTLSRoleClient},
		{"client passive, client DTLS", webrtc.DTLSRoleServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t)
			states := make(chan liteState, 16)
			tr, c, s := liteConnect(t, e, tc.role, states)
			s.expectMedia(t, tr, c, 10, s.counter)
			// Sender reports go out too.
			if err := tr.WriteRTCP([]rtcp.Packet{&rtcp.SenderReport{SSRC: liteSSRC}}); err != nil {
				t.Fatal(err)
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			// Until the closing, which another goroutine may still be
			// delivering.
			var got []liteState
			for len(got) == 0 || got[len(got)-1] != liteClosed {
				select {
				case s := <-states:
					got = append(got, s)
				case <-time.After(5 * time.Second):
					t.Fatalf("states %v, no closed", got)
				}
			}
			if want := []liteState{liteChecking, liteConnected, liteClosed}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("states %v, want %v", got, want)
			}
			if _, err := tr.WriteRTP(&rtp.Header{SSRC: liteSSRC}, []byte{1}); err != ErrTransportNotReady {
				t.Fatalf("WriteRTP after Close: %v", err)
			}
		})
	}
}

// dropFirstHandshake loses the first DTLS handshake datagram its client
// reads, as a network (or a peer whose DTLS endpoint is not up yet) would.
type dropFirstHandshake struct {
	net.PacketConn
	handshakes atomic.Int32 // handshake datagrams that arrived
}

func (c *dropFirstHandshake) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err == nil && n > 0 && b[0] == 22 && c.handshakes.Add(1) == 1 {
			continue
		}
		return n, addr, err
	}
}

// A client that answers setup:passive makes the server the DTLS client;
// when its ClientHello is lost the server sends it again, on its own
// shorter interval, and the connection comes up.
func TestLiteClientHelloLost(t *testing.T) {
	e := newTestEngine(t)
	tr := newTestLite(t, e, liteTransportParams{})
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	lossy := &dropFirstHandshake{PacketConn: udp}
	c := newLiteClientOn(t, webrtc.DTLSRoleServer, lossy)
	start := time.Now()
	if a := c.negotiate(t, tr); a.dtlsServer {
		t.Fatal("the client answered active")
	}
	check.For(t, 10*time.Second, "lite transport connected", func() bool { return tr.state() == liteConnected })
	// The ClientHello, the one sent again, then the one with the cookie.
	if n := lossy.handshakes.Load(); n < 3 {
		t.Fatalf("%d handshake datagrams reached the client", n)
	}
	// The interval itself, since pion/dtls's default second would connect
	// too; the time is logged, not asserted.
	if got := tr.dtlsConfig(false, nil).FlightInterval; got != liteDTLSClientFlight {
		t.Fatalf("DTLS client resends every %v, want %v", got, liteDTLSClientFlight)
	}
	if got := tr.dtlsConfig(true, nil).FlightInterval; got != 0 {
		t.Fatalf("DTLS server resends every %v, want pion/dtls's default", got)
	}
	t.Logf("connected %v after the answer, one ClientHello lost", time.Since(start))
	s := &liteSender{}
	s.expectMedia(t, tr, c, 10, 0)
}

// A fingerprint that changes between answers is refused; the same one
// only updates ICE credentials.
func TestLiteSetRemoteFingerprint(t *testing.T) {
	e := newTestEngine(t)
	tr := newTestLite(t, e, liteTransportParams{})
	fp := []liteFingerprint{{"sha-256", "AB:CD"}}
	if err := tr.setRemote("u", "p", nil, true); err != ErrNoFingerprint {
		t.Fatalf("no fingerprint: %v", err)
	}
	if err := tr.setRemote("", "p", fp, true); err != ErrNoICECredentials {
		t.Fatalf("no ufrag: %v", err)
	}
	if err := tr.setRemote("u", "p", fp, true); err != nil {
		t.Fatal(err)
	}
	if err := tr.setRemote("u2", "p2", []liteFingerprint{{"SHA-256", "ab:cd"}}, true); err != nil {
		t.Fatalf("same fingerprint: %v", err)
	}
	two := []liteFingerprint{{"sha-256", "AB:CD"}, {"sha-1", "01:02"}}
	other := newTestLite(t, e, liteTransportParams{})
	if err := other.setRemote("u", "p", two, true); err != nil {
		t.Fatal(err)
	}
	if err := other.setRemote("u", "p", []liteFingerprint{two[1], two[0]}, true); err != nil {
		t.Fatalf("same fingerprints in another order: %v", err)
	}
	if err := tr.setRemote("u3", "p3", []liteFingerprint{{"sha-256", "AB:CE"}}, true); err != ErrFingerprintChanged {
		t.Fatalf("changed fingerprint: %v", err)
	}
	if got := tr.state(); got != liteChecking {
		t.Fatalf("state %v", got)
	}
}

// Without the single-port mux there is no lite transport.
func TestLiteNeedsMux(t *testing.T) {
	if _, err := newLiteTransport(liteTransportParams{}); err != ErrLiteNeedsMux {
		t.Fatalf("newLiteTransport without mux: %v", err)
	}
	e, err := NewEngine(Config{UDPPortMin: 50000, UDPPortMax: 50100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.lite != nil {
		t.Fatal("lite mux without the single port")
	}
}

// The transport's ICE credentials and fingerprint are what an offer needs.
func TestLiteCredentials(t *testing.T) {
	e := newTestEngine(t)
	a := newTestLite(t, e, liteTransportParams{})
	b := newTestLite(t, e, liteTransportParams{})
	au, ap := a.localCredentials()
	bu, _ := b.localCredentials()
	if len(au) < 4 || len(ap) < 22 || au == bu {
		t.Fatalf("credentials %q/%q, other ufrag %q", au, ap, bu)
	}
	alg, fp := a.fingerprint()
	certs, _ := e.certificates()
	want, _ := certs[0].GetFingerprints()
	if alg != "sha-256" || !strings.EqualFold(fp, want[0].Value) || fp != strings.ToUpper(fp) {
		t.Fatalf("fingerprint %s %s, Pion's %v", alg, fp, want)
	}
	for _, c := range e.lite.candidates() {
		if f := strings.Fields(c); len(f) != 8 || !strings.HasPrefix(c, "candidate:") || f[1] != "1" || f[2] != "udp" || f[7] != "host" {
			t.Fatalf("candidate %q", c)
		}
	}
	if len(e.lite.candidates()) != len(e.sockets.conns) {
		t.Fatalf("%d candidates for %d sockets", len(e.lite.candidates()), len(e.sockets.conns))
	}
	// Without loopback (a node in a cluster), 127.0.0.1 is not offered,
	// though the mux listens there too.
	noLoop, err := NewEngine(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer noLoop.Close()
	for _, c := range noLoop.lite.candidates() {
		if strings.Contains(c, " 127.0.0.1 ") || strings.Contains(c, " ::1 ") {
			t.Fatalf("loopback candidate %q without IncludeLoopback", c)
		}
	}
}

// restartICE: new credentials; the client restarts ICE on the new offer,
// media goes on over the same DTLS association, and the old ufrag is gone.
func TestLiteRestartICE(t *testing.T) {
	e := newTestEngine(t)
	tr, c, s := liteConnect(t, e, webrtc.DTLSRoleClient, nil)
	oldUfrag, oldPwd := tr.localCredentials()
	tr.restartICE()
	ufrag, pwd := tr.localCredentials()
	if ufrag == oldUfrag || pwd == oldPwd {
		t.Fatal("restartICE kept the credentials")
	}
	e.lite.mu.RLock()
	both := e.lite.ufrags[oldUfrag] == tr && e.lite.ufrags[ufrag] == tr
	e.lite.mu.RUnlock()
	if !both {
		t.Fatal("old and new ufrag are not both registered during the restart")
	}
	// Media still flows on the old credentials until the answer.
	s.expectMedia(t, tr, c, 5, s.counter)
	before := len(c.iceStates())
	c.negotiate(t, tr)
	e.lite.mu.RLock()
	_, oldLeft := e.lite.ufrags[oldUfrag]
	e.lite.mu.RUnlock()
	if oldLeft {
		t.Fatal("old ufrag still registered after the answer")
	}
	check.For(t, 10*time.Second, "client ICE connected again", func() bool {
		st := c.iceStates()[before:]
		return len(st) > 0 && st[len(st)-1] == webrtc.ICEConnectionStateConnected
	})
	s.expectMedia(t, tr, c, 10, s.counter)
	if tr.state() != liteConnected {
		t.Fatalf("state %v after restart", tr.state())
	}
}

// WriteRTP allocates nothing, and what it sends decrypts with the keys.
func TestLiteWriteRTPAllocs(t *testing.T) {
	tr, sink, remote := newKeyedLite(t)
	h := &rtp.Header{Version: 2, PayloadType: 96, SSRC: liteSSRC, Timestamp: 1}
	if err := h.SetExtension(1, []byte{0xaa, 0xbb}); err != nil {
		t.Fatal(err)
	}
	payload := makePayload(webrtc.RTPCodecTypeVideo, 0, 7, false, 1000)
	write := func() {
		h.SequenceNumber++
		if _, err := tr.WriteRTP(h, payload); err != nil {
			t.Fatal(err)
		}
	}
	write()
	buf := make([]byte, 2000)
	_ = sink.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := sink.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var got rtp.Header
	plain, err := remote.DecryptRTP(nil, buf[:n], &got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain[len(plain)-len(payload):], payload) || !bytes.Equal(got.GetExtension(1), []byte{0xaa, 0xbb}) {
		t.Fatal("decrypted packet differs from the one written")
	}
	if allocs := testing.AllocsPerRun(200, write); allocs != 0 {
		t.Fatalf("WriteRTP: %v allocations per call", allocs)
	}
}

func BenchmarkLiteWriteRTP(b *testing.B) {
	tr, _, _ := newKeyedLite(b)
	h := &rtp.Header{Version: 2, PayloadType: 96, SSRC: liteSSRC}
	payload := makePayload(webrtc.RTPCodecTypeVideo, 0, 7, false, 1100)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		h.SequenceNumber++
		if _, err := tr.WriteRTP(h, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// newKeyedLite is a transport with GCM keys and a route to sink, a local
// socket, as after a handshake; remote decrypts what it sends.
func newKeyedLite(t testing.TB) (*liteTransport, *net.UDPConn, *srtp.Context) {
	t.Helper()
	e := newTestEngine(t)
	var conn *batchConn
	for _, c := range e.sockets.conns {
		if ip := c.LocalAddr().(*net.UDPAddr).IP; ip.IsLoopback() || ip.IsUnspecified() {
			conn = c
		}
	}
	if conn == nil {
		t.Skip("no loopback mux socket")
	}
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	tr := newTestLite(t, e, liteTransportParams{})
	key, salt := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 12)
	keys := srtp.SessionKeys{LocalMasterKey: key, LocalMasterSalt: salt, RemoteMasterKey: key, RemoteMasterSalt: salt}
	if err := tr.setKeys(srtp.ProtectionProfileAeadAes128Gcm, keys); err != nil {
		t.Fatal(err)
	}
	remote, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	tr.route.Store(&liteRoute{conn: conn, addr: sink.LocalAddr().(*net.UDPAddr)})
	return tr, sink, remote
}

// Close ends the handshake goroutine and the DTLS connection's, and leaves
// no goroutine behind, whether the transport connected or not.
func TestLiteCloseNoLeak(t *testing.T) {
	e := newTestEngine(t)
	// The mux's consent ticker starts with its first transport and stays.
	warm := newTestLite(t, e, liteTransportParams{})
	_ = warm.Close()
	base := runtime.NumGoroutine()

	// Handshakes that never finish: as the server waiting for a
	// ClientHello, as the client waiting for a nomination.
	var pending []*liteTransport
	for _, server := range []bool{true, false} {
		p := newTestLite(t, e, liteTransportParams{})
		if err := p.setRemote("u", "p", []liteFingerprint{{"sha-256", "AB"}}, server); err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	tr, c, _ := liteConnect(t, e, webrtc.DTLSRoleClient, nil)
	_ = c.pc.Close()
	_ = tr.Close()
	for _, p := range pending {
		_ = p.Close()
	}
	if n := e.lite.count.Load(); n != 0 {
		t.Fatalf("%d transports registered after Close", n)
	}
	e.lite.mu.RLock()
	left := len(e.lite.ufrags) + len(e.lite.addrs)
	e.lite.mu.RUnlock()
	if left != 0 {
		t.Fatalf("%d ufrags and addresses registered after Close", left)
	}
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > base {
			return fmt.Errorf("%d goroutines, baseline %d", n, base)
		}
		return nil
	})
}

// Heap and goroutines a connected transport holds once its DTLS connection
// is retired: the point of the lite transport.
func TestLiteMemoryPerTransport(t *testing.T) {
	if testing.Short() {
		t.Skip("50 real connections")
	}
	const n = 50
	e := newTestEngine(t)
	trs := make([]*liteTransport, 0, n)
	clients := make([]*liteClient, 0, n)
	for range n {
		tr, c, _ := liteConnect(t, e, webrtc.DTLSRoleClient, nil)
		trs, clients = append(trs, tr), append(clients, c)
	}
	for _, c := range clients {
		_ = c.pc.Close()
	}
	clients = nil
	settle := func() (uint64, int) {
		var last int
		_ = check.Poll(10*time.Second, 100*time.Millisecond, func() error {
			n := runtime.NumGoroutine()
			if n != last {
				last = n
				return fmt.Errorf("%d goroutines", n)
			}
			return nil
		})
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, runtime.NumGoroutine()
	}
	heapWith, gWith := settle()
	for _, tr := range trs {
		_ = tr.Close()
	}
	trs = nil
	heapWithout, gWithout := settle()
	perHeap := (int64(heapWith) - int64(heapWithout)) / n
	perG := float64(gWith-gWithout) / n
	t.Logf("per connected lite transport after DTLS retirement: %d bytes of heap, %.2f goroutines (%d transports)", perHeap, perG, n)
	if perHeap > 50<<10 || perG > 0 {
		t.Fatalf("per transport: %d bytes, %.2f goroutines", perHeap, perG)
	}
}

// A client whose certificate is not the one its answer names fails the
// handshake, in either DTLS role.
func TestLiteWrongFingerprint(t *testing.T) {
	for _, role := range []webrtc.DTLSRole{webrtc.DTLSRoleClient, webrtc.DTLSRoleServer} {
		t.Run(role.String(), func(t *testing.T) {
			e := newTestEngine(t)
			tr := newTestLite(t, e, liteTransportParams{})
			c := newLiteClient(t, role)
			a := c.answer(t, tr)
			wrong := []liteFingerprint{{"sha-256", strings.Repeat("AB:", 31) + "AB"}}
			if err := tr.setRemote(a.ufrag, a.pwd, wrong, a.dtlsServer); err != nil {
				t.Fatal(err)
			}
			check.For(t, 10*time.Second, "handshake failed", func() bool { return tr.state() == liteFailed })
			if _, err := tr.WriteRTP(&rtp.Header{SSRC: liteSSRC}, []byte{1}); err != ErrTransportNotReady {
				t.Fatalf("WriteRTP after failure: %v", err)
			}
		})
	}
}

// SRTCP under ever new SSRCs that does not authenticate (a client's, or
// spoofed from its address) leaves the inbound context's state bounded,
// and the client's own RTCP still gets through afterwards.
func TestLiteSRTCPUnknownSSRCsBounded(t *testing.T) {
	tr, _, remote := newKeyedLite(t)
	var got atomic.Int32
	tr.p.OnRTCP = func([]byte) { got.Add(1) }
	valid := func() {
		t.Helper()
		raw, err := (&rtcp.ReceiverReport{SSRC: 7}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		enc, err := remote.EncryptRTCP(nil, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		tr.handleSRTP(enc)
	}
	valid()
	first := tr.in
	junk := make([]byte, 32)
	junk[0], junk[1], junk[3] = 0x80, 200, 6
	for i := range 10 * liteMaxSRTCPSSRCs {
		binary.BigEndian.PutUint32(junk[4:8], uint32(1000+i))
		tr.handleSRTP(junk)
	}
	if n := len(tr.inSSRCs); n > liteMaxSRTCPSSRCs {
		t.Fatalf("state for %d SSRCs, bound %d", n, liteMaxSRTCPSSRCs)
	}
	if tr.in == first {
		t.Fatal("the inbound context was kept past the bound")
	}
	valid()
	if got.Load() != 2 {
		t.Fatalf("%d of 2 valid RTCP packets reached OnRTCP", got.Load())
	}
}
