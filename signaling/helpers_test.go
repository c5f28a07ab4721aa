package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/check"
	"github.com/onstagehq/onstage/internal/db/dbtest"
	"github.com/onstagehq/onstage/rooms"
	"github.com/onstagehq/onstage/sfu"
)

var testSecret = []byte("signaling-test-secret-0123456789abcdef")

// env is a node: a real rooms.Service on SQLite, embedded NATS, a real SFU engine and the
// hub behind an httptest server.
type env struct {
	t      testing.TB
	svc    *rooms.Service
	bus    *bus.Bus
	issuer *authn.Issuer
	engine *sfu.Engine
	hub    *Hub
	srv    *httptest.Server
}

type envOpts struct {
	grace, ping, read time.Duration
	// listener wraps the server's listener (e.g. to shrink socket buffers).
	wrapListener func(*httptest.Server)
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	gdb := dbtest.Open(t, rooms.Migrations()...)
	b, err := bus.Open(ctx, bus.Params{Name: "signaling-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	svc := rooms.NewService(rooms.ServiceParams{Store: rooms.NewStore(gdb), Cache: cachetest.Memory(t), Bus: b, NodeID: "test"})
	iss, err := authn.NewIssuer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := sfu.NewEngine(sfu.Config{IncludeLoopback: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	h := NewHub(HubParams{
		Rooms: svc, Engine: eng, Issuer: iss, Bus: b, NodeID: "test",
		Grace: o.grace, PingInterval: o.ping, ReadTimeout: o.read,
	})
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	srv := httptest.NewUnstartedServer(mux)
	if o.wrapListener != nil {
		o.wrapListener(srv)
	}
	srv.Start()
	e := &env{t: t, svc: svc, bus: b, issuer: iss, engine: eng, hub: h, srv: srv}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		srv.Close()
	})
	return e
}

func (e *env) token(id authn.Identity) string {
	tok, _, err := e.issuer.Mint(id, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) wsURL() string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws" }

func user(id string) authn.Identity {
	return authn.Identity{UserID: id, Role: authn.RolePlayer, Name: "User " + id}
}

// meeting creates a live-able public meeting owned by host.
func (e *env) meeting(host authn.Identity, password string) rooms.MeetingView {
	e.t.Helper()
	mv, err := e.svc.Create(context.Background(), host, rooms.CreateInput{
		Title: "test", StartTime: time.Now(), DurationMinutes: 60, IsPublic: true, Password: password,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return mv
}

// msg is one server message as a client sees it.
type msg struct {
	Type string          `json:"type"`
	ID   *string         `json:"id"`
	Data json.RawMessage `json:"data"`
}

func (m msg) String() string {
	id := ""
	if m.ID != nil {
		id = *m.ID
	}
	d := string(m.Data)
	if len(d) > 200 {
		d = d[:200] + "…"
	}
	return fmt.Sprintf("%s[%s] %s", m.Type, id, d)
}

func (m msg) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(m.Data, v); err != nil {
		t.Fatalf("decode %s: %v", m, err)
	}
}

// client is a test WebSocket client that records everything it receives.
type client struct {
	t      testing.TB
	ws     *websocket.Conn
	who    authn.Identity
	nextID atomic.Int64

	mu       sync.Mutex
	msgs     []msg
	consumed []bool
	closeErr error
	done     chan struct{}
	// onSignal, when set, receives every webrtc_signal's data, in order, on the read
	// goroutine.
	onSignal func(json.RawMessage)
	paused   chan struct{} // when non-nil, reading waits until it is closed
}

func (e *env) dial(who authn.Identity) *client {
	e.t.Helper()
	c := e.dialNoRead(who)
	c.start()
	return c
}

func (e *env) dialNoRead(who authn.Identity) *client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": []string{"Bearer " + e.token(who)}},
	})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(1 << 22)
	c := &client{t: e.t, ws: ws, who: who, done: make(chan struct{})}
	e.t.Cleanup(func() { _ = ws.CloseNow() })
	return c
}

func (c *client) start() {
	go func() {
		defer close(c.done)
		for {
			c.mu.Lock()
			p := c.paused
			c.mu.Unlock()
			if p != nil {
				<-p
			}
			_, b, err := c.ws.Read(context.Background())
			if err != nil {
				c.mu.Lock()
				c.closeErr = err
				c.mu.Unlock()
				return
			}
			var m msg
			if err := json.Unmarshal(b, &m); err != nil {
				c.t.Errorf("server sent invalid JSON: %q", b)
				continue
			}
			c.mu.Lock()
			on := c.onSignal
			c.mu.Unlock()
			if m.Type == TypeWebRTCSignal && on != nil {
				on(m.Data)
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.consumed = append(c.consumed, false)
			c.mu.Unlock()
		}
	}()
}

func (c *client) sendRaw(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

func (c *client) send(typ string, id *string, data any) {
	c.t.Helper()
	b, err := json.Marshal(OutEnvelope{Type: typ, ID: id, Data: data})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.sendRaw(b); err != nil {
		c.t.Fatalf("send %s: %v", typ, err)
	}
}

// request sends a message with a fresh id and returns its ack or error.
func (c *client) request(typ string, data any) msg {
	c.t.Helper()
	id := fmt.Sprintf("r%d", c.nextID.Add(1))
	c.send(typ, &id, data)
	return c.waitFor(fmt.Sprintf("reply to %s %s", typ, id), func(m msg) bool {
		return m.ID != nil && *m.ID == id && (m.Type == TypeAck || m.Type == TypeError)
	})
}

// mustAck is request that fails the test unless the reply is an ack.
func (c *client) mustAck(typ string, data any) msg {
	c.t.Helper()
	m := c.request(typ, data)
	if m.Type != TypeAck {
		c.t.Fatalf("%s: got %s", typ, m)
	}
	return m
}

// wantError is request that fails the test unless the reply is an error with code.
func (c *client) wantError(typ string, data any, code string) {
	c.t.Helper()
	m := c.request(typ, data)
	var d ErrorData
	if m.Type == TypeError {
		m.decode(c.t, &d)
	}
	if m.Type != TypeError || d.Code != code {
		c.t.Fatalf("%s: got %s, want error %s", typ, m, code)
	}
}

// waitFor returns the first unconsumed message matching pred, waiting up to 10 s.
func (c *client) waitFor(what string, pred func(msg) bool) msg {
	c.t.Helper()
	var found msg
	check.ForErr(c.t, 30*time.Second, 5*time.Millisecond, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, m := range c.msgs {
			if !c.consumed[i] && pred(m) {
				c.consumed[i] = true
				found = m
				return nil
			}
		}
		if c.closeErr != nil {
			return fmt.Errorf("%s: socket closed: %v", what, c.closeErr)
		}
		return fmt.Errorf("no %s yet", what)
	})
	return found
}

func (c *client) waitType(typ string) msg {
	c.t.Helper()
	return c.waitFor(typ, func(m msg) bool { return m.Type == typ })
}

// all returns every message received so far of a type.
func (c *client) all(typ string) []msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []msg
	for _, m := range c.msgs {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

func (c *client) closeError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// join sends join_room and returns the joined payload.
func (c *client) join(meetingID string, extra map[string]any) JoinedView {
	c.t.Helper()
	d := map[string]any{"meeting_id": meetingID}
	for k, v := range extra {
		d[k] = v
	}
	m := c.mustAck(TypeJoinRoom, d)
	var j JoinedView
	m.decode(c.t, &j)
	return j
}

// JoinedView decodes `joined` as a client does.
type JoinedView struct {
	Participant  rooms.ParticipantView   `json:"participant"`
	Meeting      rooms.MeetingView       `json:"meeting"`
	Participants []rooms.ParticipantView `json:"participants"`
	Tracks       []TrackView             `json:"tracks"`
	ChatHistory  []rooms.ChatView        `json:"chat_history"`
	ICEServers   []ICEServerView         `json:"ice_servers"`
	ResumeToken  string                  `json:"resume_token"`
}

func ptr[T any](v T) *T { return &v }

func (h *Hub) roomFor(meetingID string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[meetingID]
}
