package sfu

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// allocInterval is how often a participant re-evaluates the simulcast layers
// it receives against its bandwidth estimate (a multiple of speakerInterval:
// the router's housekeeping drives it).
const allocInterval = 500 * time.Millisecond

// senderReportInterval is how often a participant sends the sender reports
// of its down-tracks (Pion's interceptor used the same); a multiple of
// speakerInterval, like allocInterval.
const senderReportInterval = time.Second

// ParticipantParams are the callbacks of one participant. All are optional.
type ParticipantParams struct {
	// SendSignal delivers an SDP or candidate to the client. It is called
	// from Pion and SFU goroutines, in order per peer connection, and must
	// not block: the caller enqueues it.
	SendSignal func(Signal)
	// OnTrackPublished is called once per track this participant publishes,
	// after its first packet arrived and every other participant has been
	// subscribed to it.
	OnTrackPublished func(TrackInfo)
	// OnTrackUnpublished is called once for each track of this participant
	// that was published and ended (removed, BYE, read error, or the
	// participant leaving).
	OnTrackUnpublished func(TrackInfo)
}

// subscription is one DownTrack of the subscriber connection and its place
// in the negotiation: offered is false until the next offer adds it, removed
// marks it for removal in the next offer.
type subscription struct {
	dt      *DownTrack
	offered bool
	removed bool
}

// Participant is one client of a Router: a publisher peer connection (client
// offers) and a subscriber peer connection (server offers).
//
// Lock order: negMu or pubNegMu, then mu, then a DownTrack's mu, then a
// track's pliMu. Router.mu may be taken before mu but never after it.
type Participant struct {
	id     ParticipantID
	router *Router
	params ParticipantParams
	log    *slog.Logger

	pub  atomic.Pointer[webrtc.PeerConnection] // nil until the first publisher offer
	sub  subscriberConn
	gate *estimateGate // the subscriber connection's estimator gate, may be nil

	// subConnected is set while the subscriber connection is connected;
	// Pion silently drops what is written before, so down-tracks wait.
	subConnected atomic.Bool
	// subICEStarted is set once the subscriber's ICE agent has connected or
	// failed; see negotiate for why later offers wait for it.
	subICEStarted atomic.Bool

	pubSig *signalState
	subSig *signalState

	pubNegMu sync.Mutex // serialises publisher offers
	negMu    sync.Mutex // serialises subscriber offers and answers

	mu          sync.Mutex // guards the fields below
	closed      bool
	sources     map[string]Source          // publisher mid → source
	published   map[string]*publishedTrack // live tracks by publisher mid
	downs       map[TrackID]*subscription
	negotiating bool // a subscriber offer waits for its answer
	// kicked asks for a negotiate pass; negotiator is set while the
	// goroutine that runs them (see kickLocked) is alive.
	kicked, negotiator bool
	dirty              bool // the subscriber needs a new offer
	restartICE         bool // the next offer restarts ICE
	// fresh marks a replacement (see Router.ReplaceParticipant) whose
	// subscriber connection has not been answered yet: its first offer
	// already starts ICE and DTLS from scratch, so a restart request adds
	// nothing to it.
	fresh bool

	wg sync.WaitGroup // every goroutine the participant owns
}

func newParticipant(r *Router, id ParticipantID, params ParticipantParams) (*Participant, error) {
	p := &Participant{
		id:        id,
		router:    r,
		params:    params,
		log:       r.log.With("participant", string(id)),
		sources:   map[string]Source{},
		published: map[string]*publishedTrack{},
		downs:     map[TrackID]*subscription{},
	}
	// The publisher connection is made by the first publisher offer: most
	// participants of a large room never publish, and an idle Pion peer
	// connection still runs its interceptors' timers.
	p.pubSig = newSignalState(PCPublisher, nil, params.SendSignal)
	p.subSig = newSignalState(PCSubscriber, nil, params.SendSignal)
	sub, gate, err := r.engine.newSubscriber(&p.wg, subscriberEvents{
		onICE:       p.onSubscriberICEState,
		onState:     p.onSubscriberState,
		onCandidate: p.subSig.onLocalCandidate,
		log:         p.log,
	})
	if err != nil {
		return nil, err
	}
	p.sub, p.gate = sub, gate
	p.subSig.setPC(sub)
	return p, nil
}

