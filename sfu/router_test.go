package sfu

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"

	"github.com/onstagehq/onstage/internal/check"
)

// publishAV makes c publish one Opus and one VP8 track and send on both.
func publishAV(c *testClient) (audio, video *testTrack) {
	audio = newTestTrack(webrtc.RTPCodecTypeAudio, "a", "s", "", 0, 60)
	video = newTestTrack(webrtc.RTPCodecTypeVideo, "v", "s", "", 0, 300)
	c.publish([][]*testTrack{{audio}, {video}})
	c.startSending(20*time.Millisecond, audio, video)
	return audio, video
}

// checkPayloads verifies that every received packet is byte-for-byte what
// the publisher generated.
func checkPayloads(rt *recvTrack, size int) error {
	for _, p := range rt.packets() {
		pi := parsePayload(p.payload)
		want := makePayload(rt.kind, pi.layer, pi.counter, pi.key, size)
		if !bytes.Equal(p.payload, want) {
			return fmt.Errorf("track %s: payload %d differs", rt.trackID, pi.counter)
		}
	}
	return nil
}

func TestTwoParticipantsExchangeMedia(t *testing.T) {
	for _, tr := range subscriberTransports {
		t.Run(tr, func(t *testing.T) {
			exchangeMedia(t, newTestEngineWith(t, Config{IncludeLoopback: true, SubscriberTransport: tr}))
		})
	}
}

func exchangeMedia(t *testing.T, e *Engine) {
	r := e.NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	a := newTestClient(t, r, "alice", clientOpts{})
	b := newTestClient(t, r, "bob", clientOpts{})
	want := map[string]string{SubscriberTransportLite: "*sfu.liteSubscriber", SubscriberTransportPion: "*sfu.pionSubscriber"}
	if got := fmt.Sprintf("%T", b.p.sub); got != want[e.cfg.SubscriberTransport] {
		t.Fatalf("subscriber connection %s with %q", got, e.cfg.SubscriberTransport)
	}
	publishAV(a)
	publishAV(b)

	for _, pair := range []struct{ pub, sub *testClient }{{a, b}, {b, a}} {
		check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
			infos := pair.pub.publishedTracks()
			if len(infos) != 2 {
				return fmt.Errorf("%s published %d tracks", pair.pub.id, len(infos))
			}
			for _, info := range infos {
				rt := pair.sub.recvTrack(info.TrackID)
				if rt == nil {
					return fmt.Errorf("%s has not received %s", pair.sub.id, info.TrackID)
				}
				if rt.streamID != string(pair.pub.id) {
					return fmt.Errorf("msid stream %q, want %q", rt.streamID, pair.pub.id)
				}
				if info.StreamID != string(pair.pub.id) || info.ParticipantID != pair.pub.id {
					return fmt.Errorf("bad track info %+v", info)
				}
				if n := len(rt.packets()); n < 10 {
					return fmt.Errorf("%s got %d packets of %s", pair.sub.id, n, info.Kind)
				}
			}
			return nil
		})
	}
	for _, c := range []*testClient{a, b} {
		for _, rt := range c.received() {
			if rt.streamID == string(c.id) {
				t.Fatalf("%s received its own track", c.id)
			}
			size := 300
			if rt.kind == webrtc.RTPCodecTypeAudio {
				size = 60
			}
			if err := checkPayloads(rt, size); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(c.received()); n != 2 {
			t.Fatalf("%s receives %d tracks, want 2", c.id, n)
		}
	}
	info, _ := trackOf(a.publishedTracks(), "audio")
	if info.Source != SourceMicrophone {
		t.Fatalf("audio source %q", info.Source)
	}
	info, _ = trackOf(a.publishedTracks(), "video")
	if info.Source != SourceCamera {
		t.Fatalf("video source %q", info.Source)
	}
	if st := r.Stats(); st.Participants != 2 || st.Tracks != 4 || st.ForwardedPackets == 0 {
		t.Fatalf("stats %+v", st)
	}
	// The engine's totals include closed routers: they never go back.
	before := e.Stats()
	if before.Routers != 1 || before.Participants != 2 || before.ForwardedBytes == 0 {
		t.Fatalf("engine stats %+v", before)
	}
	a.close()
	b.close()
	r.Close()
	if after := e.Stats(); after.Routers != 0 || after.ForwardedPackets < before.ForwardedPackets || after.ForwardedBytes < before.ForwardedBytes {
		t.Fatalf("engine stats went back after the router closed: %+v, before %+v", after, before)
	}
}

