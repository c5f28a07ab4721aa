package sfu

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// liteSubscriber is a subscriber connection on onstage's own transport: an
// ICE-lite agent, a DTLS handshake and SRTP contexts on the engine's mux
// sockets (liteTransport), and offers written by the server itself
// (liteOffer). It holds no goroutine once connected; RTCP is handled on the
// mux's reader. A Pion PeerConnection holds about twenty goroutines and
// 170 KB of buffers per subscriber for the same job.
//
// Lock order: the participant's mu, then mu, then a DownTrack's mu.
type liteSubscriber struct {
	// t is the transport. A failed one (DTLS failed, or consent lost before
	// it ever connected) is replaced at the client's ICE restart; the
	// sections, SSRCs and bindings stay.
	t    atomic.Pointer[liteTransport]
	cert *webrtc.Certificate
	mux  *liteMux
	gate *estimateGate
	link interceptor.Interceptor // tests' loss injection, nearest the network; nil in production
	ev   subscriberEvents
	log  *slog.Logger

	mu        sync.Mutex
	closed    bool
	slots     []*liteSlot
	last      *liteOffer // the latest offer made
	local     *webrtc.SessionDescription
	remote    *webrtc.SessionDescription
	awaiting  bool
	sessionID uint64

	// bySSRC maps the SSRC of every bound slot to its down-track, for the
	// RTCP read on the mux's goroutine; replaced whole under mu.
	bySSRC atomic.Pointer[map[uint32]*DownTrack]

	// rtcpMu guards the estimator's RTCP chain and the packet it is fed.
	rtcpMu      sync.Mutex
	rtcpIn      interceptor.RTCPReader
	rtcpPending []byte
	rtcpBuf     [packetMTU]byte
}

// liteSlot is one m-section of the offers. A section is never removed: a
// track that goes leaves it inactive, and once an answer has seen it
// inactive a new track of the same kind may take it (as Pion reuses
// transceivers), under the same mid with a new SSRC.
type liteSlot struct {
	mid   string
	kind  webrtc.RTPCodecType
	dt    *DownTrack // nil while inactive
	codec webrtc.RTPCodecParameters
	ssrc  uint32
	// info is the stream bound for dt once an answer accepted the section;
	// nil before.
	info *interceptor.StreamInfo
	// inactiveSince is the version of the first offer that carried the
	// section inactive; 0 while it is active or before such an offer.
	inactiveSince uint64
}