// onSubscriberState restarts every down-track at a keyframe when the
// subscriber connection (re)connects.
func (p *Participant) onSubscriberState(s webrtc.PeerConnectionState) {
	connected := s == webrtc.PeerConnectionStateConnected
	if p.subConnected.Swap(connected) == connected || !connected {
		return
	}
	p.mu.Lock()
	dts := make([]*DownTrack, 0, len(p.downs))
	for _, sub := range p.downs {
		dts = append(dts, sub.dt)
	}
	p.mu.Unlock()
	for _, d := range dts {
		d.resync()
	}
}

// onSubscriberICEState notes the first time the subscriber's ICE agent has
// settled (connected or failed) and sends the offer held back until then.
func (p *Participant) onSubscriberICEState(s webrtc.ICEConnectionState) {
	switch s {
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted, webrtc.ICEConnectionStateFailed:
	default:
		return
	}
	if p.subICEStarted.Swap(true) {
		return
	}
	p.mu.Lock()
	if p.dirty {
		p.kickLocked()
	}
	p.mu.Unlock()
}

// ID returns the participant's ID.
func (p *Participant) ID() ParticipantID { return p.id }

// HandleOffer applies a publisher offer (initial, renegotiation or ICE
// restart) and sends the answer through SendSignal. tracks names the source
// of each m-line; without an entry, audio is the microphone, the first video
// m-line the camera and the second the screen.
func (p *Participant) HandleOffer(offer webrtc.SessionDescription, tracks []TrackSource) error {
	if offer.Type != webrtc.SDPTypeOffer {
		return ErrInvalidSDPType
	}
	p.pubNegMu.Lock()
	defer p.pubNegMu.Unlock()

	parsed, err := offer.Unmarshal()
	if err != nil {
		return err
	}
	sources := defaultSources(parsed)
	for _, ts := range tracks {
		sources[ts.Mid] = ts.Source
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrParticipantClosed
	}
	next := make(map[string]Source, len(p.sources)+len(sources))
	for mid, src := range p.sources {
		next[mid] = src
	}
	for mid, src := range sources {
		// A default never overrides what an m-line already is; an explicit
		// mapping does.
		if _, ok := next[mid]; !ok || containsMid(tracks, mid) {
			next[mid] = src
		}
	}
	p.mu.Unlock()
	if err := checkTrackLimits(parsed, next); err != nil {
		return err
	}
	pub, err := p.publisherPC()
	if err != nil {
		return err
	}

	if err := pub.SetRemoteDescription(offer); err != nil {
		return err
	}
	// Only an accepted offer changes what the m-lines carry.
	p.mu.Lock()
	p.sources = next
	p.mu.Unlock()
	answer, err := pub.CreateAnswer(nil)
	if err != nil {
		return err
	}
	p.pubSig.beginSDP()
	if err := pub.SetLocalDescription(answer); err != nil {
		return err
	}
	p.pubSig.sendSDP(answer)
	return p.pubSig.flushRemote()
}

// publisherPC returns the publisher connection, making it on first use.
// Called with pubNegMu held.
func (p *Participant) publisherPC() (*webrtc.PeerConnection, error) {
	if pub := p.pub.Load(); pub != nil {
		return pub, nil
	}
	pub, err := p.router.engine.newPublisherPC(&rtcpDrain{onBye: p.onBye, wg: &p.wg})
	if err != nil {
		return nil, err
	}
	pub.OnICECandidate(p.pubSig.onLocalCandidate)
	pub.OnTrack(p.onTrack)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = pub.Close()
		return nil, ErrParticipantClosed
	}
	p.pub.Store(pub)
	p.mu.Unlock()
	p.pubSig.setPC(pub)
	return pub, nil
}