func TestLateJoinerGetsKeyframe(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	a := newTestClient(t, r, "alice", clientOpts{})
	video := newTestTrack(webrtc.RTPCodecTypeVideo, "v", "s", "", 0, 200)
	a.publish([][]*testTrack{{video}})
	a.startSending(20*time.Millisecond, video)
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		if len(a.publishedTracks()) != 1 {
			return errors.New("not published")
		}
		return nil
	})
	// Let the initial keyframe pass so only a PLI can produce the next.
	time.Sleep(200 * time.Millisecond)
	plisBefore := video.plis.Load()

	start := time.Now()
	b := newTestClient(t, r, "bob", clientOpts{})
	id := a.publishedTracks()[0].TrackID
	var keyAt time.Time
	check.ForErr(t, 5*time.Second, 10*time.Millisecond, func() error {
		rt := b.recvTrack(id)
		if rt == nil {
			return errors.New("no track yet")
		}
		for _, p := range rt.packets() {
			if parsePayload(p.payload).key {
				keyAt = p.at
				return nil
			}
		}
		return fmt.Errorf("no keyframe yet: %d packets, %d plis", len(rt.packets()), video.plis.Load())
	})
	if video.plis.Load() <= plisBefore {
		t.Fatal("publisher saw no PLI")
	}
	// The keyframe is driven by the join's PLI (checked above), not by the publisher's own
	// schedule; how long it takes is a measurement (typically 0.1–0.4 s here, the issue asks
	// for under 1 s), reported rather than asserted so a loaded CI machine cannot fail it.
	t.Logf("late joiner's first keyframe after %v (including ICE and DTLS)", keyAt.Sub(start))
	pkts := b.recvTrack(id).packets()
	if !parsePayload(pkts[0].payload).key {
		t.Fatal("first forwarded packet is not a keyframe")
	}
}

func TestSimulcastLayerSwitch(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	a := newTestClient(t, r, "alice", clientOpts{})
	b := newTestClient(t, r, "bob", clientOpts{})
	a.onPublished = func(info TrackInfo) {
		if err := b.p.Subscribe(info.TrackID, QualityLow, false); err != nil {
			t.Errorf("subscribe: %v", err)
		}
	}
	var layers []*testTrack
	for i, rid := range []string{"q", "h", "f"} {
		layers = append(layers, newTestTrack(webrtc.RTPCodecTypeVideo, "v", "s", rid, i, 100*(1+2*i)))
	}
	a.publish([][]*testTrack{layers})
	a.startSending(20*time.Millisecond, layers...)

	var info TrackInfo
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		infos := a.publishedTracks()
		if len(infos) != 1 {
			return errors.New("not published")
		}
		info = infos[0]
		rt := b.recvTrack(info.TrackID)
		if rt == nil || len(rt.packets()) < 25 {
			return errors.New("too few packets")
		}
		return nil
	})
	if strings.Join(info.Layers, ",") != "q,h,f" {
		t.Fatalf("layers %v", info.Layers)
	}
	rt := b.recvTrack(info.TrackID)
	for _, p := range rt.packets() {
		if l := parsePayload(p.payload).layer; l != 0 {
			t.Fatalf("low subscriber got layer %d", l)
		}
	}
	if err := checkContinuous(rt.packets()); err != nil {
		t.Fatal(err)
	}

	if err := b.p.Subscribe(info.TrackID, QualityHigh, false); err != nil {
		t.Fatal(err)
	}
	check.ForErr(t, 5*time.Second, 20*time.Millisecond, func() error {
		pkts := rt.packets()
		n := 0
		for _, p := range pkts {
			if parsePayload(p.payload).layer == 2 {
				n++
			}
		}
		if n < 10 {
			return fmt.Errorf("%d packets of f", n)
		}
		return nil
	})
	pkts := rt.packets()
	if err := checkContinuous(pkts); err != nil {
		t.Fatal(err)
	}
	switched := false
	for _, p := range pkts {
		pi := parsePayload(p.payload)
		switch {
		case !switched && pi.layer == 2:
			if !pi.key {
				t.Fatal("switched to f on a delta frame")
			}
			switched = true
		case switched && pi.layer != 2:
			t.Fatalf("layer %d after the switch", pi.layer)
		}
	}
}

