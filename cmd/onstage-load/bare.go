package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// The baseline: a bare Pion forwarder. Each published track is read packet by packet and
// written to one TrackLocalStaticRTP bound to every subscriber (Pion's broadcast pattern). There
// are no rooms, no rewriting and no interceptors beyond Pion's defaults; signaling is one HTTP
// round trip per connection with complete (non-trickle) ICE gathering. A subscriber's PLI is
// relayed to the publisher, at most twice a second per track.

type bareForwarder struct {
	api *webrtc.API

	mu     sync.Mutex
	tracks map[string][]*bareTrack // by group
	pcs    map[string][]*webrtc.PeerConnection
	subs   map[string]*webrtc.PeerConnection // subscriber connections awaiting their answer
}

type bareTrack struct {
	owner  string
	local  *webrtc.TrackLocalStaticRTP
	pubPC  *webrtc.PeerConnection
	ssrc   uint32
	lastMu sync.Mutex
	lastPL time.Time
}

func newBareForwarder() (*bareForwarder, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetPrflxAcceptanceMinWait(0)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return &bareForwarder{api: api, tracks: map[string][]*bareTrack{}, pcs: map[string][]*webrtc.PeerConnection{},
		subs: map[string]*webrtc.PeerConnection{}}, nil
}

type bareReq struct {
	Peer  string `json:"peer"`
	Group string `json:"group"`
	ID    string `json:"id,omitempty"`
	SDP   string `json:"sdp,omitempty"`
}

type bareResp struct {
	ID     string `json:"id,omitempty"`
	SDP    string `json:"sdp,omitempty"`
	Tracks int    `json:"tracks"`
}

func (f *bareForwarder) handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(path string, fn func(bareReq) (bareResp, error)) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			var req bareReq
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			resp, err := fn(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(resp)
		})
	}
	handle("/publish", f.publish)
	handle("/subscribe", f.subscribe)
	handle("/answer", f.answer)
	handle("/tracks", func(r bareReq) (bareResp, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return bareResp{Tracks: len(f.tracks[r.Group])}, nil
	})
	handle("/leave", func(r bareReq) (bareResp, error) {
		f.mu.Lock()
		pcs := f.pcs[r.Peer]
		delete(f.pcs, r.Peer)
		f.mu.Unlock()
		for _, pc := range pcs {
			_ = pc.Close()
		}
		return bareResp{}, nil
	})
	return mux
}

func (f *bareForwarder) addPC(peer string, pc *webrtc.PeerConnection) {
	f.mu.Lock()
	f.pcs[peer] = append(f.pcs[peer], pc)
	f.mu.Unlock()
}

func gatherLocal(pc *webrtc.PeerConnection, d webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		return "", err
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return "", errors.New("ICE gathering did not complete")
	}
	return pc.LocalDescription().SDP, nil
}

func (f *bareForwarder) publish(r bareReq) (bareResp, error) {
	pc, err := f.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return bareResp{}, err
	}
	f.addPC(r.Peer, pc)
	pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, remote.ID(), remote.StreamID())
		if err != nil {
			return
		}
		bt := &bareTrack{owner: r.Peer, local: local, pubPC: pc, ssrc: uint32(remote.SSRC())}
		f.mu.Lock()
		f.tracks[r.Group] = append(f.tracks[r.Group], bt)
		f.mu.Unlock()
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := recv.Read(buf); err != nil {
					return
				}
			}
		}()
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		for {
			n, _, err := remote.Read(buf)
			if err != nil {
				return
			}
			if pkt.Unmarshal(buf[:n]) != nil {
				continue
			}
			_ = local.WriteRTP(&pkt)
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: r.SDP}); err != nil {
		return bareResp{}, err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return bareResp{}, err
	}
	sdp, err := gatherLocal(pc, answer)
	return bareResp{SDP: sdp}, err
}

func (f *bareForwarder) subscribe(r bareReq) (bareResp, error) {
	pc, err := f.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return bareResp{}, err
	}
	f.addPC(r.Peer, pc)
	f.mu.Lock()
	tracks := append([]*bareTrack(nil), f.tracks[r.Group]...)
	f.mu.Unlock()
	n := 0
	for _, bt := range tracks {
		if bt.owner == r.Peer {
			continue
		}
		s, err := pc.AddTrack(bt.local)
		if err != nil {
			return bareResp{}, err
		}
		n++
		go relayPLI(s, bt)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return bareResp{}, err
	}
	sdp, err := gatherLocal(pc, offer)
	if err != nil {
		return bareResp{}, err
	}
	id := r.Peer + "/" + randID()
	f.mu.Lock()
	f.subs[id] = pc
	f.mu.Unlock()
	return bareResp{ID: id, SDP: sdp, Tracks: n}, nil
}

func relayPLI(s *webrtc.RTPSender, bt *bareTrack) {
	buf := make([]byte, 1500)
	for {
		n, _, err := s.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			if _, ok := p.(*rtcp.PictureLossIndication); !ok {
				continue
			}
			bt.lastMu.Lock()
			due := time.Since(bt.lastPL) > 500*time.Millisecond
			if due {
				bt.lastPL = time.Now()
			}
			bt.lastMu.Unlock()
			if due {
				_ = bt.pubPC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: bt.ssrc}})
			}
		}
	}
}