func newLiteSubscriber(e *Engine, ev subscriberEvents) (*liteSubscriber, *estimateGate, error) {
	if e.lite == nil {
		return nil, nil, ErrLiteNeedsMux
	}
	certs, err := e.certificates()
	if err != nil {
		return nil, nil, err
	}
	gate, err := newEstimateGate()
	if err != nil {
		return nil, nil, err
	}
	log := ev.log
	if log == nil {
		log = e.log
	}
	s := &liteSubscriber{mux: e.lite, cert: &certs[0], gate: gate, ev: ev, log: log}
	if e.subscriberLink != nil {
		if s.link, err = e.subscriberLink.NewInterceptor(""); err != nil {
			return nil, nil, err
		}
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	s.sessionID = binary.BigEndian.Uint64(id[:]) >> 2 // positive as an int64, as JSEP asks
	empty := map[uint32]*DownTrack{}
	s.bySSRC.Store(&empty)
	inner := interceptor.RTCPReader(interceptor.RTCPReaderFunc(s.readPending))
	if s.link != nil {
		inner = s.link.BindRTCPReader(inner)
	}
	s.rtcpIn = gate.BindRTCPReader(inner)
	t, err := s.newTransport()
	if err != nil {
		_ = gate.Close()
		return nil, nil, err
	}
	s.t.Store(t)
	return s, gate, nil
}

// newTransport makes a transport whose state changes reach the participant
// only while it is the subscriber's: a replaced one's closing is not news.
func (s *liteSubscriber) newTransport() (*liteTransport, error) {
	var self atomic.Pointer[liteTransport]
	t, err := newLiteTransport(liteTransportParams{
		Mux:  s.mux,
		Cert: s.cert,
		Log:  s.log,
		OnState: func(st liteState) {
			if s.t.Load() == self.Load() {
				s.onState(st)
			}
		},
		OnRTCP: s.onRTCP,
	})
	self.Store(t)
	return t, err
}

func (s *liteSubscriber) iceState(st webrtc.ICEConnectionState) {
	if s.ev.onICE != nil {
		s.ev.onICE(st)
	}
}

func (s *liteSubscriber) onState(st liteState) {
	var ps webrtc.PeerConnectionState
	switch st {
	case liteConnected:
		ps = webrtc.PeerConnectionStateConnected
		// The participant holds renegotiations back until the client's
		// transports have started (Participant.negotiate). A nomination
		// alone does not show that here: a client checks and nominates as
		// soon as it has made its answer, and the answer may reach this
		// server after the nomination (relayed through another node, say).
		// Gating on the nomination, the cluster suite saw a Pion client
		// never answer the offer sent right after its first answer (3 runs
		// in about 49; none in 60 gating on the handshake). A finished
		// handshake shows both of the client's transports have started.
		s.iceState(webrtc.ICEConnectionStateConnected)
	case liteDisconnected:
		ps = webrtc.PeerConnectionStateDisconnected
	case liteFailed:
		ps = webrtc.PeerConnectionStateFailed
		s.iceState(webrtc.ICEConnectionStateFailed)
	case liteClosed:
		ps = webrtc.PeerConnectionStateClosed
	case liteChecking:
		ps = webrtc.PeerConnectionStateConnecting
	default:
		return
	}
	if s.ev.onState != nil {
		s.ev.onState(ps)
	}
}

// add gives d a section in the next offer: a free one of its kind, else a
// new one.
func (s *liteSubscriber) add(d *DownTrack) error {
	codec, ok := liteOfferCodec(d.kind, d.track.codec.RTPCodecCapability)
	if !ok {
		return ErrCodecNotNegotiated
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrParticipantClosed
	}
	var slot *liteSlot
	for _, sl := range s.slots {
		if sl.dt == nil && sl.kind == d.kind && sl.reusable(s.answeredVersion()) {
			slot = sl
			break
		}
	}
	if slot == nil {
		slot = &liteSlot{mid: strconv.Itoa(len(s.slots)), kind: d.kind}
		s.slots = append(s.slots, slot)
	}
	slot.dt, slot.codec, slot.ssrc, slot.info, slot.inactiveSince = d, codec, s.newSSRCLocked(), nil, 0
	return nil
}

// answeredVersion is the version of the latest offer that has an answer.
func (s *liteSubscriber) answeredVersion() uint64 {
	if s.last == nil {
		return 0
	}
	if s.awaiting {
		return s.last.Version - 1
	}
	return s.last.Version
}

func (sl *liteSlot) reusable(answered uint64) bool {
	return sl.inactiveSince != 0 && sl.inactiveSince <= answered
}

// newSSRCLocked picks an SSRC no section of the connection uses.
func (s *liteSubscriber) newSSRCLocked() uint32 {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		ssrc := binary.BigEndian.Uint32(b[:])
		if ssrc == 0 {
			continue
		}
		used := false
		for _, sl := range s.slots {
			used = used || sl.ssrc == ssrc
		}
		if !used {
			return ssrc
		}
	}
}

// remove stops d at once; the next offer makes its section inactive.
func (s *liteSubscriber) remove(d *DownTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sl := range s.slots {
		if sl.dt == d {
			s.unbindLocked(sl)
			sl.dt = nil
		}
	}
	s.publishSSRCsLocked()
}

// unbindLocked stops forwarding on a slot's bound stream. Called with mu
// held.
func (s *liteSubscriber) unbindLocked(sl *liteSlot) {
	if sl.info == nil {
		return
	}
	sl.dt.unbind(sl.info.ID)
	s.gate.UnbindLocalStream(sl.info)
	if s.link != nil {
		s.link.UnbindLocalStream(sl.info)
	}
	sl.info = nil
}

func (s *liteSubscriber) publishSSRCsLocked() {
	m := make(map[uint32]*DownTrack, len(s.slots))
	for _, sl := range s.slots {
		if sl.dt != nil && sl.info != nil {
			m[sl.ssrc] = sl.dt
		}
	}
	s.bySSRC.Store(&m)
}