// checkContinuous verifies that sequence numbers increase by exactly one and
// timestamps never go backwards.
func checkContinuous(pkts []recvPacket) error {
	for i := 1; i < len(pkts); i++ {
		if pkts[i].seq != pkts[i-1].seq+1 {
			return fmt.Errorf("seq %d after %d", pkts[i].seq, pkts[i-1].seq)
		}
		if d := int32(pkts[i].ts - pkts[i-1].ts); d <= 0 {
			return fmt.Errorf("timestamp %d after %d", pkts[i].ts, pkts[i-1].ts)
		}
	}
	return nil
}

func TestNACKRecoversPublisherLoss(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	drop := &dropper{rate: 0.05, seen: map[uint32]map[uint16]bool{}, rng: newRand(1)}
	a := newTestClient(t, r, "alice", clientOpts{drop: drop})
	b := newTestClient(t, r, "bob", clientOpts{})
	video := newTestTrack(webrtc.RTPCodecTypeVideo, "v", "s", "", 0, 200)
	a.publish([][]*testTrack{{video}})
	a.startSending(10*time.Millisecond, video)

	var rt *recvTrack
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		if infos := a.publishedTracks(); len(infos) == 1 {
			rt = b.recvTrack(infos[0].TrackID)
		}
		if rt == nil || len(rt.packets()) < 250 {
			return errors.New("too few packets")
		}
		return nil
	})
	if drop.dropped.Load() < 5 {
		t.Fatalf("only %d packets dropped", drop.dropped.Load())
	}
	// Ignore the newest packets: their retransmissions may be in flight.
	pkts := rt.packets()
	seen := map[uint32]bool{}
	lo, hi := ^uint32(0), uint32(0)
	for _, p := range pkts {
		c := parsePayload(p.payload).counter
		seen[c] = true
		lo, hi = min(lo, c), max(hi, c)
	}
	hi -= 20
	missing := 0
	for c := lo; c <= hi; c++ {
		if !seen[c] {
			missing++
		}
	}
	total := int(hi - lo + 1)
	t.Logf("dropped %d, missing %d of %d", drop.dropped.Load(), missing, total)
	if missing*100 > total { // < 1% left after recovery of 5% loss
		t.Fatalf("missing %d of %d packets", missing, total)
	}
}

// Loss between the SFU and a subscriber is repaired from the track's packet
// cache: the subscriber's NACKs name the rewritten sequence numbers, which the
// down-track maps back onto the publisher's.
func TestNACKRecoversSubscriberLoss(t *testing.T) {
	e := newTestEngine(t)
	// Lose video on the way to every subscriber, before SRTP, as the
	// network would: only bob subscribes to anything here.
	drop := &dropper{rate: 0.05, seen: map[uint32]map[uint16]bool{}, rng: newRand(2)}
	e.subscriberLink = drop
	r := e.NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	a := newTestClient(t, r, "alice", clientOpts{})
	b := newTestClient(t, r, "bob", clientOpts{})
	video := newTestTrack(webrtc.RTPCodecTypeVideo, "v", "s", "", 0, 200)
	a.publish([][]*testTrack{{video}})
	a.startSending(10*time.Millisecond, video)

	var rt *recvTrack
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		if infos := a.publishedTracks(); len(infos) == 1 {
			rt = b.recvTrack(infos[0].TrackID)
		}
		if rt == nil || len(rt.packets()) < 250 {
			return errors.New("too few packets")
		}
		return nil
	})
	if drop.dropped.Load() < 5 {
		t.Fatalf("only %d packets dropped", drop.dropped.Load())
	}
	pkts := rt.packets()
	seen := map[uint32]bool{}
	lo, hi := ^uint32(0), uint32(0)
	for _, p := range pkts {
		c := parsePayload(p.payload).counter
		seen[c] = true
		lo, hi = min(lo, c), max(hi, c)
	}
	hi -= 20
	missing := 0
	for c := lo; c <= hi; c++ {
		if !seen[c] {
			missing++
		}
	}
	total := int(hi - lo + 1)
	t.Logf("dropped %d, missing %d of %d, retransmitted %d", drop.dropped.Load(), missing, total, r.Stats().Retransmitted)
	if missing*100 > total {
		t.Fatalf("missing %d of %d packets", missing, total)
	}
	if r.Stats().Retransmitted == 0 {
		t.Fatal("nothing retransmitted from the cache")
	}
}