func containsMid(tracks []TrackSource, mid string) bool {
	for _, t := range tracks {
		if t.Mid == mid {
			return true
		}
	}
	return false
}

// defaultSources maps the offer's m-lines onto sources by position.
func defaultSources(parsed *sdp.SessionDescription) map[string]Source {
	out := map[string]Source{}
	videos := 0
	for _, md := range parsed.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		switch md.MediaName.Media {
		case "audio":
			out[mid] = SourceMicrophone
		case "video":
			if videos == 0 {
				out[mid] = SourceCamera
			} else {
				out[mid] = SourceScreen
			}
			videos++
		}
	}
	return out
}

// checkTrackLimits refuses an offer that sends more than one track of a kind
// per source (a microphone, a camera, a screen and the screen's audio), a
// video track from a microphone, an audio track from a camera, or more
// simulcast layers than maxLayers. m-lines the client does not send on
// (rejected, inactive or receive-only) do not count.
func checkTrackLimits(parsed *sdp.SessionDescription, sources map[string]Source) error {
	type slot struct {
		kind string
		src  Source
	}
	used := map[slot]bool{}
	for _, md := range parsed.MediaDescriptions {
		kind := md.MediaName.Media
		if (kind != "audio" && kind != "video") || md.MediaName.Port.Value == 0 || !sends(md) {
			continue
		}
		mid, _ := md.Attribute("mid")
		src := sources[mid]
		switch {
		case kind == "video" && src == SourceMicrophone, kind == "audio" && src == SourceCamera:
			return fmt.Errorf("%w: %s m-line %q from the %s", ErrTooManyTracks, kind, mid, src)
		case used[slot{kind, src}]:
			return fmt.Errorf("%w: a second %s %s track (m-line %q)", ErrTooManyTracks, src, kind, mid)
		}
		used[slot{kind, src}] = true
		rids := 0
		for _, a := range md.Attributes {
			if a.Key == "rid" && strings.Contains(a.Value, " send") {
				rids++
			}
		}
		if rids > maxLayers {
			return fmt.Errorf("%w: %d simulcast layers on m-line %q, at most %d", ErrTooManyTracks, rids, mid, maxLayers)
		}
	}
	return nil
}

// sends reports whether the offerer sends on an m-line.
func sends(md *sdp.MediaDescription) bool {
	for _, a := range md.Attributes {
		switch a.Key {
		case "recvonly", "inactive":
			return false
		}
	}
	return true
}

// HandleAnswer applies the client's answer to the outstanding subscriber
// offer; changes made meanwhile go out in a new offer.
func (p *Participant) HandleAnswer(answer webrtc.SessionDescription) error {
	if answer.Type != webrtc.SDPTypeAnswer {
		return ErrInvalidSDPType
	}
	p.negMu.Lock()
	defer p.negMu.Unlock()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return ErrParticipantClosed
	}
	if !p.sub.awaitingAnswer() {
		return ErrNoOfferOutstanding
	}
	err := p.sub.setAnswer(answer)
	p.mu.Lock()
	p.negotiating = false
	if err == nil {
		p.fresh = false
	}
	if p.dirty {
		p.kickLocked()
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.subSig.flushRemote()
}

// AddCandidate adds a client ICE candidate to one of the peer connections,
// holding it until that connection has a remote description.
func (p *Participant) AddCandidate(pc PCKind, c webrtc.ICECandidateInit) error {
	switch pc {
	case PCPublisher:
		return p.pubSig.addRemote(c)
	case PCSubscriber:
		return p.subSig.addRemote(c)
	}
	return ErrInvalidPCKind
}

// RestartSubscriberICE makes the server send a subscriber offer with new ICE
// credentials. If an offer is still unanswered (the client may have lost it
// with its socket), that offer is sent again and the restart follows its
// answer.
func (p *Participant) RestartSubscriberICE() error {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrParticipantClosed
	}
	if p.fresh {
		// The first offer of new peer connections covers the restart: it is
		// either outstanding (and was sent on this socket) or comes next.
		if !p.negotiating {
			p.markDirtyLocked()
		}
		p.mu.Unlock()
		return nil
	}
	p.restartICE = true
	p.dirty = true
	outstanding := p.negotiating
	if !outstanding {
		p.kickLocked()
	}
	p.mu.Unlock()
	if outstanding {
		p.subSig.resendLocal()
	}
	return nil
}

