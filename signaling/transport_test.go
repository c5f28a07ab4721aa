package signaling

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/check"
)

func TestAuthRefusedBeforeUpgrade(t *testing.T) {
	e := newEnv(t, envOpts{})
	good := e.token(user("u1"))
	expired, _, _ := e.issuer.Mint(user("u1"), -time.Minute)
	other, _ := authn.NewIssuer([]byte("another-secret-another-secret-0123456789"))
	forged, _, _ := other.Mint(user("u1"), time.Hour)
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	for _, tc := range []struct{ name, header, query string }{
		{"missing", "", ""},
		{"expired", "Bearer " + expired, ""},
		{"forged", "Bearer " + forged, ""},
		{"alg none", "", none},
		{"garbage query", "", "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			u := e.wsURL()
			if tc.query != "" {
				u += "?token=" + tc.query
			}
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			_, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: h})
			if err == nil {
				t.Fatal("upgrade succeeded")
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("resp = %v, want 401", resp)
			}
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code != "unauthorized" {
				t.Fatalf("body = %+v, %v", body, err)
			}
		})
	}
	t.Run("query token accepted", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, e.wsURL()+"?token="+good, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = ws.CloseNow()
	})
	t.Run("cross origin localhost allowed, other refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h := http.Header{"Origin": []string{"http://localhost:5173"}}
		ws, _, err := websocket.Dial(ctx, e.wsURL()+"?token="+good, &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatal(err)
		}
		_ = ws.CloseNow()
		h = http.Header{"Origin": []string{"https://evil.example"}}
		_, resp, err := websocket.Dial(ctx, e.wsURL()+"?token="+good, &websocket.DialOptions{HTTPHeader: h})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("foreign origin: err=%v resp=%v", err, resp)
		}
	})
}

func TestMalformedInputKeepsConnection(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial(user("u1"))
	long := strings.Repeat("x", 65)
	for i, tc := range []struct {
		name, raw, code string
		echo            bool // the reply carries id "x"
	}{
		{"not json", `{"type":`, CodeBadRequest, false},
		{"array", `[1,2]`, CodeBadRequest, false},
		{"string", `"hello"`, CodeBadRequest, false},
		{"missing type", `{"id":"x","data":{}}`, CodeBadRequest, true},
		{"empty type", `{"type":"","id":"x"}`, CodeBadRequest, true},
		{"type not string", `{"type":5,"id":"x"}`, CodeBadRequest, true},
		{"unknown type", `{"type":"dance","id":"x"}`, CodeBadRequest, true},
		{"server type", `{"type":"ack","id":"x"}`, CodeBadRequest, true},
		{"id too long", `{"type":"pong","id":"` + long + `"}`, CodeBadRequest, false},
		{"id not string", `{"type":"pong","id":7}`, CodeBadRequest, false},
		{"data array", `{"type":"join_room","id":"x","data":[1]}`, CodeBadRequest, true},
		{"data string", `{"type":"chat_message","id":"x","data":"hi"}`, CodeBadRequest, true},
		{"join wrong field type", `{"type":"join_room","id":"x","data":{"meeting_id":12}}`, CodeBadRequest, true},
		{"join last_seq string", `{"type":"join_room","id":"x","data":{"meeting_id":"m","last_seq":"3"}}`, CodeBadRequest, true},
		{"join nothing", `{"type":"join_room","id":"x","data":{}}`, CodeBadRequest, true},
		{"join unknown meeting", `{"type":"join_room","id":"x","data":{"meeting_id":"nope"}}`, CodeNotFound, true},
		{"join unknown code", `{"type":"join_room","id":"x","data":{"code":"ZZZZZZ"}}`, CodeNotFound, true},
		{"join forged resume", `{"type":"join_room","id":"x","data":{"meeting_id":"m","resume_token":"a.b"}}`, CodeUnauthorized, true},
		{"chat before join", `{"type":"chat_message","id":"x","data":{"text":"hi"}}`, CodeNotInRoom, true},
		{"media before join", `{"type":"media_control","id":"x","data":{"source":"camera","muted":true}}`, CodeNotInRoom, true},
		{"signal before join", `{"type":"webrtc_signal","id":"x","data":{"pc":"publisher"}}`, CodeNotInRoom, true},
		{"subscribe before join", `{"type":"subscribe","id":"x","data":{"track_id":"t"}}`, CodeNotInRoom, true},
		{"host action before join", `{"type":"host_action","id":"x","data":{"action":"kick"}}`, CodeNotInRoom, true},
		{"leave before join", `{"type":"leave_room","id":"x"}`, CodeNotInRoom, true},
		{"invalid utf8", "{\"type\":\"pong\",\"id\":\"\xff\"}", CodeBadRequest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.sendRaw([]byte(tc.raw)); err != nil {
				t.Fatal(err)
			}
			// A pong with a unique id follows: its ack proves the error came first and the
			// connection stays open.
			id := fmt.Sprintf("probe-%d", i)
			c.send(TypePong, &id, nil)
			m := c.waitType(TypeError)
			var d ErrorData
			m.decode(t, &d)
			if d.Code != tc.code {
				t.Fatalf("got %s, want code %s", m, tc.code)
			}
			if tc.echo != (m.ID != nil && *m.ID == "x") {
				t.Fatalf("id echo: got %v, want echo=%v", m.ID, tc.echo)
			}
			c.waitFor("probe ack", func(m msg) bool { return m.Type == TypeAck && m.ID != nil && *m.ID == id })
		})
	}
	// A pong without an id gets nothing; a message with a 64-character id is echoed.
	id64 := strings.Repeat("y", 64)
	c.send(TypePong, &id64, nil)
	c.waitFor("64-char id", func(m msg) bool { return m.Type == TypeAck && m.ID != nil && *m.ID == id64 })
	if errs := c.all(TypeError); len(errs) != 0 {
		for _, m := range errs {
			t.Logf("unexpected error left: %s", m)
		}
	}
}