func (s *liteSubscriber) hasMedia() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.slots) > 0
}

func (s *liteSubscriber) offer(restart bool, begin func()) (webrtc.SessionDescription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return webrtc.SessionDescription{}, ErrParticipantClosed
	}
	if restart {
		if err := s.restartLocked(); err != nil {
			return webrtc.SessionDescription{}, err
		}
	}
	t := s.t.Load()
	ufrag, pwd := t.localCredentials()
	alg, fp := t.fingerprint()
	o := &liteOffer{
		SessionID: s.sessionID, Version: 1,
		ICEUfrag: ufrag, ICEPwd: pwd,
		FingerprintAlg: alg, Fingerprint: fp,
		Candidates: s.mux.candidates(),
	}
	if s.last != nil {
		o.Version = s.last.Version + 1
	}
	for _, sl := range s.slots {
		m := liteMedia{Mid: sl.mid, Kind: sl.kind, Codec: sl.codec, Active: sl.dt != nil}
		if sl.dt != nil {
			m.SSRC, m.StreamID, m.TrackID = sl.ssrc, sl.dt.StreamID(), sl.dt.ID()
		} else if sl.inactiveSince == 0 {
			sl.inactiveSince = o.Version
		}
		// Pion clients take a kind's codecs from its first section: the
		// others are listed (never sent) so that a later track of another
		// codec is not refused.
		m.MoreCodecs = liteMoreCodecs(sl.kind, sl.codec)
		m.Extensions = liteExtensions(sl.kind)
		o.Media = append(o.Media, m)
	}
	text, err := o.marshal()
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	sd := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: text}
	begin()
	s.last, s.local, s.awaiting = o, &sd, true
	return sd, nil
}

// restartLocked gives the next offer new ICE credentials. A failed
// transport cannot be restarted: it is replaced by a new one, which the
// client's answer starts afresh, DTLS included. A client whose ICE failed
// before its DTLS began (a network lost during the join, for longer than
// the handshake's bound) then connects with its ICE restart, as it would
// with a full ICE agent. Called with mu held.
func (s *liteSubscriber) restartLocked() error {
	old := s.t.Load()
	if old.state() != liteFailed {
		old.restartICE()
		return nil
	}
	t, err := s.newTransport()
	if err != nil {
		return err
	}
	s.t.Store(t)
	_ = old.Close()
	s.log.Info("lite transport: the failed transport is replaced for an ICE restart")
	return nil
}

func (s *liteSubscriber) awaitingAnswer() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.awaiting
}

// setAnswer applies the client's answer: its ICE credentials and DTLS
// identity to the transport, and each accepted section's payload type and
// extension ids to its down-track, which starts forwarding. A malformed
// answer leaves the offer outstanding, as Pion does.
func (s *liteSubscriber) setAnswer(answer webrtc.SessionDescription) error {
	if answer.Type != webrtc.SDPTypeAnswer {
		return ErrInvalidSDPType
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrParticipantClosed
	}
	if !s.awaiting {
		return ErrNoOfferOutstanding
	}
	a, err := parseLiteAnswer(answer.SDP, s.last)
	if err != nil {
		return err
	}
	if err := s.t.Load().setRemote(a.ICEUfrag, a.ICEPwd, a.Fingerprints, a.DTLSServer); err != nil {
		return err
	}
	s.remote, s.awaiting = &answer, false
	for i, m := range s.last.Media {
		sl := s.slots[i]
		if !m.Active || sl.dt == nil || sl.ssrc != m.SSRC || sl.info != nil {
			continue
		}
		am := a.Media[m.Mid]
		if !am.Accepted {
			s.log.Warn("subscriber refused a track", "track", sl.dt.ID(), "mid", m.Mid)
			continue
		}
		s.bindLocked(sl, am)
	}
	s.publishSSRCsLocked()
	return nil
}

