package sfu

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/check"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// A track that goes leaves its section of the subscriber's offers inactive;
// the next track of the same kind takes the section over (same mid, new
// msid and SSRC), and its media reaches the subscriber.
func TestLiteSubscriberReusesSection(t *testing.T) {
	r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
	defer r.Close()
	a := newTestClient(t, r, "alice", clientOpts{})
	b := newTestClient(t, r, "bob", clientOpts{})
	if _, ok := b.p.sub.(*liteSubscriber); !ok {
		t.Fatalf("subscriber connection %T", b.p.sub)
	}
	lastOffer := func() string {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.subOffers) == 0 {
			return ""
		}
		return b.subOffers[len(b.subOffers)-1]
	}
	// receives waits for bob to get packets of a video track of alice's
	// other than not, and returns its id.
	receives := func(tt *testTrack, not TrackID) TrackID {
		t.Helper()
		var id TrackID
		check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
			for _, info := range a.publishedTracks() {
				if info.TrackID == not || info.Kind != "video" {
					continue
				}
				if rt := b.recvTrack(info.TrackID); rt != nil && len(rt.packets()) >= 10 {
					id = info.TrackID
					return nil
				}
			}
			return fmt.Errorf("bob has no packets of %s", tt.id)
		})
		return id
	}

	first := newTestTrack(webrtc.RTPCodecTypeVideo, "v1", "s", "", 0, 200)
	a.publish([][]*testTrack{{first}})
	a.startSending(10*time.Millisecond, first)
	firstID := receives(first, "")

	for _, s := range a.pub.GetSenders() {
		if s.Track() == first {
			if err := a.pub.RemoveTrack(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.renegotiate()
	check.ForErr(t, 5*time.Second, 20*time.Millisecond, func() error {
		if o := lastOffer(); strings.Contains(o, string(firstID)) || !strings.Contains(o, "a=inactive") {
			return errors.New("no offer with the section inactive")
		}
		return nil
	})

	second := newTestTrack(webrtc.RTPCodecTypeVideo, "v2", "s", "", 0, 200)
	a.publish([][]*testTrack{{second}})
	a.startSending(10*time.Millisecond, second)
	secondID := receives(second, firstID)
	o := lastOffer()
	if n := strings.Count(o, "m=video"); n != 1 || !strings.Contains(o, string(secondID)) {
		t.Fatalf("%d video sections, second track offered: %t", n, strings.Contains(o, string(secondID)))
	}
}

// A client's answer that reaches the server after the client's checks and
// nomination (relayed through another node, say) is followed by the next
// offer only once the connection is up, DTLS included, and that offer is
// answered: media of a track added meanwhile flows.
func TestLiteSubscriberLateAnswer(t *testing.T) {
	for _, dtlsClient := range []bool{true, false} {
		t.Run(fmt.Sprintf("client DTLS %t", dtlsClient), func(t *testing.T) {
			r := newTestEngine(t).NewRouter(RouterParams{ID: "room"})
			defer r.Close()
			a := newTestClient(t, r, "alice", clientOpts{})
			var b *testClient
			var early atomic.Value // a description of a later offer sent before the handshake ended
			b = newTestClient(t, r, "bob", clientOpts{answerDelay: 150 * time.Millisecond, dtlsClient: dtlsClient,
				onSubOffer: func(n int) {
					if st := b.p.sub.(*liteSubscriber).t.Load().state(); n > 1 && st != liteConnected {
						early.CompareAndSwap(nil, fmt.Sprintf("offer %d sent with the transport %s", n, st))
					}
				}})
			audio := newTestTrack(webrtc.RTPCodecTypeAudio, "a", "s", "", 0, 60)
			a.publish([][]*testTrack{{audio}})
			a.startSending(10*time.Millisecond, audio)
			check.For(t, 5*time.Second, "bob's first offer", func() bool {
				b.mu.Lock()
				defer b.mu.Unlock()
				return len(b.subOffers) > 0
			})
			// While bob's answer is on its way.
			video := newTestTrack(webrtc.RTPCodecTypeVideo, "v", "s", "", 0, 200)
			a.publish([][]*testTrack{{video}})
			a.startSending(10*time.Millisecond, video)
			check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
				for _, info := range a.publishedTracks() {
					if rt := b.recvTrack(info.TrackID); rt == nil || len(rt.packets()) < 10 {
						return fmt.Errorf("bob has too few packets of %s (%s); server: %s", info.Kind, info.TrackID, b.p.ConnState())
					}
				}
				return nil
			})
			if e := early.Load(); e != nil {
				t.Fatal(e)
			}
		})
	}
}