func TestUnpublishRenegotiates(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	a := newTestClient(t, r, "alice", clientOpts{})
	b := newTestClient(t, r, "bob", clientOpts{})
	publishAV(a)
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := len(b.received()); n != 2 {
			return fmt.Errorf("bob receives %d tracks", n)
		}
		return nil
	})
	video, _ := trackOf(a.publishedTracks(), "video")
	for _, s := range a.pub.GetSenders() {
		if s.Track() != nil && s.Track().Kind() == webrtc.RTPCodecTypeVideo {
			if err := a.pub.RemoveTrack(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.renegotiate()
	check.ForErr(t, 5*time.Second, 20*time.Millisecond, func() error {
		a.mu.Lock()
		un := append([]TrackInfo(nil), a.unpublished...)
		a.mu.Unlock()
		b.mu.Lock()
		offers := append([]string(nil), b.subOffers...)
		b.mu.Unlock()
		if len(un) != 1 || un[0].TrackID != video.TrackID {
			return fmt.Errorf("unpublished %v", un)
		}
		if len(offers) == 0 || strings.Contains(offers[len(offers)-1], string(video.TrackID)) {
			return errors.New("no re-offer without the track")
		}
		return nil
	})
	if n := len(r.Tracks()); n != 1 {
		t.Fatalf("router has %d tracks", n)
	}
}

func TestRemoveParticipantUnpublishes(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	a := newTestClient(t, r, "alice", clientOpts{})
	b := newTestClient(t, r, "bob", clientOpts{})
	publishAV(a)
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := len(b.received()); n != 2 {
			return fmt.Errorf("bob receives %d tracks", n)
		}
		return nil
	})
	b.mu.Lock()
	offers := len(b.subOffers)
	b.mu.Unlock()
	r.RemoveParticipant("alice")
	a.mu.Lock()
	un := len(a.unpublished)
	a.mu.Unlock()
	if un != 2 {
		t.Fatalf("%d tracks unpublished", un)
	}
	if r.Participant("alice") != nil || len(r.Tracks()) != 0 {
		t.Fatal("alice still present")
	}
	check.ForErr(t, 5*time.Second, 20*time.Millisecond, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.subOffers) <= offers || strings.Contains(b.subOffers[len(b.subOffers)-1], "alice") {
			return errors.New("no re-offer without alice")
		}
		return nil
	})
	if err := a.p.Subscribe("x", QualityLow, false); !errors.Is(err, ErrParticipantClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
}

func TestSpeakersReported(t *testing.T) {
	got := make(chan []Speaker, 16)
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room", OnSpeakers: func(s []Speaker) {
		select {
		case got <- s:
		default:
		}
	}})
	defer r.Close()
	a := newTestClient(t, r, "alice", clientOpts{})
	audio := newTestTrack(webrtc.RTPCodecTypeAudio, "a", "s", "", 0, 60)
	a.publish([][]*testTrack{{audio}})
	a.startSending(20*time.Millisecond, audio)
	select {
	case s := <-got:
		if len(s) != 1 || s[0].ParticipantID != "alice" || s[0].Level <= 0 {
			t.Fatalf("speakers %+v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no speakers reported")
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	for i := 0; i < 4; i++ {
		func() {
			e, err := NewEngine(Config{IncludeLoopback: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			r := e.NewRouter(RouterParams{ID: "room", OnSpeakers: func([]Speaker) {}})
			a := newTestClient(t, r, "alice", clientOpts{})
			b := newTestClient(t, r, "bob", clientOpts{})
			publishAV(a)
			publishAV(b)
			check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
				if len(a.received()) != 2 || len(b.received()) != 2 {
					return errors.New("not connected")
				}
				return nil
			})
			r.RemoveParticipant("alice")
			b.p.Close()
			a.close()
			b.close()
			r.Close()
		}()
	}
	check.ForErr(t, 10*time.Second, 100*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > base {
			return fmt.Errorf("%d goroutines, baseline %d", n, base)
		}
		return nil
	})
}