// NewDTLSPeer reports whether a publisher offer comes from another peer
// connection than the one the publisher connection negotiated with: its DTLS
// fingerprint differs. Such an offer (a reloaded page, say) cannot be applied
// here; the caller replaces the participant's connections instead.
func (p *Participant) NewDTLSPeer(offer webrtc.SessionDescription) bool {
	pub := p.pub.Load()
	if pub == nil {
		return false
	}
	cur := pub.RemoteDescription()
	if cur == nil {
		return false
	}
	was, now := sdpFingerprint(*cur), sdpFingerprint(offer)
	return was != "" && now != "" && !strings.EqualFold(was, now)
}

// sdpFingerprint returns the description's DTLS fingerprint (session level,
// else the first media level one), or "".
func sdpFingerprint(sd webrtc.SessionDescription) string {
	parsed, err := sd.Unmarshal()
	if err != nil {
		return ""
	}
	if v, ok := parsed.Attribute("fingerprint"); ok {
		return strings.TrimSpace(v)
	}
	for _, md := range parsed.MediaDescriptions {
		if v, ok := md.Attribute("fingerprint"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// subscriptionPrefs returns the layer preference and pause state of each
// track the participant receives.
func (p *Participant) subscriptionPrefs() map[TrackID]subscriptionPref {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[TrackID]subscriptionPref, len(p.downs))
	for id, s := range p.downs {
		if !s.removed {
			out[id] = subscriptionPref{maxLayer: int(s.dt.maxLayer.Load()), paused: s.dt.paused.Load()}
		}
	}
	return out
}

type subscriptionPref struct {
	maxLayer int
	paused   bool
}

// applyPrefs restores the preferences subscriptionPrefs returned.
func (p *Participant) applyPrefs(prefs map[TrackID]subscriptionPref) {
	p.mu.Lock()
	dts := map[*DownTrack]subscriptionPref{}
	for id, s := range p.downs {
		if pr, ok := prefs[id]; ok && !s.removed {
			dts[s.dt] = pr
		}
	}
	p.mu.Unlock()
	for d, pr := range dts {
		d.setQuality(pr.maxLayer)
		d.setPaused(pr.paused)
	}
}

// Subscribe sets the layer preference and pause state of one of the tracks
// this participant receives.
func (p *Participant) Subscribe(track TrackID, q Quality, paused bool) error {
	idx, err := q.layerIndex()
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrParticipantClosed
	}
	s := p.downs[track]
	found := s != nil && !s.removed // removed is guarded by mu
	p.mu.Unlock()
	if !found {
		return ErrTrackNotFound
	}
	s.dt.setQuality(idx)
	s.dt.setPaused(paused)
	s.dt.allocate(p.layerBudget(), time.Now().UnixNano())
	return nil
}

// ConnState describes the participant's peer connections as the server sees
// them (signaling and ICE states), for logs and test failures.
func (p *Participant) ConnState() string {
	s := fmt.Sprintf("subscriber %s, connected %t", p.sub.describe(), p.subConnected.Load())
	if pub := p.pub.Load(); pub != nil {
		s += fmt.Sprintf("; publisher ICE %s", pub.ICEConnectionState())
	}
	return s
}

// Close removes the participant from its Router: its tracks are unpublished,
// its peer connections closed and its goroutines stopped.
func (p *Participant) Close() { p.router.removeParticipant(p) }

// onTrack runs for each incoming stream: a new track, or another simulcast
// layer of a track already published on the same m-line.
func (p *Participant) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	mid := ""
	if tr := recv.RTPTransceiver(); tr != nil {
		mid = tr.Mid()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if t := p.published[mid]; t != nil && t.receiver == recv && !t.isEnded() {
		t.start(remote, &p.wg)
		p.mu.Unlock()
		return
	}
	src, ok := p.sources[mid]
	if !ok {
		src = SourceCamera
		if remote.Kind() == webrtc.RTPCodecTypeAudio {
			src = SourceMicrophone
		}
	}
	t := newPublishedTrack(p, newTrackID(), src, remote, recv, mid)
	p.published[mid] = t
	t.start(remote, &p.wg)
	p.mu.Unlock()
	p.router.publish(t)
}

func newTrackID() TrackID {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return TrackID("TR_" + hex.EncodeToString(b[:]))
}

// onBye ends the published track a layer of which the client said goodbye
// to in an RTCP BYE.
func (p *Participant) onBye(ssrc uint32) {
	p.mu.Lock()
	var ended *publishedTrack
	for _, t := range p.published {
		for i := range t.layers {
			if t.layers[i].started.Load() && t.layers[i].ssrc.Load() == ssrc {
				ended = t
			}
		}
	}
	p.mu.Unlock()
	if ended != nil {
		ended.end()
	}
}

// trackEnded is called once per track by publishedTrack.end.
func (p *Participant) trackEnded(t *publishedTrack) {
	p.mu.Lock()
	if p.published[t.mid] == t {
		delete(p.published, t.mid)
	}
	p.mu.Unlock()
	p.router.unpublish(t)
}

// addDownTrack subscribes the participant to another participant's track;
// the next subscriber offer carries it.
func (p *Participant) addDownTrack(t *publishedTrack) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || t.isEnded() || t.owner == p {
		return
	}
	if _, ok := p.downs[t.info.TrackID]; ok {
		return
	}
	p.downs[t.info.TrackID] = &subscription{dt: newDownTrack(t, &p.subConnected, p.gate)}
	p.markDirtyLocked()
}

