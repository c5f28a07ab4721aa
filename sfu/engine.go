package sfu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v2"
	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/stun"
	"github.com/pion/transport/v2/packetio"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"
)

// Config configures the transport side of an Engine.
type Config struct {
	// UDPPortMin and UDPPortMax bound the ephemeral UDP ports used for ICE.
	// Zero means any port.
	UDPPortMin, UDPPortMax uint16
	// UDPMuxPort, when positive, serves every peer connection from one UDP
	// port (one socket per local address, or one on the unspecified address
	// with NAT1To1IPs); it takes precedence over the port range. Without it
	// and without a port range, each of those sockets takes an ephemeral
	// port. Only the single port batches a fan-out pass's datagrams into one
	// sendmmsg per socket.
	UDPMuxPort int
	// NAT1To1IPs are public addresses advertised as host candidates.
	NAT1To1IPs []string
	// IncludeLoopback makes the server offer 127.0.0.1 candidates, so that
	// clients on the same host connect even without another interface.
	IncludeLoopback bool
	// ICEServers is handed to clients; the server itself needs no STUN
	// because it only answers on its own addresses.
	ICEServers []webrtc.ICEServer
	// SubscriberTransport selects what carries the media the server sends:
	// SubscriberTransportLite (onstage's own ICE-lite, DTLS and SRTP, see
	// sublite.go), which needs the single-port mux, or
	// SubscriberTransportPion (a Pion PeerConnection per subscriber). Empty
	// means lite where there is a mux, else Pion.
	SubscriberTransport string
}

// Subscriber transports (Config.SubscriberTransport).
const (
	SubscriberTransportPion = "pion"
	SubscriberTransportLite = "lite"
)

// Header extension URIs negotiated on both peer connections.
const (
	audioLevelURI  = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
	absSendTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
	repairedRIDURI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
)

// Read buffer limits. Pion's defaults (1 MB per RTP stream) hold about 8 s
// of 1 Mbit/s video: a reader that falls behind then forwards seconds-old
// media with no loss at all, which is worse than losing it. 64 KB is about
// 200 ms of 2.5 Mbit/s video (500 ms at 1 Mbit/s) with room for a keyframe
// burst; past it Pion drops the packet, the publisher-side NACK generator
// asks for it again and subscribers see an ordinary loss.
const (
	rtpReadBuffer  = 64 * 1000
	rtcpReadBuffer = 100 * 1000 // Pion's default
)

// muxReadBuffer is the kernel receive buffer of each mux socket: about
// 250 ms of 64 Mbit/s.
const muxReadBuffer = 2 << 20

// newReadBuffer is the SettingEngine's buffer factory for SRTP/SRTCP read
// streams.
func newReadBuffer(kind packetio.BufferPacketType, _ uint32) io.ReadWriteCloser {
	b := packetio.NewBuffer()
	if kind == packetio.RTPBufferPacket {
		b.SetLimitSize(rtpReadBuffer)
	} else {
		b.SetLimitSize(rtcpReadBuffer)
	}
	return b
}

// Initial and bounding bitrates for the subscriber-side estimator. GCC starts
// at 10 kbps by default, which would pin every subscriber to the lowest
// layer for seconds; starting higher lets the estimate fall instead of climb.
const (
	bweInitialBitrate = 1_500_000
	bweMinBitrate     = 50_000
	bweMaxBitrate     = 20_000_000
)

// Engine holds the Pion configuration shared by every Router: codecs, header
// extensions, interceptor factories and ICE settings. Each peer connection
// gets its own API built from these, so that the interceptors holding
// per-connection state (the bandwidth estimator and its gate, the publisher's
// RTCP drain) belong to that connection alone and need no process-wide
// bookkeeping. Publishers generate NACKs and TWCC feedback; subscribers run
// the gated GCC estimator, and their NACKs are answered from each published
// track's packet cache (see DownTrack.handleNACK).
type Engine struct {
	cfg Config
	log *slog.Logger

	se      webrtc.SettingEngine
	media   *webrtc.MediaEngine // copied by Pion into every peer connection
	mux     io.Closer           // single-port UDP mux, nil without one
	sockets *socketGroup        // the mux's sockets, nil without one
	lite    *liteMux            // lite transports' demultiplexer on the mux, nil without one

	// Stateless interceptor factories shared by every connection.
	nackGen, twccSender, reportRecv interceptor.Factory
	// subscriberLink, when a test sets it before the first connection, is
	// the innermost interceptor of subscriber connections, nearest SRTP:
	// the network between the SFU and its subscribers, for loss injection.
	subscriberLink interceptor.Factory

	certMu sync.Mutex          // guards cert
	cert   *webrtc.Certificate // DTLS identity of every connection; see certificates

	mu      sync.Mutex // guards routers and closed
	routers map[*Router]struct{}
	closed  bool

	// retired holds the forwarding counters of closed routers, so that the engine's totals
	// only ever grow (rates are computed from their differences).
	retiredPackets, retiredBytes atomic.Uint64
	retiredDropped, retiredStale atomic.Uint64
	retiredRetransmitted         atomic.Uint64
}

