package sfu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/transport/v2/packetio"
	"github.com/pion/webrtc/v3"

	"github.com/onstagehq/onstage/internal/check"
)

// RTP read buffers hold a fraction of a second of media, not Pion's 1 MB.
func TestReadBufferBounded(t *testing.T) {
	e := newTestEngine(t)
	if e.se.BufferFactory == nil {
		t.Fatal("no buffer factory")
	}
	b := e.se.BufferFactory(packetio.RTPBufferPacket, 1)
	defer b.Close()
	pkt := make([]byte, 1200)
	written := 0
	for i := 0; i < 1000; i++ {
		if _, err := b.Write(pkt); err != nil {
			if !errors.Is(err, packetio.ErrFull) {
				t.Fatal(err)
			}
			break
		}
		written += len(pkt)
	}
	if written > rtpReadBuffer || written < rtpReadBuffer/2 {
		t.Fatalf("buffer took %d bytes, limit %d", written, rtpReadBuffer)
	}
}

// The single port's socket gets a receive buffer sized for every connection
// it serves, not the kernel's default for one.
func TestMuxReadBuffer(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip("no rmem_max:", err)
	}
	if max, _ := strconv.Atoi(strings.TrimSpace(string(b))); max < muxReadBuffer {
		t.Skipf("rmem_max %d caps the buffer", max)
	}
	e := newTestEngine(t)
	rc, err := e.sockets.conns[0].UDPConn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	var optErr error
	if err := rc.Control(func(fd uintptr) {
		size, optErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil || optErr != nil {
		t.Fatal(err, optErr)
	}
	if size < muxReadBuffer {
		t.Fatalf("receive buffer %d, want at least %d", size, muxReadBuffer)
	}
}

// Both kinds of server connection are ICE-lite, so that the client is the
// controlling agent and nominates without waiting for a server check tick.
func TestConnectionsAreICELite(t *testing.T) {
	e := newTestEngine(t)
	sub, _, err := e.newSubscriberPC()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := sub.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(offer.SDP, "a=ice-lite") {
		t.Fatalf("subscriber offer is not ICE-lite:\n%s", offer.SDP)
	}

	if answer := publisherAnswer(t, e); !strings.Contains(answer, "a=ice-lite") {
		t.Fatalf("publisher answer is not ICE-lite:\n%s", answer)
	}
}

// The server answers a publisher's offer as the DTLS server (setup:passive):
// as the DTLS client it would send its ClientHello as soon as the client
// nominates a pair, before the client is connected, and a Pion client can
// drop that packet, which delays the handshake by a retransmission (1 s).
func TestPublisherAnswerIsDTLSServer(t *testing.T) {
	answer := publisherAnswer(t, newTestEngine(t))
	if !strings.Contains(answer, "a=setup:passive") || strings.Contains(answer, "a=setup:active") {
		t.Fatalf("publisher answer does not make the server the DTLS server:\n%s", answer)
	}
}

// publisherAnswer returns the server's answer to a Pion client's publisher
// offer (audio, setup:actpass).
func publisherAnswer(t *testing.T, e *Engine) string {
	t.Helper()
	pub, err := e.newPublisherPC(&rtcpDrain{wg: &sync.WaitGroup{}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	client, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := client.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(offer.SDP, "a=setup:actpass") {
		t.Fatalf("client offer leaves the server no choice:\n%s", offer.SDP)
	}
	if err := pub.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := pub.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return answer.SDP
}

// A publisher connection runs only the receiver-report interceptor: it
// receives media and sends none. A subscriber connection runs neither: it
// receives no media, and its sender reports come from the down-tracks
// (TestSenderReportsFromDownTrack). Each would be a ticker goroutine per
// connection.
func TestConnectionsRunOnlyTheirReportLoop(t *testing.T) {
	e := newTestEngine(t)
	sub, _, err := e.newSubscriberPC()
	if err != nil {
		t.Fatal(err)
	}
	check.ForErr(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := goroutinesIn("report.(*ReceiverInterceptor).loop"); n != 0 {
			return fmt.Errorf("subscriber connection runs %d receiver-report loops", n)
		}
		if n := goroutinesIn("report.(*SenderInterceptor).loop"); n != 0 {
			return fmt.Errorf("subscriber connection runs %d sender-report loops", n)
		}
		return nil
	})
	_ = sub.Close()
	pub, err := e.newPublisherPC(&rtcpDrain{wg: &sync.WaitGroup{}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	check.ForErr(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := goroutinesIn("report.(*SenderInterceptor).loop"); n != 0 {
			return fmt.Errorf("publisher connection runs %d sender-report loops", n)
		}
		if n := goroutinesIn("report.(*ReceiverInterceptor).loop"); n != 1 {
			return fmt.Errorf("publisher connection runs %d receiver-report loops, want 1", n)
		}
		return nil
	})
}

// goroutinesIn counts the goroutines whose stack contains fn.
func goroutinesIn(fn string) int {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// A subscriber that receives no simulcast track runs no estimator, and an
// idle participant no goroutine of its own: both add up over a large room.
func TestIdleSubscriberRunsNoEstimatorOrLoop(t *testing.T) {
	e := newTestEngine(t)
	r := e.NewRouter(RouterParams{})
	defer r.Close()
	pub := newTestClient(t, r, "pub", clientOpts{})
	sub := newTestClient(t, r, "sub", clientOpts{})
	publishAV(pub)
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		received := 0
		for _, rt := range sub.received() {
			if len(rt.packets()) >= 10 {
				received++
			}
		}
		if received != 2 {
			return fmt.Errorf("subscriber receives %d of 2 tracks", received)
		}
		for _, fn := range []string{"interceptor/pkg/gcc.", "sfu.(*Participant).negotiateWhileKicked"} {
			if n := goroutinesIn(fn); n != 0 {
				return fmt.Errorf("%d goroutines in %s", n, fn)
			}
		}
		return nil
	})
}

// Every connection presents the engine's one DTLS certificate, replaced
// before it expires.
func TestConnectionsShareRenewedCertificate(t *testing.T) {
	e := newTestEngine(t)
	fingerprint := func() string {
		t.Helper()
		pc, _, err := e.newSubscriberPC()
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		fps, err := pc.GetConfiguration().Certificates[0].GetFingerprints()
		if err != nil || len(fps) == 0 {
			t.Fatal(fps, err)
		}
		return fps[0].Value
	}
	first := fingerprint()
	if again := fingerprint(); again != first {
		t.Fatalf("second connection's fingerprint %s, want the shared %s", again, first)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	expiring, err := webrtc.NewCertificate(key, x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(certRenewBefore / 2),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.certMu.Lock()
	e.cert = expiring
	e.certMu.Unlock()
	renewed := fingerprint()
	if fps, _ := expiring.GetFingerprints(); renewed == first || renewed == fps[0].Value {
		t.Fatal("certificate close to expiry not replaced")
	}
	if e.cert.Expires().Before(time.Now().Add(certRenewBefore)) {
		t.Fatalf("renewed certificate expires at %v", e.cert.Expires())
	}
}