// removeDownTrack stops forwarding a track right away; the next offer
// removes it from the subscriber connection.
func (p *Participant) removeDownTrack(id TrackID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.downs[id]
	if s == nil || s.removed {
		return
	}
	s.dt.detach()
	if !s.offered {
		delete(p.downs, id)
		p.router.retire(s.dt)
		return
	}
	s.removed = true
	p.markDirtyLocked()
}

func (p *Participant) markDirtyLocked() {
	p.dirty = true
	p.kickLocked()
}

// kickLocked asks for a negotiate pass. The passes run on a goroutine that
// lives only while there are some to run: a participant holds no goroutine
// or timer of its own while its negotiation is idle (allocation and sender
// reports are driven by the router's housekeeping). Called with mu held.
func (p *Participant) kickLocked() {
	p.kicked = true
	if p.negotiator || p.closed {
		return
	}
	p.negotiator = true
	p.wg.Add(1)
	go p.negotiateWhileKicked()
}

// negotiateWhileKicked runs negotiate until no kick is pending. A kick that
// arrives during a pass is served by the next one, as by the loop it
// replaces.
func (p *Participant) negotiateWhileKicked() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if !p.kicked || p.closed {
			p.negotiator = false
			p.mu.Unlock()
			return
		}
		p.kicked = false
		p.mu.Unlock()
		p.negotiate()
	}
}

// sendSenderReports writes one sender report per down-track that has sent
// media, all in one compound packet per call, on the subscriber connection.
func (p *Participant) sendSenderReports() {
	if !p.subConnected.Load() {
		return
	}
	p.mu.Lock()
	dts := make([]*DownTrack, 0, len(p.downs))
	for _, s := range p.downs {
		if !s.removed {
			dts = append(dts, s.dt)
		}
	}
	p.mu.Unlock()
	now := time.Now().UnixNano()
	pkts := make([]rtcp.Packet, 0, len(dts))
	for _, d := range dts {
		if r, ok := d.senderReport(now); ok {
			pkts = append(pkts, &r)
		}
	}
	if len(pkts) > 0 {
		_ = p.sub.writeRTCP(pkts)
	}
}