// EngineStats are a node's media totals: open routers and what every router, open or
// closed, has forwarded since the engine started.
type EngineStats struct {
	Routers, Participants, Tracks, DownTracks int
	ForwardedPackets, ForwardedBytes          uint64
	// QueueDropped counts packets a full fan-out shard queue refused (one
	// per shard and packet); StaleDropped packets that waited in a shard
	// queue longer than maxQueueDelay; Retransmitted packets resent from a
	// track's cache in answer to a subscriber's NACK.
	QueueDropped, StaleDropped, Retransmitted uint64
}

// Stats sums the routers' stats. It takes each router's read lock in turn, never two at once.
func (e *Engine) Stats() EngineStats {
	e.mu.Lock()
	routers := make([]*Router, 0, len(e.routers))
	for r := range e.routers {
		routers = append(routers, r)
	}
	e.mu.Unlock()
	st := EngineStats{Routers: len(routers), ForwardedPackets: e.retiredPackets.Load(), ForwardedBytes: e.retiredBytes.Load(),
		QueueDropped: e.retiredDropped.Load(), StaleDropped: e.retiredStale.Load(), Retransmitted: e.retiredRetransmitted.Load()}
	for _, r := range routers {
		rs := r.Stats()
		st.Participants += rs.Participants
		st.Tracks += rs.Tracks
		st.DownTracks += rs.DownTracks
		st.ForwardedPackets += rs.ForwardedPackets
		st.ForwardedBytes += rs.ForwardedBytes
		st.QueueDropped += rs.QueueDropped
		st.StaleDropped += rs.StaleDropped
		st.Retransmitted += rs.Retransmitted
	}
	return st
}

// NewEngine builds the media engines, interceptors and setting engine.
func NewEngine(cfg Config, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, log: log, routers: map[*Router]struct{}{}}

	se := webrtc.SettingEngine{}
	// GCM first: it is about twice as cheap per packet as AES-CM-HMAC.
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	// The server is ICE-lite: it gathers host candidates only (its own or
	// NAT 1:1 addresses, never STUN or TURN), answers checks, and leaves
	// checking and nomination to the client, the controlling agent of every
	// connection (RFC 8445 6.1.1). As the full, controlling agent of the
	// subscriber connections it often saw a trickling client's check before
	// that client's candidate, checked the new peer-reflexive pair only on its
	// own 200 ms connectivity tick and nominated after that, which made offer
	// to "connected" about 200 ms longer for a share of joins. A lite agent
	// answers a check with a triggered check back at once, so the client can
	// nominate as soon as both directions have succeeded.
	se.SetLite(true)
	// RFC 8445 7.3.1.5: a lite agent, which sends no checks of its own,
	// takes the pair a controlling agent nominates (an authenticated binding
	// request carrying USE-CANDIDATE) as selected. Pion's lite agent instead
	// waits until its own triggered check on that pair succeeds; behind the
	// single port, which listens on every address, the answer to that check
	// is often read by the agent's candidate for another local address and
	// credited to a different pair, and the nominated pair is never
	// selected (the client believes it is connected, the server stays in
	// "checking"). Selecting on the nomination itself is what the RFC asks.
	se.SetICEBindingRequestHandler(func(m *stun.Message, _, _ ice.Candidate, _ *ice.CandidatePair) bool {
		return m.Contains(stun.AttrUseCandidate)
	})
	// The server is the DTLS server of the connections it answers (a
	// publisher's), so the client sends the first flight once it is
	// connected. A lite agent is connected as soon as the client nominates
	// a pair, before the client has the answer to that check: a ClientHello
	// sent then waits at the client, and Pion as a client can read it from
	// its ICE connection before its DTLS endpoint exists ("mux: no endpoint
	// for packet starting with 22"), so the handshake waits a second for
	// the retransmission. A subscriber connection's role is the client's
	// choice, in its answer to our actpass offer: browsers answer active.
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return nil, fmt.Errorf("sfu: answering DTLS role: %w", err)
	}
	se.BufferFactory = newReadBuffer
	// Without a Net, Pion builds one per ICE agent, and building one lists
	// the host's interfaces and addresses (a netlink dump on Linux): memory
	// held by every connection and CPU on every join. One list, read when
	// the engine starts, serves them all; the single-port mux reads its
	// addresses once at start too.
	sharedNet, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("sfu: list interfaces: %w", err)
	}
	se.SetNet(sharedNet)
	se.LoggerFactory = newPionLoggers()
	// Pion's default opens an mDNS socket, joined to the multicast group on
	// every interface, with its reader goroutine, per ICE agent: for every
	// peer connection, to resolve clients' ".local" candidates. The server
	// never needs them: clients check the server's candidates, and their
	// address is learned from those checks (peer-reflexive, taken at once).
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if len(cfg.NAT1To1IPs) > 0 {
		se.SetNAT1To1IPs(cfg.NAT1To1IPs, webrtc.ICECandidateTypeHost)
	}
	if cfg.UDPMuxPort > 0 || (cfg.UDPPortMin == 0 && cfg.UDPPortMax == 0) {
		mux, sockets, lite, err := listenMux(sharedNet, max(cfg.UDPMuxPort, 0), cfg.NAT1To1IPs, cfg.IncludeLoopback, se.LoggerFactory, log)
		if err != nil {
			return nil, err
		}
		se.SetICEUDPMux(mux)
		e.mux, e.sockets, e.lite = mux, sockets, lite
	} else if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
		return nil, fmt.Errorf("sfu: udp port range: %w", err)
	}

	if e.media, err = newMediaEngine(); err != nil {
		e.closeMux()
		return nil, err
	}
	if e.nackGen, err = nack.NewGeneratorInterceptor(); err != nil {
		e.closeMux()
		return nil, err
	}
	if e.twccSender, err = twcc.NewSenderInterceptor(); err != nil {
		e.closeMux()
		return nil, err
	}
	if e.reportRecv, err = report.NewReceiverInterceptor(); err != nil {
		e.closeMux()
		return nil, err
	}
	e.se = se
	return e, nil
}

