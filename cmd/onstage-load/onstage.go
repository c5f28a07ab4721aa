package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"
)

// onstageTarget drives an onstage node over its public REST API and /ws, as browsers would.
type onstageTarget struct {
	base     string
	nodes    []string    // participant i joins through nodes[i mod len]; base is nodes[0]
	api      *webrtc.API // publisher connections
	subAPI   *webrtc.API // subscriber connections (newSubscriberAPI)
	pid      int
	creator  string   // the creator's access token
	meetings []string // meeting ids
	g        *counters
}

func (t *onstageTarget) name() string { return "onstage" }

// node is the base URL participant i connects to.
func (t *onstageTarget) node(i int) string {
	if len(t.nodes) == 0 {
		return t.base
	}
	return t.nodes[i%len(t.nodes)]
}

func (t *onstageTarget) probe() *costProbe {
	return &costProbe{pid: t.pid, metricsURL: t.base + "/metrics", client: httpClient}
}

func (t *onstageTarget) prepare(ctx context.Context, p *plan) error {
	tok, err := registerCreator(ctx, t.base)
	if err != nil {
		return fmt.Errorf("register the meetings' creator: %w", err)
	}
	t.creator = tok
	for i := 0; i < p.meetings; i++ {
		id, err := createMeeting(ctx, t.base, tok, fmt.Sprintf("load %s %d", p.scenario, i+1), p.perMeeting[i]+1)
		if err != nil {
			return fmt.Errorf("create meeting %d: %w", i+1, err)
		}
		t.meetings = append(t.meetings, id)
	}
	return nil
}

func (t *onstageTarget) close() {}

// osPeer is one simulated browser.
type osPeer struct {
	t    *onstageTarget
	spec *peerSpec
	st   *peerStats
	ws   *wsConn
	ctx  context.Context

	mu            sync.Mutex
	pub, sub      *webrtc.PeerConnection
	lm            *localMedia
	pubRemoteSet  bool
	subRemoteSet  bool
	pubCands      []webrtc.ICECandidateInit // remote, waiting for the remote description
	subCands      []webrtc.ICECandidateInit
	pubSent       bool // our offer went out: local candidates may follow
	subSent       bool // our first answer went out
	pubLocalCands []webrtc.ICECandidateInit
	subLocalCands []webrtc.ICECandidateInit
	ended         chan struct{}
	endOnce       sync.Once
	wg            sync.WaitGroup
}

func (t *onstageTarget) runPeer(ctx context.Context, spec *peerSpec, st *peerStats) error {
	p := &osPeer{t: t, spec: spec, st: st, ctx: ctx, ended: make(chan struct{})}
	defer p.cleanup()
	return p.run(ctx)
}

func (p *osPeer) run(ctx context.Context) error {
	var token string
	var err error
	if p.spec.host {
		token = p.t.creator
	} else if token, err = guestToken(ctx, p.t.base, p.spec.name, p.spec.index); err != nil {
		return fmt.Errorf("guest token: %w", err)
	}
	p.ws, err = dialWS(ctx, p.t.node(p.spec.index), url.QueryEscape(token), p.spec.index, p.handle)
	if err != nil {
		return err
	}
	p.st.wsOpen.Store(time.Now().UnixNano())
	p.ws.start()
	data, err := p.ws.request(ctx, "join_room", joinRoomMsg{MeetingID: p.t.meetings[p.spec.meeting]}, 20*time.Second)
	if err != nil {
		return err
	}
	var j joinedMsg
	_ = json.Unmarshal(data, &j)
	p.st.joined.Store(time.Now().UnixNano())

	if p.spec.media.audio || p.spec.media.video {
		if err := p.publish(ctx); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	if p.spec.chat != nil {
		p.spec.chat.run(ctx, p.ws, p.st)
	}
	select {
	case <-ctx.Done():
	case <-p.ended:
		return fmt.Errorf("meeting ended")
	case <-p.ws.done:
		if ctx.Err() == nil {
			return fmt.Errorf("signaling closed: %v", p.ws.readErr)
		}
	}
	// Leave cleanly.
	lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = p.ws.request(lctx, "leave_room", nil, 5*time.Second)
	return nil
}

func (p *osPeer) cleanup() {
	if p.ws != nil {
		p.ws.close()
	}
	p.mu.Lock()
	pub, sub := p.pub, p.sub
	p.mu.Unlock()
	if pub != nil {
		_ = pub.Close()
	}
	if sub != nil {
		_ = sub.Close()
	}
	p.wg.Wait()
}

func (p *osPeer) publish(ctx context.Context) error {
	pc, err := p.t.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	lm, err := addLocalMedia(pc, "s-"+randID(), p.spec.media)
	if err != nil {
		_ = pc.Close()
		return err
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) { p.localCandidate("publisher", c) })
	p.mu.Lock()
	p.pub, p.lm = pc, lm
	p.mu.Unlock()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	var tracks []trackSource
	for i, tr := range lm.trans {
		tracks = append(tracks, trackSource{Mid: tr.Mid(), Source: lm.sources[i]})
	}
	msg := signalMsg{PC: "publisher", SDP: &sessionDesc{Type: "offer", SDP: pc.LocalDescription().SDP}, Tracks: tracks}
	if _, err := p.ws.request(ctx, "webrtc_signal", msg, 20*time.Second); err != nil {
		return err
	}
	p.flushLocal("publisher")
	if err := waitConnected(ctx, pc, 20*time.Second); err != nil {
		return err
	}
	lm.start(ctx, &p.wg)
	p.st.published.Store(time.Now().UnixNano())
	return nil
}

