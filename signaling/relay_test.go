package signaling

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/db/dbtest"
	"github.com/onstagehq/onstage/rooms"
	"github.com/onstagehq/onstage/sfu"
)

// pair is two nodes in one process: one database, one NATS server (each node with its own
// connection), one Redis for placement, and a hub, SFU and rooms service each.
type pair struct {
	a, b     *env
	pa, pb   *rooms.Placer
	shutdown map[*env]bool
}

func relayRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv(cachetest.RedisEnv)
	if url == "" {
		t.Skipf("set %s to run the relay tests against Redis", cachetest.RedisEnv)
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	prefix := "onstagetest:relay:" + hex.EncodeToString(buf) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			_ = c.Del(ctx, iter.Val()).Err()
		}
	})
	return c, prefix
}

func newPair(t testing.TB) *pair {
	t.Helper()
	rdb, prefix := relayRedis(t)
	ctx := context.Background()
	gdb := dbtest.Open(t, rooms.Migrations()...)
	first, err := bus.Open(ctx, bus.Params{Name: "relay-test-a"})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := authn.NewIssuer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{shutdown: map[*env]bool{}}
	node := func(id string, b *bus.Bus) (*env, *rooms.Placer) {
		reg := rooms.NewRegistry(rooms.RegistryParams{Redis: rdb, Prefix: prefix, NodeID: id})
		var hub *Hub
		pl := rooms.NewPlacer(rooms.PlacerParams{Redis: rdb, Prefix: prefix, Registry: reg, NodeID: id,
			OnLost: func(m string) { hub.RoomLost(m) }})
		svc := rooms.NewService(rooms.ServiceParams{Store: rooms.NewStore(gdb), Cache: cachetest.Memory(t), Bus: b, NodeID: id,
			ChatOwners: pl,
			OnEvent: func(ev rooms.Event) {
				if hub != nil {
					hub.LocalEvent(ev)
				}
			}})
		eng, err := sfu.NewEngine(sfu.Config{IncludeLoopback: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		hub = NewHub(HubParams{Rooms: svc, Engine: eng, Issuer: iss, Bus: b, NodeID: id, Placement: pl})
		mux := http.NewServeMux()
		mux.Handle("/ws", hub)
		srv := httptest.NewServer(mux)
		e := &env{t: t, svc: svc, bus: b, issuer: iss, engine: eng, hub: hub, srv: srv}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := hub.Shutdown(ctx); err != nil {
				t.Errorf("hub %s shutdown: %v", id, err)
			}
			srv.Close()
			pl.Close()
			_ = eng.Close()
		})
		return e, pl
	}
	second, err := bus.Open(ctx, bus.Params{URL: first.ClientURL(), Name: "relay-test-b"})
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: the buses close after the hubs.
	t.Cleanup(first.Close)
	t.Cleanup(second.Close)
	p.a, p.pa = node("node-a", first)
	p.b, p.pb = node("node-b", second)
	return p
}

// placeOnB makes node-b the meeting's owner (with no registry entries, a node places a new
// room on itself).
func (p *pair) placeOnB(t testing.TB, meetingID string) {
	t.Helper()
	owner, err := p.pb.Owner(context.Background(), meetingID)
	if err != nil || owner != "node-b" {
		t.Fatalf("owner = %q, %v; want node-b", owner, err)
	}
}