// certRenewBefore is how long before its expiry the shared DTLS certificate
// is replaced: Pion refuses to make a connection with an expired one.
const certRenewBefore = 24 * time.Hour

// certificates returns the DTLS certificate every connection presents.
// Without one, Pion makes a key pair and a self-signed certificate for each
// connection: a P-256 key generation and a signature on every join, and the
// key and parsed certificate held for the connection's life. One identity per
// server is as good: clients authenticate it by the fingerprint in the
// description it comes with, never by its name or chain.
func (e *Engine) certificates() ([]webrtc.Certificate, error) {
	e.certMu.Lock()
	defer e.certMu.Unlock()
	if e.cert == nil || time.Until(e.cert.Expires()) < certRenewBefore {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("sfu: dtls key: %w", err)
		}
		cert, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return nil, fmt.Errorf("sfu: dtls certificate: %w", err)
		}
		e.cert = cert
	}
	return []webrtc.Certificate{*e.cert}, nil
}

// newPC makes a peer connection with the engine's settings, reg's
// interceptors and the shared DTLS certificate.
func (e *Engine) newPC(reg *interceptor.Registry) (*webrtc.PeerConnection, error) {
	certs, err := e.certificates()
	if err != nil {
		return nil, err
	}
	return e.api(reg).NewPeerConnection(webrtc.Configuration{SDPSemantics: webrtc.SDPSemanticsUnifiedPlan, Certificates: certs})
}

func (e *Engine) api(reg *interceptor.Registry) *webrtc.API {
	return webrtc.NewAPI(webrtc.WithMediaEngine(e.media), webrtc.WithInterceptorRegistry(reg),
		webrtc.WithSettingEngine(e.se))
}

// engineCodec is one codec of newMediaEngine with its kind.
type engineCodec struct {
	c    webrtc.RTPCodecParameters
	kind webrtc.RTPCodecType
}

// engineCodecs are the codecs both sides speak, with their fixed payload
// types (newMediaEngine registers them; subscriber offers use them).
func engineCodecs() []engineCodec {
	videoFB := []webrtc.RTCPFeedback{
		{Type: "goog-remb"},
		{Type: webrtc.TypeRTCPFBTransportCC},
		{Type: "ccm", Parameter: "fir"},
		{Type: "nack"},
		{Type: "nack", Parameter: "pli"},
	}
	audioFB := []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
	return []engineCodec{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: audioFB}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
			RTCPFeedback: videoFB}, PayloadType: 102}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
			RTCPFeedback: videoFB}, PayloadType: 104}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0",
			RTCPFeedback: videoFB}, PayloadType: 98}, webrtc.RTPCodecTypeVideo},
	}
}