func TestInRoomMalformedInput(t *testing.T) {
	e := newEnv(t, envOpts{})
	host := user("h")
	mv := e.meeting(host, "")
	c := e.dial(host)
	c.join(mv.ID, nil)
	for _, tc := range []struct {
		name, typ string
		data      any
		code      string
	}{
		{"join again", TypeJoinRoom, map[string]any{"meeting_id": mv.ID}, CodeAlreadyJoined},
		{"chat missing text", TypeChatMessage, map[string]any{}, CodeBadRequest},
		{"chat empty text", TypeChatMessage, map[string]any{"text": ""}, CodeBadRequest},
		{"chat text number", TypeChatMessage, map[string]any{"text": 5}, CodeBadRequest},
		{"chat too long", TypeChatMessage, map[string]any{"text": strings.Repeat("a", 2001)}, CodeBadRequest},
		{"chat to unknown", TypeChatMessage, map[string]any{"text": "a", "to": "nobody"}, CodeBadRequest},
		{"media bad source", TypeMediaControl, map[string]any{"source": "tv", "muted": true}, CodeBadRequest},
		{"media missing muted", TypeMediaControl, map[string]any{"source": "camera"}, CodeBadRequest},
		{"media muted string", TypeMediaControl, map[string]any{"source": "camera", "muted": "yes"}, CodeBadRequest},
		{"signal bad pc", TypeWebRTCSignal, map[string]any{"pc": "both", "restart": true}, CodeBadRequest},
		{"signal nothing", TypeWebRTCSignal, map[string]any{"pc": "publisher"}, CodeBadRequest},
		{"signal sdp not object", TypeWebRTCSignal, map[string]any{"pc": "publisher", "sdp": "v=0"}, CodeBadRequest},
		{"signal publisher answer", TypeWebRTCSignal, map[string]any{"pc": "publisher", "sdp": map[string]any{"type": "answer", "sdp": "v=0"}}, CodeBadRequest},
		{"signal garbage offer", TypeWebRTCSignal, map[string]any{"pc": "publisher", "sdp": map[string]any{"type": "offer", "sdp": "garbage"}}, CodeBadRequest},
		{"signal answer without offer", TypeWebRTCSignal, map[string]any{"pc": "subscriber", "sdp": map[string]any{"type": "answer", "sdp": "v=0"}}, CodeBadRequest},
		{"signal publisher restart", TypeWebRTCSignal, map[string]any{"pc": "publisher", "restart": true}, CodeBadRequest},
		{"signal restart not bool", TypeWebRTCSignal, map[string]any{"pc": "subscriber", "restart": "yes"}, CodeBadRequest},
		{"signal bad tracks", TypeWebRTCSignal, map[string]any{"pc": "publisher", "tracks": []any{map[string]any{"mid": "0", "source": "tv"}}, "restart": true}, CodeBadRequest},
		{"subscribe no track", TypeSubscribe, map[string]any{}, CodeBadRequest},
		{"subscribe bad quality", TypeSubscribe, map[string]any{"track_id": "t", "quality": "ultra"}, CodeBadRequest},
		{"subscribe unknown track", TypeSubscribe, map[string]any{"track_id": "t"}, CodeNotFound},
		{"subscribe paused string", TypeSubscribe, map[string]any{"track_id": "t", "paused": "no"}, CodeBadRequest},
		{"host unknown action", TypeHostAction, map[string]any{"action": "dance"}, CodeBadRequest},
		{"host kick without target", TypeHostAction, map[string]any{"action": "kick"}, CodeBadRequest},
		{"host kick unknown", TypeHostAction, map[string]any{"action": "kick", "target": "nobody"}, CodeNotFound},
		{"host action number", TypeHostAction, map[string]any{"action": 3}, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) { c.wantError(tc.typ, tc.data, tc.code) })
	}
	// Still in the room and working.
	c.mustAck(TypeChatMessage, map[string]any{"text": "still here"})
}

