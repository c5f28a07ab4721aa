package signaling

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/check"
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
	tracksH := ph.MustPublish()
	tracksG := pg.MustPublish()
	stop := make(chan struct{})
	defer close(stop)
	go tracksH.Send(stop)
	go tracksG.Send(stop)
	check.ForErr(t, 20*time.Second, 50*time.Millisecond, func() error {
		if err := pg.Check(jh.Participant.ParticipantID, 10); err != nil {
			return fmt.Errorf("guest: %w", err)
		}
		if err := ph.Check(jg.Participant.ParticipantID, 10); err != nil {
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
	check.ForErr(t, 5*time.Second, 20*time.Millisecond, func() error {
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
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
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

// An open request is only honoured when a node of the cluster signed it: anybody else who
// can publish on the bus cannot act as a user (here the meeting's host) through the relay.
func TestRelayOpenForgedRefused(t *testing.T) {
	p := newPair(t)
	host := user("h4")
	mv := p.b.meeting(host, "")
	p.placeOnB(t, mv.ID)
	other, err := authn.NewIssuer([]byte("another-cluster-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := func() relayOpen {
		return relayOpen{Link: newLinkID(), Edge: "node-a", Owner: "node-b", MeetingID: mv.ID,
			UserID: host.UserID, Role: string(host.Role), Name: "Host", IssuedAt: now.UnixMilli()}
	}
	signed := func(o relayOpen) []byte { return p.a.hub.signOpen(o) }
	replayed := signed(good())
	tampered := func() []byte {
		// A genuine signature with another user's id put into the payload.
		s := string(signed(good()))
		o := good()
		o.UserID = "someone-else"
		b, _ := json.Marshal(o)
		return []byte(base64.RawURLEncoding.EncodeToString(b) + s[strings.IndexByte(s, '.'):])
	}
	withRole := good()
	withRole.Role = "root"
	stale := good()
	stale.IssuedAt = now.Add(-time.Minute).UnixMilli()
	elsewhere := good()
	elsewhere.Owner = "node-c"
	plain, _ := json.Marshal(good())
	foreign, _ := json.Marshal(good())

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"unsigned JSON as it used to be sent", plain, errRelayBadSignature.Error()},
		{"signed with another secret", []byte(other.Sign(relayOpenPurpose, foreign)), errRelayBadSignature.Error()},
		{"payload changed after signing", tampered(), errRelayBadSignature.Error()},
		{"unknown role", signed(withRole), errRelayBadRole.Error()},
		{"too old", signed(stale), errRelayStale.Error()},
		{"meant for another node", signed(elsewhere), errRelayWrongOwner.Error()},
		{"genuine", replayed, ""},
		{"replayed", replayed, errRelayReplayed.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := p.a.bus.Conn().Request(relayOpenSubject("node-b"), tc.data, 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var rep relayOpenReply
			if err := json.Unmarshal(msg.Data, &rep); err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if !rep.OK {
					t.Fatalf("refused: %q", rep.Error)
				}
				return
			}
			if rep.OK || rep.Error != tc.want {
				t.Fatalf("reply %+v, want refusal %q", rep, tc.want)
			}
		})
	}
	// Only the genuine request made a relayed connection.
	p.b.hub.relay.mu.Lock()
	n := len(p.b.hub.relay.remotes)
	p.b.hub.relay.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d relayed connections on the owner, want 1", n)
	}
}

// When the owner dies (its bus connection is gone, as with kill -9), the edge asks its
// relayed clients to reconnect at once, not when the owner's heartbeats have been missing
// for relayDeadAfter.
func TestRelayOwnerKilledClosesAtOnce(t *testing.T) {
	p := newPair(t)
	host := user("h5")
	mv := p.b.meeting(host, "")
	p.placeOnB(t, mv.ID)
	c := p.a.dial(host)
	c.join(mv.ID, nil)
	killed := time.Now()
	p.b.bus.Conn().Close() // node-b vanishes from the bus without a word
	check.ForErr(t, relayDeadAfter-time.Second, 10*time.Millisecond, func() error {
		err := c.closeError()
		if err == nil {
			return errors.New("still open")
		}
		if websocket.CloseStatus(err) != statusServiceRestart {
			return fmt.Errorf("closed with %v, want 1012", err)
		}
		return nil
	})
	t.Logf("relayed socket closed %v after the owner's death", time.Since(killed).Round(time.Millisecond))
}

// A node that takes a meeting over (its owner no longer answers) closes at once the sockets it
// still relays to the old owner for that meeting, so that they resume here too.
func TestRelayTakeoverClosesOldLinks(t *testing.T) {
	p := newPair(t)
	host, guest := user("h6"), user("g6")
	mv := p.b.meeting(host, "")
	p.placeOnB(t, mv.ID)
	ch := p.a.dial(host)
	ch.join(mv.ID, nil)
	p.b.hub.stopRelay() // node-b stops answering, as if it had died; its heartbeats go on
	cg := p.a.dial(guest)
	cg.join(mv.ID, nil)
	if p.a.hub.roomFor(mv.ID) == nil {
		t.Fatal("node-a did not take the room over")
	}
	check.ForErr(t, relayDeadAfter-time.Second, 10*time.Millisecond, func() error {
		err := ch.closeError()
		if err == nil {
			return errors.New("the host's socket is still relayed to the old owner")
		}
		if websocket.CloseStatus(err) != statusServiceRestart {
			return fmt.Errorf("closed with %v, want 1012", err)
		}
		return nil
	})
}

// A relayed connection serves only the meeting its signed open request named: a join_room
// for another meeting sent on the link is refused.
func TestRelayLinkBoundToMeeting(t *testing.T) {
	p := newPair(t)
	host := user("h7")
	mv := p.b.meeting(host, "")
	other := p.b.meeting(host, "")
	p.placeOnB(t, mv.ID)
	nc := p.a.bus.Conn()
	link := newLinkID()
	down := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(relayDownSubject(link), down)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	open := p.a.hub.signOpen(relayOpen{Link: link, Edge: "node-a", Owner: "node-b", MeetingID: mv.ID,
		UserID: host.UserID, Role: string(host.Role), Name: "Host", IssuedAt: time.Now().UnixMilli()})
	rep, err := nc.Request(relayOpenSubject("node-b"), open, 3*time.Second)
	if err != nil || !strings.Contains(string(rep.Data), `"ok":true`) {
		t.Fatalf("open: %v %s", err, rep.Data)
	}
	id := "j1"
	frame, _ := EncodeMessage(TypeJoinRoom, &id, JoinRoomData{MeetingID: other.ID})
	if err := nc.Publish(relayUpSubject(link), frameMsg(frame)); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-down:
			if len(m.Data) == 0 || m.Data[0] != relayFrame {
				continue
			}
			var e msg
			if err := json.Unmarshal(m.Data[1:], &e); err != nil {
				t.Fatal(err)
			}
			if e.ID == nil || *e.ID != id {
				continue
			}
			if e.Type != TypeError || !strings.Contains(string(e.Data), CodeForbidden) {
				t.Fatalf("answer to a join of another meeting: %s", m.Data[1:])
			}
			if p.b.hub.roomFor(other.ID) != nil {
				t.Fatal("the owner opened the other meeting's room")
			}
			return
		case <-timeout:
			t.Fatal("no answer to the join")
		}
	}
}