// newMediaEngine registers the codecs and header extensions both sides speak.
// Payload types are fixed so that an SFU-offered SDP is stable across
// renegotiations.
func newMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	codecs := engineCodecs()
	for _, c := range codecs {
		if err := m.RegisterCodec(c.c, c.kind); err != nil {
			return nil, err
		}
	}
	exts := []struct {
		uri   string
		kinds []webrtc.RTPCodecType
	}{
		{audioLevelURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio}},
		{sdp.SDESMidURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
		{sdp.SDESRTPStreamIDURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{repairedRIDURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{absSendTimeURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
		{sdp.TransportCCURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
	}
	for _, x := range exts {
		for _, k := range x.kinds {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: x.uri}, k); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// newPublisherPC creates a client-offered peer connection. Its RTCP is read
// by drain, added last so that it reads through every other interceptor.
func (e *Engine) newPublisherPC(drain *rtcpDrain) (*webrtc.PeerConnection, error) {
	reg := &interceptor.Registry{}
	reg.Add(e.nackGen)
	reg.Add(e.twccSender)
	reg.Add(e.reportRecv)
	// No sender reports: the server sends no media on this connection, and
	// the interceptor's ticker would be one more goroutine per publisher.
	reg.Add(drain)
	return e.newPC(reg)
}

// newSubscriberPC creates a server-offered peer connection with the gate
// that makes and feeds its bandwidth estimator.
func (e *Engine) newSubscriberPC() (*webrtc.PeerConnection, *estimateGate, error) {
	ext, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, nil, err
	}
	gf := &estimateGateFactory{newEstimator: newEstimator, ext: ext}
	reg := &interceptor.Registry{}
	// No report interceptors: the connection receives no media, so receiver
	// reports would have nothing to report, and the sender reports come from
	// the down-tracks' own counters (Participant.sendSenderReports) instead
	// of an interceptor that locks and reads the clock on every packet.
	if e.subscriberLink != nil {
		reg.Add(e.subscriberLink)
	}
	reg.Add(gf)
	pc, err := e.newPC(reg)
	if err != nil {
		return nil, nil, err
	}
	// The factory belongs to this connection alone, and Pion builds the
	// interceptors inside NewPeerConnection: the gate is this connection's.
	return pc, gf.gate, nil
}

// newSubscriber makes a participant's subscriber connection and its
// estimator gate; wg is the participant's, for goroutines the connection
// starts on its behalf.
func (e *Engine) newSubscriber(wg *sync.WaitGroup, ev subscriberEvents) (subscriberConn, *estimateGate, error) {
	switch e.cfg.SubscriberTransport {
	case SubscriberTransportLite:
		return newLiteSubscriber(e, ev)
	case "":
		if e.lite != nil {
			return newLiteSubscriber(e, ev)
		}
	}
	pc, gate, err := e.newSubscriberPC()
	if err != nil {
		return nil, nil, err
	}
	return newPionSubscriber(pc, wg, ev), gate, nil
}

// newEstimateGate makes the estimator gate of a lite subscriber connection,
// which builds its interceptor chain itself.
func newEstimateGate() (*estimateGate, error) {
	ext, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, err
	}
	gf := &estimateGateFactory{newEstimator: newEstimator, ext: ext}
	if _, err := gf.NewInterceptor(""); err != nil {
		return nil, err
	}
	return gf.gate, nil
}

// newEstimator makes a subscriber connection's send-side estimator.
func newEstimator() (cc.BandwidthEstimator, error) {
	return gcc.NewSendSideBWE(
		gcc.SendSideBWEInitialBitrate(bweInitialBitrate),
		gcc.SendSideBWEMinBitrate(bweMinBitrate),
		gcc.SendSideBWEMaxBitrate(bweMaxBitrate),
		// Pacing would add a goroutine and queueing per subscriber; the
		// SFU forwards at the publisher's pace.
		gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
	)
}

// NewRouter creates a Router for one room. Routers still open when the
// Engine closes are closed with it.
func (e *Engine) NewRouter(p RouterParams) *Router {
	r := newRouter(e, p)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		r.Close()
		return r
	}
	e.routers[r] = struct{}{}
	e.mu.Unlock()
	return r
}

func (e *Engine) forgetRouter(r *Router) {
	rs := r.Stats()
	e.mu.Lock()
	if _, ok := e.routers[r]; ok {
		delete(e.routers, r)
		e.retiredPackets.Add(rs.ForwardedPackets)
		e.retiredBytes.Add(rs.ForwardedBytes)
		e.retiredDropped.Add(rs.QueueDropped)
		e.retiredStale.Add(rs.StaleDropped)
		e.retiredRetransmitted.Add(rs.Retransmitted)
	}
	e.mu.Unlock()
}

// Close closes every Router created by the Engine and releases the UDP mux.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	routers := make([]*Router, 0, len(e.routers))
	for r := range e.routers {
		routers = append(routers, r)
	}
	e.mu.Unlock()
	for _, r := range routers {
		r.Close()
	}
	return e.closeMux()
}

func (e *Engine) closeMux() error {
	if e.mux == nil {
		return nil
	}
	if e.lite != nil {
		e.lite.close()
	}
	return e.mux.Close()
}