// The RTCP of the simulcast layers a client sends is read even when a
// declared layer never arrives: a BYE on the lowest layer ends the track.
func TestSimulcastRTCPWithoutTopLayer(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	a := newTestClient(t, r, "alice", clientOpts{})
	var layers []*testTrack
	for i, rid := range []string{"q", "h", "f"} {
		layers = append(layers, newTestTrack(webrtc.RTPCodecTypeVideo, "v", "s", rid, i, 100))
	}
	a.publish([][]*testTrack{layers})
	a.startSending(20*time.Millisecond, layers[:2]...) // never the top layer
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		if len(a.publishedTracks()) != 1 {
			return errors.New("not published")
		}
		return nil
	})
	layers[0].mu.Lock()
	ssrc := layers[0].ssrc
	layers[0].mu.Unlock()
	if err := a.pub.WriteRTCP([]rtcp.Packet{&rtcp.Goodbye{Sources: []uint32{ssrc}}}); err != nil {
		t.Fatal(err)
	}
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if len(a.unpublished) != 1 {
			return errors.New("track not ended by the BYE")
		}
		return nil
	})
}

// A subscriber gets sender reports for what it receives, built from the
// down-track's own counters: its SSRC, a packet count that follows what
// arrived, and an RTP time that maps the report's wall clock onto the
// stream's timestamps.
func TestSenderReportsFromDownTrack(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	a := newTestClient(t, r, "alice", clientOpts{})
	video := newTestTrack(webrtc.RTPCodecTypeVideo, "v", "s", "", 0, 200)
	a.publish([][]*testTrack{{video}})
	a.startSending(20*time.Millisecond, video)
	b := newTestClient(t, r, "bob", clientOpts{})
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		if len(b.received()) != 1 || len(b.received()[0].packets()) == 0 {
			return errors.New("no media yet")
		}
		return nil
	})
	recv := b.sub.GetReceivers()
	if len(recv) != 1 || recv[0].Track() == nil {
		t.Fatalf("bob has %d receivers", len(recv))
	}
	ssrc := uint32(recv[0].Track().SSRC())
	srs := make(chan rtcp.SenderReport, 16)
	go func() {
		for {
			pkts, _, err := recv[0].ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok {
					select {
					case srs <- *sr:
					default:
					}
				}
			}
		}
	}()
	var sr rtcp.SenderReport
	select {
	case sr = <-srs:
	case <-time.After(5 * time.Second):
		t.Fatal("no sender report within 5 s")
	}
	if sr.SSRC != ssrc {
		t.Fatalf("sender report for SSRC %d, receiving %d", sr.SSRC, ssrc)
	}
	pkts := b.received()[0].packets()
	last := pkts[len(pkts)-1]
	if sr.PacketCount == 0 || int(sr.PacketCount) > len(pkts)+5 {
		t.Fatalf("sender report counts %d packets, %d received", sr.PacketCount, len(pkts))
	}
	// The report's NTP time and RTP time name the same instant: mapped back
	// to the last received packet, they must agree within a few frames.
	ntpSec := float64(sr.NTPTime>>32) - 2208988800 + float64(sr.NTPTime&0xffffffff)/(1<<32)
	srAt := time.Unix(0, int64(ntpSec*1e9))
	wantTS := int64(last.ts) + int64(srAt.Sub(last.at).Seconds()*90000)
	if d := int64(sr.RTPTime) - wantTS; d > 9000 || d < -9000 {
		t.Fatalf("sender report RTP time %d, %d from the received stream's clock", sr.RTPTime, d)
	}
}
