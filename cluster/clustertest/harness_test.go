//go:build cluster

package clustertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/onstagehq/onstage/internal/check"
	"github.com/onstagehq/onstage/internal/testpeer"
)

// The cluster's settings, read from the same environment as scripts/cluster.sh (make
// test-cluster sets it), with the defaults of the Makefile's target.
var (
	runDir    = envOr("ONSTAGE_CLUSTER_DIR", filepath.Join(os.TempDir(), "onstage-cluster-test"))
	lbPort    = envInt("ONSTAGE_CLUSTER_LB_PORT", 18080)
	httpPort  = envInt("ONSTAGE_CLUSTER_HTTP_PORT", 18081)
	udpBase   = envInt("ONSTAGE_CLUSTER_UDP_BASE", 41000)
	nodeCount = envInt("ONSTAGE_CLUSTER_NODES", 3)
	redisPort = envInt("ONSTAGE_CLUSTER_REDIS_PORT", 16379)
	redisDB   = envInt("ONSTAGE_CLUSTER_REDIS_DB", 0)
	pgPort    = envInt("ONSTAGE_CLUSTER_PG_PORT", 5432)
	pgUser    = envOr("ONSTAGE_CLUSTER_PG_USER", "postgres")
	pgDB      = envOr("ONSTAGE_CLUSTER_PG_DB", "onstage_cluster_test")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func lbURL() string         { return fmt.Sprintf("http://127.0.0.1:%d", lbPort) }
func nodeURL(i int) string  { return fmt.Sprintf("http://127.0.0.1:%d", httpPort+i-1) }
func nodeName(i int) string { return fmt.Sprintf("node-%d", i) }
func nodeIndex(name string) int {
	i, _ := strconv.Atoi(strings.TrimPrefix(name, "node-"))
	return i
}

// ---- the cluster's processes ----

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}

// clusterUp runs `scripts/cluster.sh up`, which starts whatever is not running (a killed
// node, a stopped NATS or Redis) and waits until every node is ready.
func clusterUp(t testing.TB) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(repoRoot(), "scripts", "cluster.sh"), "up")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cluster.sh up: %v\n%s", err, out)
	}
}

func pidOf(t testing.TB, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, "pids", name+".pid"))
	if err != nil {
		t.Fatalf("pid of %s: %v (is the cluster up? run make test-cluster)", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// signalProc sends sig to a process the harness started, and waits for it to exit when wait
// is set.
func signalProc(t testing.TB, name string, sig syscall.Signal, wait time.Duration) int {
	t.Helper()
	pid := pidOf(t, name)
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill %s (%d): %v", name, pid, err)
	}
	if wait > 0 {
		check.ForErr(t, wait, 50*time.Millisecond, func() error {
			if alive(pid) {
				return fmt.Errorf("%s still runs", name)
			}
			return nil
		})
	}
	return pid
}

func secret(t testing.TB) string {
	t.Helper()
	if s := os.Getenv("ONSTAGE_AUTH_JWT_SECRET"); s != "" {
		return s
	}
	b, err := os.ReadFile(filepath.Join(runDir, "jwt.secret"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// cli runs the cluster's onstage binary against its database.
func cli(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(runDir, "bin", "onstage"), args...)
	cmd.Env = append(os.Environ(),
		"ONSTAGE_AUTH_JWT_SECRET="+secret(t),
		"ONSTAGE_DATA_DIR="+filepath.Join(runDir, "cli"),
		fmt.Sprintf("ONSTAGE_DATABASE_DSN=postgres://%s@127.0.0.1:%d/%s?sslmode=disable", pgUser, pgPort, pgDB),
		"ONSTAGE_LOG_LEVEL=error")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("onstage %v: %v\n%s", args, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// newUser creates a user and returns an access token for it.
func newUser(t testing.TB, name string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	email := fmt.Sprintf("%s-%s@example.com", name, hex.EncodeToString(b[:]))
	cli(t, "user", "create", "--email", email, "--password", "cluster-test-pw", "--name", name)
	return cli(t, "token", "--user", email)
}

// createMeeting creates a public meeting through the load balancer.
func createMeeting(t testing.TB, token string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"title": "cluster test", "start_time": time.Now().UTC().Format(time.RFC3339),
		"duration_minutes": 60, "is_public": true})
	req, _ := http.NewRequest(http.MethodPost, lbURL()+"/api/v1/meetings", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK || out.ID == "" {
		t.Fatalf("create meeting: %d %v %+v", resp.StatusCode, err, out)
	}
	return out.ID
}

var (
	rdbOnce sync.Once
	rdb     *redis.Client
)

func redisClient() *redis.Client {
	rdbOnce.Do(func() {
		rdb = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", redisPort), DB: redisDB,
			DialTimeout: time.Second, ReadTimeout: time.Second})
	})
	return rdb
}

// owner is the node holding the meeting's lease, or "".
func owner(meetingID string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, _ := redisClient().Get(ctx, "onstage:room:"+meetingID+":owner").Result()
	return v
}

// nodeDraining reads a node's registry entry.
func nodeDraining(name string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	raw, err := redisClient().Get(ctx, "onstage:node:"+name).Bytes()
	if err != nil {
		return false, err
	}
	var n struct {
		Draining bool `json:"draining"`
	}
	err = json.Unmarshal(raw, &n)
	return n.Draining, err
}

// ---- WebSocket client ----

type msg struct {
	Type string          `json:"type"`
	ID   *string         `json:"id,omitempty"`
	Data json.RawMessage `json:"data"`
}

type client struct {
	t      testing.TB
	ws     *websocket.Conn
	nextID atomic.Int64

	mu       sync.Mutex
	msgs     []msg
	used     []bool
	closeErr error
	onSignal func(json.RawMessage) // a webrtc_signal's data, in order
}

// dial opens a socket on baseURL (a node or the load balancer).
func dial(t testing.TB, baseURL, token string) (*client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": []string{"Bearer " + token}},
	})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 22)
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { _ = ws.CloseNow() })
	go c.read()
	return c, nil
}

