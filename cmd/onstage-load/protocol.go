package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v3"
)

// The load generator's own copy of the protocol messages it uses (protocol v1).

type envelope struct {
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

type joinRoomMsg struct {
	MeetingID   string `json:"meeting_id"`
	DisplayName string `json:"display_name,omitempty"`
}

type sessionDesc struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

type trackSource struct {
	Mid    string `json:"mid"`
	Source string `json:"source"`
}

type signalMsg struct {
	PC        string                   `json:"pc"`
	SDP       *sessionDesc             `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Tracks    []trackSource            `json:"tracks,omitempty"`
	Restart   bool                     `json:"restart,omitempty"`
}

type chatSendMsg struct {
	Text string `json:"text"`
}

type chatMsg struct {
	Seq  int64  `json:"seq"`
	From string `json:"from"`
	Text string `json:"text"`
}

type errorMsg struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type joinedMsg struct {
	Participant struct {
		ParticipantID string `json:"participant_id"`
	} `json:"participant"`
}

// protoError is an `error` reply.
type protoError struct {
	Op   string
	Code string
	Msg  string
}

func (e *protoError) Error() string { return fmt.Sprintf("%s: %s (%s)", e.Op, e.Code, e.Msg) }

// wsConn is one signaling WebSocket. Server messages are handled one at a time, in order, by
// the handler, on the reading goroutine; replies to requests go to their waiters.
type wsConn struct {
	c       *websocket.Conn
	handler func(envelope)

	mu      sync.Mutex
	next    int
	pending map[string]chan envelope
	done    chan struct{}
	readErr error
}

// dialWS opens participant i's socket from the loopback source address its token came from
// (clientFor), so that the server's per-address socket cap applies per simulated user.
func dialWS(ctx context.Context, base, token string, i int, handler func(envelope)) (*wsConn, error) {
	u := strings.Replace(base, "http", "ws", 1) + "/ws?token=" + token
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: clientFor(base, i)})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial /ws: %s: %w", resp.Status, err)
		}
		return nil, fmt.Errorf("dial /ws: %w", err)
	}
	c.SetReadLimit(4 << 20)
	w := &wsConn{c: c, handler: handler, pending: map[string]chan envelope{}, done: make(chan struct{})}
	return w, nil
}

func (w *wsConn) start() { go w.readLoop() }

func (w *wsConn) readLoop() {
	defer close(w.done)
	for {
		_, b, err := w.c.Read(context.Background())
		if err != nil {
			w.mu.Lock()
			w.readErr = err
			w.mu.Unlock()
			return
		}
		var env envelope
		if err := json.Unmarshal(b, &env); err != nil {
			continue
		}
		if env.ID != "" && (env.Type == "ack" || env.Type == "error") {
			w.mu.Lock()
			ch := w.pending[env.ID]
			delete(w.pending, env.ID)
			w.mu.Unlock()
			if ch != nil {
				ch <- env
				continue
			}
		}
		w.handler(env)
	}
}

func (w *wsConn) send(ctx context.Context, typ, id string, data any) error {
	env := map[string]any{"type": typ}
	if id != "" {
		env["id"] = id
	}
	if data != nil {
		env["data"] = data
	}
	b, err := json.Marshal(env)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return w.c.Write(ctx, websocket.MessageText, b)
}

// request sends a message with an id and waits for its ack (or error).
func (w *wsConn) request(ctx context.Context, typ string, data any, timeout time.Duration) (json.RawMessage, error) {
	w.mu.Lock()
	w.next++
	id := typ[:1] + strconv.Itoa(w.next)
	ch := make(chan envelope, 1)
	w.pending[id] = ch
	w.mu.Unlock()
	if err := w.send(ctx, typ, id, data); err != nil {
		return nil, fmt.Errorf("%s: %w", typ, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case env := <-ch:
		if env.Type == "error" {
			var e errorMsg
			_ = json.Unmarshal(env.Data, &e)
			return nil, &protoError{Op: typ, Code: e.Code, Msg: e.Message}
		}
		return env.Data, nil
	case <-w.done:
		return nil, fmt.Errorf("%s: connection closed: %v", typ, w.readErr)
	case <-t.C:
		w.mu.Lock()
		delete(w.pending, id)
		w.mu.Unlock()
		return nil, fmt.Errorf("%s: no reply in %s", typ, timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (w *wsConn) close() {
	_ = w.c.Close(websocket.StatusNormalClosure, "bye")
	select {
	case <-w.done:
	case <-time.After(2 * time.Second):
		_ = w.c.CloseNow()
	}
}

// REST

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
	MaxIdleConns: 200, MaxIdleConnsPerHost: 200, IdleConnTimeout: 30 * time.Second}}

type apiError struct {
	Status int
	Body   string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// postJSON posts body and decodes the reply into out, retrying when rate limited.
func postJSON(ctx context.Context, url, token string, body, out any) error {
	return postJSONWith(ctx, httpClient, url, token, body, out)
}

func postJSONWith(ctx context.Context, client *http.Client, url, token string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 20 {
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("POST %s: %w", url, &apiError{resp.StatusCode, string(data)})
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("POST %s: decode: %w", url, err)
			}
		}
		return nil
	}
}

type tokenReply struct {
	AccessToken string `json:"access_token"`
}

// sourceClients holds one HTTP client per loopback source address. Against a server on a
// 127.0.0.0/8 address, participant i fetches its token from 127.0.0.(2+i%250), as many users
// come from many addresses: the server's per-address auth rate limit then applies per simulated
// user rather than to the whole load generator.
var (
	sourceMu      sync.Mutex
	sourceClients = map[int]*http.Client{}
)

func clientFor(base string, i int) *http.Client {
	u, err := neturl.Parse(base)
	if err != nil || i < 0 {
		return httpClient
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return httpClient
	}
	n := 2 + i%250
	sourceMu.Lock()
	defer sourceMu.Unlock()
	if c := sourceClients[n]; c != nil {
		return c
	}
	d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n))}}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext,
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}}
	sourceClients[n] = c
	return c
}

func guestToken(ctx context.Context, base, name string, i int) (string, error) {
	var t tokenReply
	if err := postJSONWith(ctx, clientFor(base, i), base+"/api/v1/auth/guest", "", map[string]string{"display_name": name}, &t); err != nil {
		return "", err
	}
	if t.AccessToken == "" {
		return "", errors.New("guest: no access_token")
	}
	return t.AccessToken, nil
}

// registerCreator registers a fresh user and logs in.
func registerCreator(ctx context.Context, base string) (string, error) {
	email := fmt.Sprintf("load-%d-%x@example.com", time.Now().Unix(), rand.Uint32())
	pass := fmt.Sprintf("Load-%x-%x", rand.Uint64(), rand.Uint64())
	if err := postJSON(ctx, base+"/api/v1/auth/register", "", map[string]string{
		"email": email, "password": pass, "display_name": "load host"}, nil); err != nil {
		return "", err
	}
	var t tokenReply
	if err := postJSON(ctx, base+"/api/v1/auth/login", "", map[string]string{"email": email, "password": pass}, &t); err != nil {
		return "", err
	}
	if t.AccessToken == "" {
		return "", errors.New("login: no access_token")
	}
	return t.AccessToken, nil
}

func createMeeting(ctx context.Context, base, token, title string, maxParticipants int) (string, error) {
	if maxParticipants < 2 {
		maxParticipants = 2
	}
	if maxParticipants > 1000 {
		maxParticipants = 1000
	}
	var m struct {
		ID string `json:"id"`
	}
	err := postJSON(ctx, base+"/api/v1/meetings", token, map[string]any{
		"title": title, "start_time": time.Now().UTC().Format(time.RFC3339), "duration_minutes": 120,
		"is_public": true, "max_participants": maxParticipants}, &m)
	if err != nil {
		return "", err
	}
	if m.ID == "" {
		return "", errors.New("create meeting: no id")
	}
	return m.ID, nil
}