// negotiate sends a subscriber offer if one is needed and none is
// outstanding. Senders are added and removed here, so that every change
// between two offers is folded into the next one.
//
// After the first offer, a renegotiation (other than an ICE restart) waits
// until the subscriber's ICE agent has connected or failed. Pion starts its
// ICE transport asynchronously after a first description pair, and a
// description applied before that compares its ICE credentials against
// empty ones: a Pion client then takes the second offer for an ICE restart
// and answers with new credentials, while on either side the late transport
// start puts the first credentials back into the agent. Both ends end up
// checking with credentials the other rejects, forever. A connected agent
// proves both transports started (the client answered checks with our
// credentials); failed lets a restart through.
func (p *Participant) negotiate() {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	p.mu.Lock()
	if p.closed || p.negotiating || !p.dirty {
		p.mu.Unlock()
		return
	}
	if !p.restartICE && !p.subICEStarted.Load() && p.sub.LocalDescription() != nil {
		// onSubscriberICEState kicks again; dirty stays set.
		p.mu.Unlock()
		return
	}
	p.dirty = false
	restart := p.restartICE
	p.restartICE = false
	for id, s := range p.downs {
		switch {
		case s.removed:
			if s.offered {
				p.sub.remove(s.dt)
			}
			delete(p.downs, id)
			p.router.retire(s.dt)
		case !s.offered:
			if err := p.sub.add(s.dt); err != nil {
				p.log.Warn("add down-track", "track", string(id), "err", err)
				delete(p.downs, id)
				continue
			}
			s.offered = true
		}
	}
	if !p.sub.hasMedia() {
		// Nothing to offer yet; an offer without m-lines cannot connect.
		p.restartICE = restart
		p.mu.Unlock()
		return
	}
	p.negotiating = true
	p.mu.Unlock()

	offer, err := p.sub.offer(restart, p.subSig.beginSDP)
	if err != nil {
		p.log.Warn("subscriber offer", "err", err)
		p.mu.Lock()
		p.negotiating = false
		p.mu.Unlock()
		return
	}
	p.subSig.sendSDP(offer)
}

// layerBudget splits the subscriber's bandwidth estimate over its simulcast
// down-tracks; 0 means no estimate yet.
func (p *Participant) layerBudget() int64 {
	if p.gate == nil {
		return 0
	}
	n := 0
	p.mu.Lock()
	for _, s := range p.downs {
		if s.dt.track.simulcast && !s.removed && !s.dt.paused.Load() {
			n++
		}
	}
	p.mu.Unlock()
	return int64(p.gate.targetBitrate()) / int64(max(n, 1))
}

func (p *Participant) allocateLayers() {
	budget := p.layerBudget()
	now := time.Now().UnixNano()
	p.mu.Lock()
	dts := make([]*DownTrack, 0, len(p.downs))
	for _, s := range p.downs {
		if !s.removed {
			dts = append(dts, s.dt)
		}
	}
	p.mu.Unlock()
	for _, d := range dts {
		d.allocate(budget, now)
	}
}

// downTrackStats sums the forwarding counters of live down-tracks.
func (p *Participant) downTrackStats() (n int, packets, bytes, retransmits uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.downs {
		n++
		packets += s.dt.packets.Load()
		bytes += s.dt.bytes.Load()
		retransmits += s.dt.retransmits.Load()
	}
	return n, packets, bytes, retransmits
}

// close tears the participant down; the Router has already forgotten it.
func (p *Participant) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	tracks := make([]*publishedTrack, 0, len(p.published))
	for _, t := range p.published {
		tracks = append(tracks, t)
	}
	downs := p.downs
	p.downs = map[TrackID]*subscription{}
	p.mu.Unlock()

	p.pubSig.stop()
	p.subSig.stop()
	for _, t := range tracks {
		t.end()
	}
	for _, s := range downs {
		s.dt.detach()
		p.router.retire(s.dt)
	}
	// closed is set: publisherPC stores no connection after this load.
	if pub := p.pub.Load(); pub != nil {
		_ = pub.Close()
	}
	_ = p.sub.close()
	p.wg.Wait()
}
