package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/onstagehq/onstage/signaling"
)

// socket is a client WebSocket whose reader records how it was closed.
type socket struct {
	ws     *websocket.Conn
	msgs   chan map[string]any
	closed chan websocket.StatusCode
}

func (n *node) dialWS(token string) (*socket, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, strings.Replace(n.base, "http", "ws", 1)+"/ws?token="+token, nil)
	if err != nil {
		return nil, res, err
	}
	s := &socket{ws: ws, msgs: make(chan map[string]any, 64), closed: make(chan websocket.StatusCode, 1)}
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				s.closed <- websocket.CloseStatus(err)
				return
			}
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			select {
			case s.msgs <- m:
			default:
			}
		}
	}()
	n.t.Cleanup(func() { _ = ws.CloseNow() })
	return s, res, nil
}

// waitClosed waits for the server to close s and returns the close code.
func (s *socket) waitClosed(t *testing.T, within time.Duration) websocket.StatusCode {
	t.Helper()
	select {
	case code := <-s.closed:
		return code
	case <-time.After(within):
		t.Fatalf("socket still open after %s", within)
		return 0
	}
}

// roundTrip proves s is open: a chat before joining is answered with not_in_room.
func (s *socket) roundTrip(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"chat_message","id":"rt","data":{"text":"hi"}}`)); err != nil {
		t.Fatalf("write: %v", err)
	}
	for {
		select {
		case m := <-s.msgs:
			if m["id"] == "rt" {
				return
			}
		case code := <-s.closed:
			t.Fatalf("socket closed with %d", code)
		case <-ctx.Done():
			t.Fatal("no answer")
		}
	}
}

// TestRevokedSessionClosesSocket: a socket opened with an access token is closed with
// StatusSessionRevoked within seconds of its login being revoked (logout of its refresh
// token, then a password change that revokes every login of the user), while a socket of
// another, still valid login stays open. The revoked token then cannot open a new socket.
func TestRevokedSessionClosesSocket(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()))
	email := fmt.Sprintf("rev-%d@example.com", time.Now().UnixNano())
	expect(t, n.do("POST", "/api/v1/auth/register", "", map[string]any{
		"email": email, "password": "first password", "display_name": "Rev"}), 201, "")
	login := func() (access, refresh string) {
		r := n.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "first password"})
		expect(t, r, 200, "")
		return r.body["access_token"].(string), r.body["refresh_token"].(string)
	}
	access1, refresh1 := login()
	access2, _ := login()
	s1, _, err := n.dialWS(access1)
	if err != nil {
		t.Fatal(err)
	}
	s2, _, err := n.dialWS(access2)
	if err != nil {
		t.Fatal(err)
	}
	s1.roundTrip(t)
	s2.roundTrip(t)
	within := 4 * signaling.DefaultSessionCheckInterval

	// Logout revokes the first login only.
	expect(t, n.do("POST", "/api/v1/auth/logout", "", map[string]any{"refresh_token": refresh1}), 204, "")
	if code := s1.waitClosed(t, within); code != signaling.StatusSessionRevoked {
		t.Fatalf("logged-out socket closed with %d, want %d", code, signaling.StatusSessionRevoked)
	}
	s2.roundTrip(t)
	if _, res, err := n.dialWS(access1); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token opened a socket: %v %v", res, err)
	}

	// A password change revokes every login of the user, the caller's own included.
	expect(t, n.do("PUT", "/api/v1/users/me", access2, map[string]any{
		"password": "second password", "current_password": "first password"}), 200, "")
	if code := s2.waitClosed(t, within); code != signaling.StatusSessionRevoked {
		t.Fatalf("socket closed with %d after a password change, want %d", code, signaling.StatusSessionRevoked)
	}
}

// TestLockedUserSocketClosed: an admin's lock revokes the user's logins, so its open socket is
// closed at the hub's next check and its refresh token stops working.
func TestLockedUserSocketClosed(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	n := startNode(t, cfg)
	root := n.superAdmin(cfg, "root")
	email := fmt.Sprintf("locked-%d@example.com", time.Now().UnixNano())
	reg := n.do("POST", "/api/v1/auth/register", "", map[string]any{
		"email": email, "password": "first password", "display_name": "Locked"})
	expect(t, reg, 201, "")
	r := n.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "first password"})
	expect(t, r, 200, "")
	access := r.body["access_token"].(string)
	userID := r.body["user"].(map[string]any)["id"].(string)
	s, _, err := n.dialWS(access)
	if err != nil {
		t.Fatal(err)
	}
	s.roundTrip(t)
	expect(t, n.do("POST", "/api/v1/admin/users/"+userID+"/lock", root, nil), 204, "")
	if code := s.waitClosed(t, 4*signaling.DefaultSessionCheckInterval); code != signaling.StatusSessionRevoked {
		t.Fatalf("locked user's socket closed with %d, want %d", code, signaling.StatusSessionRevoked)
	}
	expect(t, n.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": r.body["refresh_token"]}), 401, "")
}