// bindLocked binds a slot's down-track with what the answer accepted: the
// stream goes through the test link (if any) and the estimator gate to the
// transport, as Pion's interceptor chain did. Called with mu held.
func (s *liteSubscriber) bindLocked(sl *liteSlot, am liteAnswerMedia) {
	info := &interceptor.StreamInfo{
		ID:          sl.mid + "-" + strconv.FormatUint(uint64(sl.ssrc), 10),
		SSRC:        sl.ssrc,
		PayloadType: am.PayloadType,
		MimeType:    sl.codec.MimeType,
		ClockRate:   sl.codec.ClockRate,
		Channels:    sl.codec.Channels,
		SDPFmtpLine: sl.codec.SDPFmtpLine,
	}
	for _, fb := range sl.codec.RTCPFeedback {
		info.RTCPFeedback = append(info.RTCPFeedback, interceptor.RTCPFeedback{Type: fb.Type, Parameter: fb.Parameter})
	}
	b := &downBinding{ssrc: sl.ssrc, pt: am.PayloadType}
	for uri, id := range am.Extensions {
		info.RTPHeaderExtensions = append(info.RTPHeaderExtensions, interceptor.RTPHeaderExtension{URI: uri, ID: id})
		if uri == audioLevelURI {
			b.levelExt = uint8(id)
		}
	}
	w := interceptor.RTPWriter(interceptor.RTPWriterFunc(s.writeRTP))
	if s.link != nil {
		w = s.link.BindLocalStream(info, w)
	}
	b.writer = liteTrackWriter{w}
	// As Pion: the track first (it tells the gate it is simulcast), then
	// its stream.
	sl.dt.bind(b, info.ID)
	s.gate.BindLocalStream(info, w)
	sl.info = info
}

func (s *liteSubscriber) writeRTP(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
	return s.t.Load().WriteRTP(h, payload)
}

// liteTrackWriter is a DownTrack's writer before the gate has its stream
// (see DownTrack.writeRTP).
type liteTrackWriter struct{ w interceptor.RTPWriter }

func (w liteTrackWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	return w.w.Write(h, payload, nil)
}

func (w liteTrackWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	return w.w.Write(&p.Header, p.Payload, nil)
}

// onRTCP handles one decrypted compound RTCP packet from the client, on the
// mux's reader goroutine: the estimator sees it first (TWCC feedback), then
// each packet goes to the down-track whose SSRC it names.
func (s *liteSubscriber) onRTCP(buf []byte) {
	if s.gate.on() || s.link != nil {
		s.rtcpMu.Lock()
		s.rtcpPending = buf
		_, _, _ = s.rtcpIn.Read(s.rtcpBuf[:], nil)
		s.rtcpPending = nil
		s.rtcpMu.Unlock()
	}
	pkts, err := rtcp.Unmarshal(buf)
	if err != nil {
		return
	}
	downs := *s.bySSRC.Load()
	for i, pkt := range pkts {
		for _, ssrc := range pkt.DestinationSSRC() {
			if d := downs[ssrc]; d != nil {
				d.handleRTCP(pkts[i : i+1])
				break
			}
		}
	}
}

// readPending is the innermost RTCP reader of the estimator's chain: it
// returns the packet onRTCP is feeding through it.
func (s *liteSubscriber) readPending(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	return copy(b, s.rtcpPending), a, nil
}

func (s *liteSubscriber) writeRTCP(pkts []rtcp.Packet) error { return s.t.Load().WriteRTCP(pkts) }

// LocalDescription is the latest offer.
func (s *liteSubscriber) LocalDescription() *webrtc.SessionDescription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local
}

// RemoteDescription is the latest answer applied.
func (s *liteSubscriber) RemoteDescription() *webrtc.SessionDescription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// AddICECandidate ignores the client's candidates: an ICE-lite agent sends
// no checks and learns the client's addresses from the client's checks.
func (s *liteSubscriber) AddICECandidate(webrtc.ICECandidateInit) error { return nil }

func (s *liteSubscriber) describe() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("lite %s, awaiting answer %t", s.t.Load().state(), s.awaiting)
}

func (s *liteSubscriber) close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, sl := range s.slots {
		if sl.dt != nil {
			s.unbindLocked(sl)
		}
	}
	s.publishSSRCsLocked()
	s.mu.Unlock()
	err := s.t.Load().Close()
	if cerr := s.gate.Close(); err == nil {
		err = cerr
	}
	return err
}
