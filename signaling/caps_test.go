package signaling

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/check"
)

// dialFrom opens a socket for who from a loopback source address (127.0.0.X), so that
// per-address caps see distinct clients.
func (e *env) dialFrom(who authn.Identity, ip string) *client {
	e.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	e.t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr},
		HTTPHeader: http.Header{"Authorization": []string{"Bearer " + e.token(who)}},
	})
	if err != nil {
		e.t.Fatalf("dial from %s: %v", ip, err)
	}
	c := &client{t: e.t, ws: ws, who: who, done: make(chan struct{})}
	e.t.Cleanup(func() { _ = ws.CloseNow() })
	c.start()
	return c
}

// wantRefused waits for the socket to be closed with 1008 after an error rate_limited.
func (c *client) wantRefused() {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Fatal("a socket over the cap was not closed")
	}
	var ce websocket.CloseError
	if err := c.closeError(); !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation {
		c.t.Fatalf("closed with %v, want 1008", err)
	}
	var d ErrorData
	c.waitType(TypeError).decode(c.t, &d)
	if d.Code != CodeRateLimited {
		c.t.Fatalf("error = %+v, want rate_limited", d)
	}
}

// alive fails unless the socket answers a message.
func (c *client) alive() {
	c.t.Helper()
	c.wantError(TypeLeaveRoom, nil, CodeNotInRoom)
}

// Sockets are capped per user and per client address; a socket over a cap gets a clear
// error and close, and a freed slot can be used again.
func TestConnectionCaps(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.hub.p.MaxConnsPerUser, e.hub.p.MaxConnsPerAddress = 2, 3 // before any socket

	// Per user: the third socket of u is refused, whatever its address.
	u := user("u")
	a := e.dialFrom(u, "127.0.0.2")
	b := e.dialFrom(u, "127.0.0.3")
	e.dialFrom(u, "127.0.0.4").wantRefused()
	a.alive()
	b.alive()
	_ = a.ws.Close(websocket.StatusNormalClosure, "")
	check.ForErr(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := e.hub.Stats().Connections; n != 1 {
			return errors.New("the closed socket is still counted")
		}
		return nil
	})
	e.dialFrom(u, "127.0.0.4").alive()

	// Per address: the fourth socket from 127.0.0.5 is refused, whoever it is; another
	// address is not affected.
	for _, id := range []string{"v1", "v2", "v3"} {
		e.dialFrom(user(id), "127.0.0.5").alive()
	}
	e.dialFrom(user("v4"), "127.0.0.5").wantRefused()
	e.dialFrom(user("v4"), "127.0.0.6").alive()
	if n := e.hub.Stats().Refused; n != 2 {
		t.Fatalf("refused = %d, want 2", n)
	}
}