func mustDial(t testing.TB, baseURL, token string) *client {
	t.Helper()
	c, err := dial(t, baseURL, token)
	if err != nil {
		t.Fatalf("dial %s: %v", baseURL, err)
	}
	return c
}

func (c *client) read() {
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.closeErr = err
			c.mu.Unlock()
			return
		}
		var m msg
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		if m.Type == "ping" {
			_ = c.send("pong", nil, nil)
			continue
		}
		c.mu.Lock()
		on := c.onSignal
		c.mu.Unlock()
		if m.Type == "webrtc_signal" && on != nil {
			on(m.Data)
		}
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.used = append(c.used, false)
		c.mu.Unlock()
	}
}

func (c *client) send(typ string, id *string, data any) error {
	if data == nil {
		data = map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "id": id, "data": data})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

func (c *client) closed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// wait returns the first unused message matching pred within d.
func (c *client) wait(d time.Duration, pred func(msg) bool) (msg, error) {
	deadline := time.Now().Add(d)
	for {
		c.mu.Lock()
		for i, m := range c.msgs {
			if !c.used[i] && pred(m) {
				c.used[i] = true
				c.mu.Unlock()
				return m, nil
			}
		}
		err := c.closeErr
		c.mu.Unlock()
		if err != nil {
			return msg{}, fmt.Errorf("socket closed: %w", err)
		}
		if time.Now().After(deadline) {
			return msg{}, errors.New("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// request sends a message with an id and returns its ack, or an error for an `error` reply.
func (c *client) request(typ string, data any) (json.RawMessage, error) {
	id := fmt.Sprintf("r%d", c.nextID.Add(1))
	if err := c.send(typ, &id, data); err != nil {
		return nil, err
	}
	m, err := c.wait(15*time.Second, func(m msg) bool { return m.ID != nil && *m.ID == id })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", typ, err)
	}
	if m.Type != "ack" {
		return nil, fmt.Errorf("%s: %s %s", typ, m.Type, m.Data)
	}
	return m.Data, nil
}

func (c *client) mustRequest(typ string, data any) json.RawMessage {
	c.t.Helper()
	d, err := c.request(typ, data)
	if err != nil {
		c.t.Fatal(err)
	}
	return d
}

type joined struct {
	Participant struct {
		ParticipantID string `json:"participant_id"`
		Role          string `json:"role"`
	} `json:"participant"`
	Participants []json.RawMessage `json:"participants"`
	ResumeToken  string            `json:"resume_token"`
}

func (c *client) join(data map[string]any) (joined, error) {
	raw, err := c.request("join_room", data)
	if err != nil {
		return joined{}, err
	}
	var j joined
	err = json.Unmarshal(raw, &j)
	return j, err
}

// chats returns the seqs of every chat received so far.
func (c *client) chats() map[int64]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int64]bool{}
	for _, m := range c.msgs {
		if m.Type == "chat" {
			var d struct {
				Seq int64 `json:"seq"`
			}
			_ = json.Unmarshal(m.Data, &d)
			out[d.Seq] = true
		}
	}
	return out
}

// ---- pion peer ----

// newPeer makes both peer connections for c; call it before join so that no signal is missed.
func newPeer(t testing.TB, c *client) *testpeer.Peer {
	t.Helper()
	p := testpeer.New(t, c, testpeer.Options{Tolerant: true})
	c.mu.Lock()
	c.onSignal = p.HandleSignal
	c.mu.Unlock()
	return p
}

// SendSignal and RequestSignal make a client the peer's testpeer.Conn.
func (c *client) SendSignal(d testpeer.Signal) error { return c.send("webrtc_signal", nil, d) }

func (c *client) RequestSignal(d testpeer.Signal) error {
	_, err := c.request("webrtc_signal", d)
	return err
}

// publish publishes a microphone and a camera on p and sends media until p closes.
func publish(p *testpeer.Peer) error {
	tracks, err := p.Publish()
	if err != nil {
		return err
	}
	go tracks.Send(p.Done())
	return nil
}

// flowing waits until at least n more audio and video packets from pid arrived on p.
func flowing(p *testpeer.Peer, pid string, n int, within time.Duration) error {
	a0, v0 := p.Received(pid)
	return check.Poll(within, 20*time.Millisecond, func() error {
		if a, v := p.Received(pid); a-a0 < n || v-v0 < n {
			return fmt.Errorf("from %s: %d audio, %d video packets in %v", pid, a-a0, v-v0, within)
		}
		return nil
	})
}

// servedBy reports which node's UDP port the server's publisher candidates name.
func servedBy(p *testpeer.Peer) string {
	for _, c := range p.PublisherCandidates() {
		f := strings.Fields(c.Candidate)
		if len(f) <= 5 {
			continue
		}
		if port, err := strconv.Atoi(f[5]); err == nil && port >= udpBase && port < udpBase+nodeCount {
			return nodeName(port - udpBase + 1)
		}
	}
	return ""
}

// member is one participant of a test: its token, socket, peer and ids.
type member struct {
	t      testing.TB
	name   string
	token  string
	c      *client
	p      *testpeer.Peer
	j      joined
	acked  []int64 // seqs of its acknowledged chats
	lastBy string  // base URL it last connected to
}

// enter connects to baseURL, joins meetingID and publishes.
func (m *member) enter(baseURL, meetingID string) {
	m.t.Helper()
	m.c = mustDial(m.t, baseURL, m.token)
	m.p = newPeer(m.t, m.c)
	j, err := m.c.join(map[string]any{"meeting_id": meetingID})
	if err != nil {
		m.t.Fatalf("%s join: %v", m.name, err)
	}
	m.j = j
	if err := publish(m.p); err != nil {
		m.t.Fatalf("%s publish: %v", m.name, err)
	}
	m.lastBy = baseURL
}

// resume reconnects through the load balancer with the resume token and new peer
// connections, retrying until it is in, and publishes again.
func (m *member) resume(meetingID string, within time.Duration) error {
	return m.resumeVia(lbURL(), meetingID, within)
}

// resumeAt resumes straight on one node.
func (m *member) resumeAt(baseURL, meetingID string) error {
	return m.resumeVia(baseURL, meetingID, 10*time.Second)
}

func (m *member) resumeVia(baseURL, meetingID string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		if m.p != nil {
			m.p.Close()
		}
		if m.c != nil {
			_ = m.c.ws.CloseNow()
		}
		c, err := dial(m.t, baseURL, m.token)
		if err != nil {
			last = err
			time.Sleep(200 * time.Millisecond)
			continue
		}
		m.c, m.p = c, newPeer(m.t, c)
		j, err := c.join(map[string]any{"meeting_id": meetingID, "resume_token": m.j.ResumeToken, "last_seq": 0,
			"new_peer_connections": true})
		if err != nil {
			last = err
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if j.Participant.ParticipantID != m.j.Participant.ParticipantID {
			return fmt.Errorf("%s resumed as %s, want %s", m.name, j.Participant.ParticipantID, m.j.Participant.ParticipantID)
		}
		m.j.ResumeToken = j.ResumeToken
		m.lastBy = baseURL
		return publish(m.p)
	}
	return fmt.Errorf("%s could not resume: %v", m.name, last)
}

func (m *member) chat(text string) {
	m.t.Helper()
	raw := m.c.mustRequest("chat_message", map[string]any{"text": text})
	var a struct {
		Seq int64 `json:"seq"`
	}
	_ = json.Unmarshal(raw, &a)
	m.acked = append(m.acked, a.Seq)
}

func (m *member) pid() string { return m.j.Participant.ParticipantID }

func containsSeq(data json.RawMessage, seq int64) bool {
	var d struct {
		Seq int64 `json:"seq"`
	}
	return json.Unmarshal(data, &d) == nil && d.Seq == seq
}
