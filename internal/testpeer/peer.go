// Package testpeer is a client's two Pion peer connections speaking onstage's signaling
// protocol (docs/protocol.md), for tests: it publishes a microphone and a camera with payloads
// a receiver can check byte by byte, answers the server's subscriber offers, and counts what it
// receives. It owns no socket: the test's WebSocket client carries its signals (Conn) and
// hands it the server's (HandleSignal), so the signaling tests and the cluster suite share it
// with clients of their own.
//
// It is test code that lives outside a _test file only so that several packages' tests can
// share it; production code must not import it.
package testpeer

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/pion/webrtc/v3"
)

// Signal is webrtc_signal's data, as a client sends and receives it. It is the client's
// own copy of the protocol, not signaling's type: the signaling package's tests import this
// one, and a client checks the wire format rather than sharing the server's structs.
type Signal struct {
	PC        string                     `json:"pc"`
	SDP       *webrtc.SessionDescription `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit   `json:"candidate,omitempty"`
	Tracks    []TrackSource              `json:"tracks,omitempty"`
	Restart   bool                       `json:"restart,omitempty"`
}

// TrackSource names the source of a publisher offer's m-line.
type TrackSource struct {
	Mid    string `json:"mid"`
	Source string `json:"source"`
}

// Conn is the test's WebSocket client, as the peer sees it.
type Conn interface {
	// SendSignal sends a webrtc_signal without an id: candidates and subscriber answers.
	SendSignal(Signal) error
	// RequestSignal sends a webrtc_signal with an id and returns once it is acknowledged,
	// or the error reply: a publisher offer.
	RequestSignal(Signal) error
}

// Options are what differs between the suites.
type Options struct {
	// Tolerant logs a failed negotiation step or send instead of failing the test: the
	// cluster suite kills nodes under live peers, and a resume closes a peer whose old socket
	// may still hand it a signal.
	Tolerant bool
}

// Peer is a client's publisher and subscriber connections.
type Peer struct {
	Pub, Sub *webrtc.PeerConnection

	t    testing.TB
	conn Conn
	opts Options
	done chan struct{}
	once sync.Once

	mu       sync.Mutex
	pubLocal gate                      // ours, until our offer is sent
	pubIn    gate                      // the server's, until its answer is applied
	subIn    gate                      // the server's, until its offer is applied
	pubCands []webrtc.ICECandidateInit // every publisher candidate of the server
	received map[string]*track         // by msid track id
	answers  int
}

// gate holds candidates until the SDP they follow has gone its way, as the protocol wants on
// both sides: ours until our offer is sent, the server's until ICE can take them.
type gate struct {
	open bool
	held []webrtc.ICECandidateInit
}

// hold keeps c unless g is open, and reports whether it did.
func (p *Peer) hold(g *gate, c webrtc.ICECandidateInit) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g.open {
		return false
	}
	g.held = append(g.held, c)
	return true
}

// release opens g and returns what it held.
func (p *Peer) release(g *gate) []webrtc.ICECandidateInit {
	p.mu.Lock()
	defer p.mu.Unlock()
	g.open = true
	held := g.held
	g.held = nil
	return held
}

// NewAPI is a Pion API for loopback tests: UDP4 only, loopback candidates included, and
// peer-reflexive candidates accepted at once.
func NewAPI(t testing.TB) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetPrflxAcceptanceMinWait(0)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	// Answer the server's offers setup:active, as browsers do: Pion's passive
	// answer to an ICE-lite offer makes the server's ClientHello race this
	// side's DTLS endpoint (see sfu.NewEngine), a one-second join now and then.
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleClient); err != nil {
		t.Fatal(err)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
}

// New makes both peer connections, closed when the test ends. Hand the peer the server's
// signals (HandleSignal) before joining, so that none is missed.
func New(t testing.TB, c Conn, o Options) *Peer {
	t.Helper()
	api := NewAPI(t)
	pub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &Peer{Pub: pub, Sub: sub, t: t, conn: c, opts: o, done: make(chan struct{}), received: map[string]*track{}}
	t.Cleanup(p.Close)
	pub.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		if init := cand.ToJSON(); !p.hold(&p.pubLocal, init) {
			p.send(Signal{PC: "publisher", Candidate: &init})
		}
	})
	sub.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		// Subscriber candidates go after our answer, which is sent synchronously before
		// SetLocalDescription starts gathering.
		p.send(Signal{PC: "subscriber", Candidate: &init})
	})
	sub.OnTrack(p.onTrack)
	return p
}

// Close closes both connections and ends what was sent until Done; it may be called again.
func (p *Peer) Close() {
	p.once.Do(func() { close(p.done) })
	_ = p.Pub.Close()
	_ = p.Sub.Close()
}

// Done is closed by Close.
func (p *Peer) Done() <-chan struct{} { return p.done }

// PublisherCandidates returns the candidates the server sent for the publisher connection.
func (p *Peer) PublisherCandidates() []webrtc.ICECandidateInit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]webrtc.ICECandidateInit(nil), p.pubCands...)
}

func (p *Peer) send(s Signal) {
	if err := p.conn.SendSignal(s); err != nil {
		p.fail("send %s signal: %v", s.PC, err)
	}
}

func (p *Peer) fail(format string, args ...any) {
	if p.opts.Tolerant {
		p.t.Logf(format, args...)
		return
	}
	p.t.Errorf(format, args...)
}

// HandleSignal takes a webrtc_signal's data from the server. Call it from the client's read
// goroutine, one signal at a time, in order.
func (p *Peer) HandleSignal(data json.RawMessage) {
	var d Signal
	if err := json.Unmarshal(data, &d); err != nil {
		p.fail("webrtc_signal %s: %v", data, err)
		return
	}
	switch {
	case d.PC == "publisher" && d.SDP != nil:
		if err := p.setRemote(p.Pub, &p.pubIn, *d.SDP); err != nil {
			p.fail("publisher answer: %v", err)
		}
	case d.PC == "publisher" && d.Candidate != nil:
		p.mu.Lock()
		p.pubCands = append(p.pubCands, *d.Candidate)
		p.mu.Unlock()
		if !p.hold(&p.pubIn, *d.Candidate) {
			_ = p.Pub.AddICECandidate(*d.Candidate)
		}
	case d.PC == "subscriber" && d.SDP != nil:
		if err := p.setRemote(p.Sub, &p.subIn, *d.SDP); err != nil {
			p.fail("subscriber offer: %v", err)
			return
		}
		ans, err := p.Sub.CreateAnswer(nil)
		if err != nil {
			p.fail("subscriber answer: %v", err)
			return
		}
		p.send(Signal{PC: "subscriber", SDP: &ans})
		if err := p.Sub.SetLocalDescription(ans); err != nil {
			p.fail("subscriber local: %v", err)
		}
		p.mu.Lock()
		p.answers++
		p.mu.Unlock()
	case d.PC == "subscriber" && d.Candidate != nil:
		if !p.hold(&p.subIn, *d.Candidate) {
			_ = p.Sub.AddICECandidate(*d.Candidate)
		}
	}
}

// setRemote applies the server's SDP to pc, then the candidates g held for it.
func (p *Peer) setRemote(pc *webrtc.PeerConnection, g *gate, sd webrtc.SessionDescription) error {
	if err := pc.SetRemoteDescription(sd); err != nil {
		return err
	}
	for _, c := range p.release(g) {
		_ = pc.AddICECandidate(c)
	}
	return nil
}