func TestRelayJoinMediaAndChat(t *testing.T) {
	p := newPair(t)
	host, guest := user("h1"), user("g1")
	mv := p.b.meeting(host, "")
	p.placeOnB(t, mv.ID)

	// The host enters through node-a, which does not own the meeting: it is relayed to node-b.
	ch := p.a.dial(host)
	jh := ch.join(mv.ID, nil)
	cg := p.b.dial(guest)
	jg := cg.join(mv.ID, nil)
	if jh.Participant.Role != "host" || len(jg.Participants) != 2 {
		t.Fatalf("joined: host role %q, guest sees %d participants", jh.Participant.Role, len(jg.Participants))
	}
	if p.a.hub.roomFor(mv.ID) != nil {
		t.Fatal("the edge opened a room of its own")
	}
	if r := p.b.hub.roomFor(mv.ID); r == nil {
		t.Fatal("the owner has no room")
	}
	ch.waitFor("participant_joined", func(m msg) bool { return m.Type == TypeParticipantJoined })

	// Media both ways: the relayed client's ICE reaches the owner directly.
	ph, pg := newPeer(t, ch), newPeer(t, cg)
	vh, ah := ph.publish()
	vg, ag := pg.publish()
	stop := make(chan struct{})
	defer close(stop)
	go sendMedia(vh, ah, stop)
	go sendMedia(vg, ag, stop)
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if err := pg.check(jh.Participant.ParticipantID, 10); err != nil {
			return fmt.Errorf("guest: %w", err)
		}
		if err := ph.check(jg.Participant.ParticipantID, 10); err != nil {
			return fmt.Errorf("host (relayed): %w", err)
		}
		return nil
	})

	// Chat from the relayed client reaches both, with one ack.
	ack := ch.mustAck(TypeChatMessage, map[string]any{"text": "hello over the relay"})
	var a ChatAckData
	ack.decode(t, &a)
	for _, c := range []*client{ch, cg} {
		c.waitFor("chat", func(m msg) bool { return m.Type == TypeChat })
	}
	if a.Seq != 1 {
		t.Fatalf("seq = %d, want 1", a.Seq)
	}

	// Resume through the edge after the socket drops: same participant, chat replayed.
	cg.mustAck(TypeChatMessage, map[string]any{"text": "while you were away"})
	_ = ch.ws.Close(websocket.StatusGoingAway, "")
	ch2 := p.a.dial(host)
	jr := ch2.join(mv.ID, map[string]any{"resume_token": jh.ResumeToken, "last_seq": 1})
	if jr.Participant.ParticipantID != jh.Participant.ParticipantID {
		t.Fatalf("resumed as %s, want %s", jr.Participant.ParticipantID, jh.Participant.ParticipantID)
	}
	ch2.waitFor("replayed chat", func(m msg) bool { return m.Type == TypeChat })

	// Leaving through the relay: the guest sees it, and the edge takes the socket back.
	ch2.mustAck(TypeLeaveRoom, nil)
	cg.waitFor("participant_left", func(m msg) bool { return m.Type == TypeParticipantLeft })
	checkFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		p.a.hub.relay.mu.Lock()
		defer p.a.hub.relay.mu.Unlock()
		if n := len(p.a.hub.relay.edges); n != 0 {
			return fmt.Errorf("%d links still open", n)
		}
		return nil
	})
}

// When the owner goes away, the edge asks its client to reconnect with 1012.
func TestRelayOwnerGoneClosesWith1012(t *testing.T) {
	p := newPair(t)
	host := user("h2")
	mv := p.b.meeting(host, "")
	p.placeOnB(t, mv.ID)
	c := p.a.dial(host)
	c.join(mv.ID, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.b.hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		err := c.closeError()
		if err == nil {
			return errors.New("still open")
		}
		if websocket.CloseStatus(err) != statusServiceRestart {
			return fmt.Errorf("closed with %v, want 1012", err)
		}
		return nil
	})
}

// A join for a meeting whose owner does not answer moves the room (node-b is gone from the
// bus: no responders), and the client is served locally.
func TestRelayDeadOwnerReassigned(t *testing.T) {
	p := newPair(t)
	host := user("h3")
	mv := p.b.meeting(host, "")
	p.placeOnB(t, mv.ID)
	p.b.hub.stopRelay() // node-b no longer answers relay requests, as if it had died
	c := p.a.dial(host)
	c.join(mv.ID, nil)
	if p.a.hub.roomFor(mv.ID) == nil {
		t.Fatal("node-a did not take the room over")
	}
	owner, err := p.pa.Owner(context.Background(), mv.ID)
	if err != nil || owner != "node-a" {
		t.Fatalf("owner = %q, %v", owner, err)
	}
}

// BenchmarkRelayRoundTrip measures one request/answer (a message the owner refuses without
// touching the database) from a client on the owner and from a client relayed to it; the
// difference is the relay's cost.
func BenchmarkRelayRoundTrip(b *testing.B) {
	p := newPair(b)
	mv := p.b.meeting(user("bh"), "")
	p.placeOnB(b, mv.ID)
	for _, tc := range []struct {
		name string
		e    *env
		who  authn.Identity
	}{{"direct", p.b, user("bh")}, {"relayed", p.a, user("bg")}} {
		c := tc.e.dialNoRead(tc.who)
		ctx := context.Background()
		roundTrip := func(typ, id string, data any) {
			req, _ := json.Marshal(OutEnvelope{Type: typ, ID: &id, Data: data})
			if err := c.ws.Write(ctx, websocket.MessageText, req); err != nil {
				b.Fatal(err)
			}
			for {
				_, raw, err := c.ws.Read(ctx)
				if err != nil {
					b.Fatal(err)
				}
				var m msg
				_ = json.Unmarshal(raw, &m)
				if m.ID != nil && *m.ID == id {
					return
				}
			}
		}
		roundTrip(TypeJoinRoom, "join", map[string]any{"meeting_id": mv.ID})
		b.Run(tc.name, func(b *testing.B) {
			// Past the rate limit's burst the answer is rate_limited: still one round trip.
			for i := 0; i < b.N; i++ {
				roundTrip(TypeWebRTCSignal, strconv.Itoa(i), map[string]any{"pc": "nope"})
			}
		})
	}
}
