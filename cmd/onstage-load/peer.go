package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	rtcpreport "github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// newAPI builds the pion API of a simulated browser's publisher connection: default codecs and
// interceptors (NACK, RTCP reports, TWCC), simulcast header extensions, loopback host
// candidates, no mDNS, and no wait before a peer-reflexive pair is used.
func newAPI(loopbackOnly bool) (*webrtc.API, error) {
	m, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(newSettingEngine(loopbackOnly))), nil
}

// newSubscriberAPI builds the pion API of the receiving connections. At 1→200 the load
// generator's subscribers share the machine's cores with the server, so they run only the
// interceptors whose output the server acts on: the NACK generator (the server resends from
// its packet cache) and receiver reports. TWCC feedback is negotiated only with simulcast,
// the one case in which the server stamps transport-wide sequence numbers and feeds its
// bandwidth estimate from the feedback (sfu/bwe.go); without it the server stamps nothing
// and the client's TWCC interceptor would only run a 100 ms feedback ticker over empty
// records. A receive-only connection has no use for the NACK responder or sender reports
// (the latter a 1 s ticker goroutine per connection). The bare-Pion baseline is driven by the
// same subscribers, so comparisons stay fair.
func newSubscriberAPI(loopbackOnly, simulcast bool) (*webrtc.API, error) {
	m, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(gen)
	rr, err := rtcpreport.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(rr)
	if simulcast {
		if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
			return nil, err
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(newSettingEngine(loopbackOnly))), nil
}

// newMediaEngine registers the default codecs and the mid and rid header extensions.
func newMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	for _, uri := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, sdp.SDESRepairRTPStreamIDURI} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func newSettingEngine(loopbackOnly bool) webrtc.SettingEngine {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetPrflxAcceptanceMinWait(0)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	// Answer setup:active, as browsers do, and be the DTLS client. Pion's
	// default answer to an ICE-lite offer (onstage's subscriber connections)
	// is passive, which makes the server the DTLS client: its ClientHello
	// then arrives before this side's ICE is connected and is sometimes
	// dropped by Pion's mux before the DTLS endpoint exists, and the join
	// waits a second for the retransmission.
	_ = se.SetAnsweringDTLSRole(webrtc.DTLSRoleClient)
	if loopbackOnly {
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	}
	return se
}

// mediaOptions is what a publisher sends.
type mediaOptions struct {
	audio        bool
	video        bool
	codec        codec
	videoBitrate int
	simulcast    bool
}

// localMedia is a publisher's tracks and their generators.
type localMedia struct {
	gens    []*generator
	senders []*webrtc.RTPSender
	// sources maps a transceiver to its protocol source, filled after SetLocalDescription.
	trans   []*webrtc.RTPTransceiver
	sources []string
	// simulcast sender and its layers' generators, by rid
	scSender *webrtc.RTPSender
	scGens   map[string]*generator
}

var simulcastLayers = []struct {
	rid     string
	divisor int
}{{"q", 4}, {"h", 2}, {"f", 1}}

// addLocalMedia adds the publisher's tracks to pc (send-only transceivers).
func addLocalMedia(pc *webrtc.PeerConnection, streamID string, o mediaOptions) (*localMedia, error) {
	lm := &localMedia{}
	sendonly := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}
	if o.audio {
		t, err := webrtc.NewTrackLocalStaticRTP(codecCapability(codecOpus), "audio-"+randID(), streamID)
		if err != nil {
			return nil, err
		}
		tr, err := pc.AddTransceiverFromTrack(t, sendonly)
		if err != nil {
			return nil, err
		}
		lm.gens = append(lm.gens, newGenerator(codecOpus, 0, t))
		lm.senders = append(lm.senders, tr.Sender())
		lm.trans = append(lm.trans, tr)
		lm.sources = append(lm.sources, "microphone")
	}
	if o.video {
		id := "video-" + randID()
		if !o.simulcast {
			t, err := webrtc.NewTrackLocalStaticRTP(codecCapability(o.codec), id, streamID)
			if err != nil {
				return nil, err
			}
			tr, err := pc.AddTransceiverFromTrack(t, sendonly)
			if err != nil {
				return nil, err
			}
			lm.gens = append(lm.gens, newGenerator(o.codec, o.videoBitrate, t))
			lm.senders = append(lm.senders, tr.Sender())
			lm.trans = append(lm.trans, tr)
		} else {
			var tr *webrtc.RTPTransceiver
			for _, l := range simulcastLayers {
				t, err := webrtc.NewTrackLocalStaticRTP(codecCapability(o.codec), id, streamID, webrtc.WithRTPStreamID(l.rid))
				if err != nil {
					return nil, err
				}
				if tr == nil {
					tr, err = pc.AddTransceiverFromTrack(t, sendonly)
				} else {
					err = tr.Sender().AddEncoding(t)
				}
				if err != nil {
					return nil, fmt.Errorf("simulcast layer %s: %w", l.rid, err)
				}
				g := newGenerator(o.codec, o.videoBitrate/l.divisor, t)
				g.rid = l.rid
				lm.gens = append(lm.gens, g)
				if lm.scGens == nil {
					lm.scGens = map[string]*generator{}
				}
				lm.scGens[l.rid] = g
			}
			lm.scSender = tr.Sender()
			lm.trans = append(lm.trans, tr)
		}
		lm.sources = append(lm.sources, "camera")
	}
	return lm, nil
}