func (p *osPeer) localCandidate(pcName string, c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	init := c.ToJSON()
	p.mu.Lock()
	if pcName == "publisher" && !p.pubSent {
		p.pubLocalCands = append(p.pubLocalCands, init)
		p.mu.Unlock()
		return
	}
	if pcName == "subscriber" && !p.subSent {
		p.subLocalCands = append(p.subLocalCands, init)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = p.ws.send(p.ctx, "webrtc_signal", "", signalMsg{PC: pcName, Candidate: &init})
}

// flushLocal marks the SDP of pcName as sent and sends the candidates held back until then.
func (p *osPeer) flushLocal(pcName string) {
	p.mu.Lock()
	var cands []webrtc.ICECandidateInit
	if pcName == "publisher" {
		p.pubSent, cands, p.pubLocalCands = true, p.pubLocalCands, nil
	} else {
		p.subSent, cands, p.subLocalCands = true, p.subLocalCands, nil
	}
	p.mu.Unlock()
	for i := range cands {
		_ = p.ws.send(p.ctx, "webrtc_signal", "", signalMsg{PC: pcName, Candidate: &cands[i]})
	}
}

// handle processes one server message; it runs on the reading goroutine, so messages are
// handled strictly one at a time and in order.
func (p *osPeer) handle(env envelope) {
	switch env.Type {
	case "ping":
		_ = p.ws.send(p.ctx, "pong", "", nil)
	case "webrtc_signal":
		var m signalMsg
		if err := json.Unmarshal(env.Data, &m); err != nil {
			return
		}
		if err := p.signal(m); err != nil {
			p.st.fail(fmt.Errorf("%s signal: %w", m.PC, err))
		}
	case "meeting_ended":
		p.endOnce.Do(func() { close(p.ended) })
	case "chat":
		if p.spec.chat != nil {
			var c chatMsg
			if json.Unmarshal(env.Data, &c) == nil {
				p.spec.chat.onChat(c, p.st)
			}
		}
	case "error":
		var e errorMsg
		_ = json.Unmarshal(env.Data, &e)
		p.st.fail(fmt.Errorf("server error: %s (%s)", e.Code, e.Message))
	}
}

func (p *osPeer) signal(m signalMsg) error {
	switch m.PC {
	case "publisher":
		p.mu.Lock()
		pc := p.pub
		p.mu.Unlock()
		if pc == nil {
			return fmt.Errorf("no publisher connection")
		}
		if m.SDP != nil {
			if m.SDP.Type != "answer" {
				return fmt.Errorf("unexpected %s", m.SDP.Type)
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP.SDP}); err != nil {
				return err
			}
			p.lm.setSimulcastExtensions()
			p.mu.Lock()
			p.pubRemoteSet = true
			cands := p.pubCands
			p.pubCands = nil
			p.mu.Unlock()
			for _, c := range cands {
				_ = pc.AddICECandidate(c)
			}
		}
		if m.Candidate != nil {
			p.mu.Lock()
			if !p.pubRemoteSet {
				p.pubCands = append(p.pubCands, *m.Candidate)
				p.mu.Unlock()
				return nil
			}
			p.mu.Unlock()
			return addCandidate(pc, *m.Candidate)
		}
	case "subscriber":
		if m.SDP != nil {
			if m.SDP.Type != "offer" {
				return fmt.Errorf("unexpected %s", m.SDP.Type)
			}
			pc, err := p.subscriber()
			if err != nil {
				return err
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP.SDP}); err != nil {
				return err
			}
			p.mu.Lock()
			p.subRemoteSet = true
			cands := p.subCands
			p.subCands = nil
			p.mu.Unlock()
			for _, c := range cands {
				_ = addCandidate(pc, c)
			}
			answer, err := pc.CreateAnswer(nil)
			if err != nil {
				return err
			}
			if err := pc.SetLocalDescription(answer); err != nil {
				return err
			}
			if err := p.ws.send(p.ctx, "webrtc_signal", "", signalMsg{PC: "subscriber",
				SDP: &sessionDesc{Type: "answer", SDP: pc.LocalDescription().SDP}}); err != nil {
				return err
			}
			p.flushLocal("subscriber")
		}
		if m.Candidate != nil {
			p.mu.Lock()
			pc := p.sub
			if pc == nil || !p.subRemoteSet {
				p.subCands = append(p.subCands, *m.Candidate)
				p.mu.Unlock()
				return nil
			}
			p.mu.Unlock()
			return addCandidate(pc, *m.Candidate)
		}
	}
	return nil
}

func addCandidate(pc *webrtc.PeerConnection, c webrtc.ICECandidateInit) error {
	if strings.TrimSpace(c.Candidate) == "" {
		return nil
	}
	return pc.AddICECandidate(c)
}

func (p *osPeer) subscriber() (*webrtc.PeerConnection, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sub != nil {
		return p.sub, nil
	}
	pc, err := p.t.subAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) { p.localCandidate("subscriber", c) })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			p.st.subConn.CompareAndSwap(0, time.Now().UnixNano())
		}
	})
	p.st.subOffer.CompareAndSwap(0, time.Now().UnixNano())
	pc.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if !p.spec.subscribe {
			go drainTrack(tr)
			return
		}
		onRemoteTrack(tr, r, p.st, p.t.g)
	})
	p.sub = pc
	return pc, nil
}

// drainTrack reads and discards a track a publisher-only participant receives anyway.
func drainTrack(tr *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := tr.Read(buf); err != nil {
			return
		}
	}
}