func TestFrameLimit(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial(user("u1"))
	// Exactly 65,536 bytes: a pong whose id is valid and whose padding fills the rest.
	frame := func(n int) []byte {
		head := `{"type":"pong","id":"big","data":{"pad":"`
		tail := `"}}`
		return []byte(head + strings.Repeat("p", n-len(head)-len(tail)) + tail)
	}
	if b := frame(MaxMessageBytes); len(b) != 65536 {
		t.Fatalf("frame is %d bytes", len(b))
	} else if err := c.sendRaw(b); err != nil {
		t.Fatal(err)
	}
	c.waitFor("ack of 65536-byte frame", func(m msg) bool { return m.Type == TypeAck && m.ID != nil && *m.ID == "big" })

	if err := c.sendRaw(frame(MaxMessageBytes + 1)); err != nil {
		t.Fatal(err)
	}
	check.ForErr(t, 10*time.Second, 10*time.Millisecond, func() error {
		err := c.closeError()
		if err == nil {
			return errors.New("still open")
		}
		if s := websocket.CloseStatus(err); s != websocket.StatusMessageTooBig {
			return fmt.Errorf("closed with %v (%v), want 1009", s, err)
		}
		return nil
	})
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial(user("u1"))
	for i := 0; i < 300; i++ {
		id := fmt.Sprintf("p%d", i)
		c.send(TypePong, &id, nil)
	}
	c.waitFor("rate_limited", func(m msg) bool {
		var d ErrorData
		_ = json.Unmarshal(m.Data, &d)
		return m.Type == TypeError && d.Code == CodeRateLimited && m.ID != nil
	})
	// Every message with an id got exactly one reply, and the connection stays.
	check.ForErr(t, 10*time.Second, 10*time.Millisecond, func() error {
		n := len(c.all(TypeAck)) + len(c.all(TypeError))
		if n != 300 {
			return fmt.Errorf("%d replies", n)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // refill a few tokens
	c.mustAck(TypePong, nil)
}

func TestPingAndSilentClientDropped(t *testing.T) {
	e := newEnv(t, envOpts{ping: 100 * time.Millisecond, read: 600 * time.Millisecond, grace: 200 * time.Millisecond})
	host := user("h")
	mv := e.meeting(host, "")
	c := e.dial(host)
	c.join(mv.ID, nil)
	c.waitType(TypePing)
	// The client reads (it gets pings) but sends nothing: dropped after the read timeout,
	// then it leaves when the grace runs out.
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		if c.closeError() == nil {
			return errors.New("still open")
		}
		return nil
	})
	check.ForErr(t, 10*time.Second, 20*time.Millisecond, func() error {
		ps, err := e.svc.Participants(context.Background(), host, mv.ID)
		if err != nil {
			return err
		}
		if len(ps) != 0 {
			return fmt.Errorf("%d participants left", len(ps))
		}
		return nil
	})
}

// smallBufferListener shrinks accepted sockets' send buffers so that a client that stops
// reading fills them quickly.
type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func TestSlowClientClosed1008(t *testing.T) {
	e := newEnv(t, envOpts{wrapListener: func(s *httptest.Server) { s.Listener = smallBufferListener{s.Listener} }})
	// The slow client resumes reading only after the overflow: its blocked write must not
	// time out first, however slow the machine.
	e.hub.writeTimeout = time.Minute
	host, other := user("h"), user("o")
	mv := e.meeting(host, "")
	fast := e.dial(host)
	fast.join(mv.ID, nil)

	slow := e.dialNoRead(other)
	slow.paused = make(chan struct{})
	slow.start()
	// The slow client joins (reading is paused, so it sends blindly).
	id := "j"
	slow.send(TypeJoinRoom, &id, map[string]any{"meeting_id": mv.ID})
	fast.waitType(TypeParticipantJoined)

	r := e.hub.roomFor(mv.ID)
	big := strings.Repeat("z", 8000)
	const n = 2000
	for i := 0; i < n; i++ {
		r.broadcastMsg(TypeSpeakers, map[string]any{"i": i, "pad": big})
		if i%20 == 19 {
			// The fast client keeps up: wait until it has everything so far.
			want := i + 1
			check.ForErr(t, 10*time.Second, time.Millisecond, func() error {
				if got := len(fast.all(TypeSpeakers)); got < want {
					return fmt.Errorf("fast client got %d of %d", got, want)
				}
				return nil
			})
		}
	}
	check.ForErr(t, 10*time.Second, 10*time.Millisecond, func() error {
		if e.hub.Stats().SlowClosed == 0 {
			return errors.New("slow client not closed yet")
		}
		return nil
	})
	// The fast client got every message.
	check.ForErr(t, 20*time.Second, 10*time.Millisecond, func() error {
		if got := len(fast.all(TypeSpeakers)); got != n {
			return fmt.Errorf("fast client got %d of %d", got, n)
		}
		return nil
	})
	close(slow.paused)
	check.ForErr(t, 15*time.Second, 10*time.Millisecond, func() error {
		err := slow.closeError()
		if err == nil {
			return errors.New("slow client still open")
		}
		if s := websocket.CloseStatus(err); s != websocket.StatusPolicyViolation {
			return fmt.Errorf("closed with %v (%v), want 1008", s, err)
		}
		return nil
	})
}