// An answer that is not one (garbage, the offer sent back, a truncated one)
// gets ErrInvalidAnswer and leaves the offer outstanding; the client's real
// answer then applies and binds the down-track.
func TestLiteSubscriberBadAnswer(t *testing.T) {
	e := newTestEngine(t)
	s, gate, err := newLiteSubscriber(e, subscriberEvents{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	tr, _ := newBenchTrack(0, nil)
	defer tr.fan.close()
	d := newDownTrack(tr, new(atomic.Bool), gate)
	if err := s.add(d); err != nil {
		t.Fatal(err)
	}
	offer, err := s.offer(false, func() {})
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"garbage":     "garbage",
		"the offer":   offer.SDP, // setup:actpass, ice-lite: not an answer
		"truncated":   offer.SDP[:len(offer.SDP)/2],
		"empty":       "",
		"no sections": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
	} {
		err := s.setAnswer(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: bad})
		if !errors.Is(err, ErrInvalidAnswer) {
			t.Errorf("%s: %v, want ErrInvalidAnswer", name, err)
		}
		if !s.awaitingAnswer() {
			t.Fatalf("%s: the offer is no longer outstanding", name)
		}
	}
	if err := s.setAnswer(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}); !errors.Is(err, ErrInvalidSDPType) {
		t.Errorf("an offer as answer: %v", err)
	}

	client, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := client.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	if err := s.setAnswer(answer); err != nil {
		t.Fatal(err)
	}
	if s.awaitingAnswer() || d.binding.Load() == nil {
		t.Fatal("the real answer did not apply")
	}
}

// blockableConn loses every datagram its client sends while blocked, as a
// network that went away would.
type blockableConn struct {
	net.PacketConn
	blocked atomic.Bool
}

func (c *blockableConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.blocked.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// A transport that failed (the client's network gone past the DTLS
// handshake's bound) is replaced at the client's ICE restart: the client,
// whose own ICE never connected, restarts ICE, connects to the new
// transport with its DTLS, and receives the same section's media.
func TestLiteSubscriberReplacesFailedTransport(t *testing.T) {
	old := liteDTLSTimeout
	liteDTLSTimeout = 500 * time.Millisecond
	t.Cleanup(func() { liteDTLSTimeout = old })

	e := newTestEngine(t)
	var states []webrtc.PeerConnectionState
	var mu sync.Mutex
	s, gate, err := newLiteSubscriber(e, subscriberEvents{onState: func(st webrtc.PeerConnectionState) {
		mu.Lock()
		states = append(states, st)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	tr, _ := newBenchTrack(0, nil)
	defer tr.fan.close()
	connected := new(atomic.Bool)
	connected.Store(true)
	d := newDownTrack(tr, connected, gate)
	if err := s.add(d); err != nil {
		t.Fatal(err)
	}
	tr.fan.add(d)

	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	network := &blockableConn{PacketConn: udp}
	network.blocked.Store(true)
	c := newLiteClientOn(t, webrtc.DTLSRoleClient, network)
	negotiate := func(restart bool) {
		t.Helper()
		offer, err := s.offer(restart, func() {})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.setAnswer(c.answerOffer(t, offer)); err != nil {
			t.Fatal(err)
		}
	}
	negotiate(false)
	first := s.t.Load()
	check.For(t, 10*time.Second, "the transport failed", func() bool { return first.state() == liteFailed })

	// The new transport's handshake gets the usual bound: a slow machine
	// must not fail it too.
	liteDTLSTimeout = old
	network.blocked.Store(false)
	negotiate(true)
	if s.t.Load() == first || first.state() != liteClosed {
		t.Fatalf("the failed transport was kept (%s)", first.state())
	}
	// Keyframes only: the new transport's first packet must be one.
	key := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 42, Timestamp: 1000},
		Payload: makePayload(webrtc.RTPCodecTypeVideo, 0, 1, true, 200)}
	raw, err := key.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	seq := uint16(0)
	got := 0
	check.ForErr(t, 10*time.Second, 5*time.Millisecond, func() error {
		seq++
		feed(tr, raw, seq)
		for {
			select {
			case <-c.rtp:
				got++
				continue
			default:
			}
			if got >= 10 {
				return nil
			}
			return fmt.Errorf("client received %d packets; new transport %s, client ICE %v, down-track sent %d",
				got, s.t.Load().state(), c.iceStates(), d.packets.Load())
		}
	})
	mu.Lock()
	defer mu.Unlock()
	want := []webrtc.PeerConnectionState{webrtc.PeerConnectionStateConnecting, webrtc.PeerConnectionStateFailed,
		webrtc.PeerConnectionStateConnecting, webrtc.PeerConnectionStateConnected}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Fatalf("states %v, want %v (the old transport's closing is not passed on)", states, want)
	}
}