// start runs the generators and answers PLI/FIR with keyframes until ctx ends.
func (lm *localMedia) start(ctx context.Context, wg *sync.WaitGroup) {
	for _, g := range lm.gens {
		wg.Add(1)
		go func(g *generator) {
			defer wg.Done()
			g.run(ctx)
		}(g)
	}
	for _, s := range lm.senders {
		wg.Add(1)
		go func(s *webrtc.RTPSender) {
			defer wg.Done()
			lm.readRTCP(func(b []byte) (int, error) { n, _, err := s.Read(b); return n, err })
		}(s)
	}
	for rid := range lm.scGens {
		wg.Add(1)
		go func(rid string) {
			defer wg.Done()
			s := lm.scSender
			lm.readRTCP(func(b []byte) (int, error) { n, _, err := s.ReadSimulcast(b, rid); return n, err })
		}(rid)
	}
}

// setSimulcastExtensions makes the simulcast layers carry the negotiated mid and rid header
// extensions, as a browser does; call it once the answer is applied.
func (lm *localMedia) setSimulcastExtensions() {
	if lm.scSender == nil {
		return
	}
	var midID, ridID uint8
	for _, e := range lm.scSender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	var mid string
	for _, tr := range lm.trans {
		if tr.Sender() == lm.scSender {
			mid = tr.Mid()
		}
	}
	for _, g := range lm.scGens {
		g.exts.Store(&rtpExts{midID: midID, mid: mid, ridID: ridID})
	}
}

func (lm *localMedia) readRTCP(read func([]byte) (int, error)) {
	var video []*generator
	for _, g := range lm.gens {
		if g.codec != codecOpus {
			video = append(video, g)
		}
	}
	buf := make([]byte, 1500)
	for {
		n, err := read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				for _, g := range video {
					g.requestKeyframe()
				}
			}
		}
	}
}

// onRemoteTrack reads a received track until it ends, accounting every packet.
func onRemoteTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver, st *peerStats, g *counters) {
	c := codecFromMime(t.Codec().MimeType)
	go func() { // drain RTCP addressed to the receiver
		buf := make([]byte, 1500)
		for {
			if _, _, err := r.Read(buf); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1500)
	var p rtp.Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return // io.EOF when the track ends, or the connection closed
		}
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		st.onPacket(c, &p, time.Now(), g)
	}
}

func randID() string { return strconv.FormatUint(rand.Uint64(), 36) }

// waitConnected waits until pc is connected, failed, or the timeout passes.
func waitConnected(ctx context.Context, pc *webrtc.PeerConnection, timeout time.Duration) error {
	ch := make(chan webrtc.PeerConnectionState, 8)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		select {
		case ch <- s:
		default:
		}
	})
	if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		return nil
	}
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		select {
		case s := <-ch:
			switch s {
			case webrtc.PeerConnectionStateConnected:
				return nil
			case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
				return fmt.Errorf("peer connection %s", s)
			}
		case <-tm.C:
			return fmt.Errorf("peer connection not connected after %s", timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