func (f *bareForwarder) answer(r bareReq) (bareResp, error) {
	f.mu.Lock()
	pc := f.subs[r.ID]
	delete(f.subs, r.ID)
	f.mu.Unlock()
	if pc == nil {
		return bareResp{}, fmt.Errorf("unknown subscription %q", r.ID)
	}
	return bareResp{}, pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: r.SDP})
}

func (f *bareForwarder) closeAll() {
	f.mu.Lock()
	var all []*webrtc.PeerConnection
	for _, pcs := range f.pcs {
		all = append(all, pcs...)
	}
	f.pcs = map[string][]*webrtc.PeerConnection{}
	f.mu.Unlock()
	for _, pc := range all {
		_ = pc.Close()
	}
}

// serveBaseline runs the forwarder on addr, prints "LISTEN <addr>" once it accepts, and serves
// until ctx ends or stdin closes (the parent went away).
func serveBaseline(ctx context.Context, addr string, stdout io.Writer) error {
	f, err := newBareForwarder()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: f.handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "LISTEN %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	f.closeAll()
	return nil
}

// bareTarget drives a bare forwarder, either a child process (so that its CPU is its own) or,
// in tests, an in-process one.
type bareTarget struct {
	base   string
	api    *webrtc.API // publisher connections
	subAPI *webrtc.API // subscriber connections (newSubscriberAPI)
	pid    int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	g      *counters
	plan   *plan
}

// startBareChild starts `<this binary> baseline-server` and waits for its address.
func startBareChild(ctx context.Context) (*bareTarget, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "baseline-server", "--listen", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "LISTEN ") {
				lines <- strings.TrimPrefix(sc.Text(), "LISTEN ")
			}
		}
	}()
	select {
	case addr := <-lines:
		return &bareTarget{base: "http://" + addr, pid: cmd.Process.Pid, cmd: cmd, stdin: stdin}, nil
	case <-time.After(15 * time.Second):
	case <-ctx.Done():
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, errors.New("baseline-server did not start")
}

func (t *bareTarget) name() string { return "bare-pion" }

func (t *bareTarget) probe() *costProbe {
	if t.pid > 0 {
		return &costProbe{pid: t.pid}
	}
	return &costProbe{pid: os.Getpid()}
}

func (t *bareTarget) prepare(ctx context.Context, p *plan) error {
	if p.scenario == "chat" {
		return errors.New("the baseline forwarder carries media only: no chat scenario")
	}
	if p.media.simulcast {
		return errors.New("the baseline forwarder does not do simulcast")
	}
	t.plan = p
	return nil
}

func (t *bareTarget) close() {
	if t.cmd == nil {
		return
	}
	_ = t.stdin.Close() // the child exits when its stdin closes
	done := make(chan struct{})
	go func() { _ = t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = t.cmd.Process.Kill()
		<-done
	}
}

func (t *bareTarget) call(ctx context.Context, path string, req bareReq) (bareResp, error) {
	var resp bareResp
	err := postJSON(ctx, t.base+path, "", req, &resp)
	return resp, err
}

func (t *bareTarget) runPeer(ctx context.Context, spec *peerSpec, st *peerStats) error {
	group := fmt.Sprint(spec.meeting)
	st.wsOpen.Store(time.Now().UnixNano())
	var pcs []*webrtc.PeerConnection
	var wg sync.WaitGroup
	defer func() {
		lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = t.call(lctx, "/leave", bareReq{Peer: spec.name})
		cancel()
		for _, pc := range pcs {
			_ = pc.Close()
		}
		wg.Wait()
	}()
	publishes := spec.media.audio || spec.media.video
	st.joined.Store(time.Now().UnixNano())
	if publishes {
		pc, err := t.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return err
		}
		pcs = append(pcs, pc)
		lm, err := addLocalMedia(pc, "s-"+randID(), spec.media)
		if err != nil {
			return err
		}
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			return err
		}
		sdp, err := gatherLocal(pc, offer)
		if err != nil {
			return err
		}
		resp, err := t.call(ctx, "/publish", bareReq{Peer: spec.name, Group: group, SDP: sdp})
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: resp.SDP}); err != nil {
			return err
		}
		if err := waitConnected(ctx, pc, 20*time.Second); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		lm.start(ctx, &wg)
		st.published.Store(time.Now().UnixNano())
	}
	if spec.subscribe {
		// No signaling of later publications: wait until the group's publishers are all there.
		want := t.plan.tracksPerMeeting[spec.meeting]
		for {
			resp, err := t.call(ctx, "/tracks", bareReq{Group: group})
			if err != nil {
				return err
			}
			if resp.Tracks >= want {
				break
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
		}
		resp, err := t.call(ctx, "/subscribe", bareReq{Peer: spec.name, Group: group})
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		pc, err := t.subAPI.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return err
		}
		pcs = append(pcs, pc)
		st.subOffer.Store(time.Now().UnixNano())
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				st.subConn.CompareAndSwap(0, time.Now().UnixNano())
			}
		})
		pc.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) { onRemoteTrack(tr, r, st, t.g) })
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: resp.SDP}); err != nil {
			return err
		}
		answer, err := pc.CreateAnswer(nil)
		if err != nil {
			return err
		}
		sdp, err := gatherLocal(pc, answer)
		if err != nil {
			return err
		}
		if _, err := t.call(ctx, "/answer", bareReq{Peer: spec.name, ID: resp.ID, SDP: sdp}); err != nil {
			return fmt.Errorf("answer: %w", err)
		}
	}
	<-ctx.Done()
	return nil
}
