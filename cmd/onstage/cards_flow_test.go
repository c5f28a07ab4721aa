package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/mail"
)

// doWith is do with extra request headers; it also returns the raw body bytes.
func (n *node) doWith(method, path, token string, body any, headers map[string]string) (resp, []byte) {
	n.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, n.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out, raw
}

// signedCall sends a signed verify or query the way client software does: HMAC-SHA256 of
// METHOD\nPATH\nTIMESTAMP\nNONCE\nhex(sha256(body)) with the project's secret.
type signer struct {
	apiKey, secret string
	now            func() time.Time
	seq            int
}

func (s *signer) headers(method, path, nonce string, body []byte) map[string]string {
	ts := strconv.FormatInt(s.now().Unix(), 10)
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, []byte(s.secret))
	m.Write([]byte(method + "\n" + path + "\n" + ts + "\n" + nonce + "\n" + hex.EncodeToString(sum[:])))
	return map[string]string{"X-Onstage-Key": s.apiKey, "X-Onstage-Timestamp": ts, "X-Onstage-Nonce": nonce,
		"X-Onstage-Signature": hex.EncodeToString(m.Sum(nil)), "Content-Type": "application/json"}
}

func (s *signer) nonce() string {
	s.seq++
	return fmt.Sprintf("nonce-%d-%d", time.Now().UnixNano(), s.seq)
}

// mailedToken returns the token of the newest mail to email (the set-password link).
func mailedToken(t *testing.T, cfg config.Config, email string) string {
	t.Helper()
	gdb, err := db.Open(cfg.Database.DSN, cfg.DataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(gdb)
	msgs, err := mail.NewOutbox(gdb, slog.New(slog.DiscardHandler)).Recent(context.Background(), email, 1)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("mail to %s: %v %d", email, err, len(msgs))
	}
	m := regexp.MustCompile(`reset: ([A-Za-z0-9_-]+)\)`).FindStringSubmatch(msgs[0].Text)
	if m == nil {
		t.Fatalf("no token in %q", msgs[0].Text)
	}
	return m[1]
}

// TestCardsFlow is the card-key issue's walk-through over real HTTP: projects, recharges
// down the hierarchy, a paid batch, export, signed verification with device binding, replay
// refusal, unbind, the activation callback and a card-gated meeting.
func TestCardsFlow(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { cardsFlow(t, func(*config.Config) {}) })
	t.Run("postgres+redis", func(t *testing.T) {
		dsn, redisURL := os.Getenv("ONSTAGE_TEST_POSTGRES_DSN"), os.Getenv("ONSTAGE_TEST_REDIS_URL")
		if dsn == "" || redisURL == "" {
			t.Skip("set ONSTAGE_TEST_POSTGRES_DSN and ONSTAGE_TEST_REDIS_URL to run against PostgreSQL and Redis")
		}
		schemaDSN := freshSchema(t, dsn)
		cardsFlow(t, func(cfg *config.Config) { cfg.Database.DSN, cfg.Redis.URL = schemaDSN, redisURL })
	})
}

func cardsFlow(t *testing.T, configure func(*config.Config)) {
	var (
		hookMu   sync.Mutex
		hookBody []byte
		hookHdr  http.Header
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		hookBody, hookHdr = b, r.Header.Clone()
		hookMu.Unlock()
	}))
	defer hook.Close()

	cfg := testConfig(t, t.TempDir())
	configure(&cfg)
	n := startNode(t, cfg)
	root := n.superAdmin(cfg, "root")

	// The admin creates a project; the secret is shown once.
	pr := n.do("POST", "/api/v1/cards/projects", root, map[string]any{"name": "Stage pass", "description": "access",
		"unit_price": 1, "callback_url": hook.URL})
	expect(t, pr, 201, "")
	projectID, apiKey, secret := pr.body["id"].(string), pr.body["api_key"].(string), pr.body["secret"].(string)
	list := n.do("GET", "/api/v1/cards/projects", root, nil)
	expect(t, list, 200, "")
	if strings.Contains(list.raw, secret) || !strings.Contains(list.raw, apiKey) {
		t.Fatalf("project list leaks the secret or lacks the key: %s", list.raw)
	}

	// The admin makes an agent admin and recharges it; it creates its agent and recharges it.
	aga, agaID := n.login("aga")
	expect(t, n.do("POST", "/api/v1/admin/users/"+agaID+"/roles", root, map[string]any{"role": "agent_admin"}), 204, "")
	idem := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
	r, _ := n.doWith("POST", "/api/v1/quota/recharges", root, map[string]any{"user_id": agaID, "amount": 10000}, nil)
	expect(t, r, 400, "idempotency_key_required")
	r, _ = n.doWith("POST", "/api/v1/quota/recharges", root, map[string]any{"user_id": agaID, "amount": 10000}, idem("r-1"))
	expect(t, r, 201, "")
	r, _ = n.doWith("POST", "/api/v1/quota/recharges", root, map[string]any{"user_id": agaID, "amount": 10000}, idem("r-1"))
	expect(t, r, 201, "") // replayed, not applied twice
	agentEmail := fmt.Sprintf("agent-%d@example.com", time.Now().UnixNano())
	created := n.do("POST", "/api/v1/agents", aga, map[string]any{"email": agentEmail, "display_name": "Agent A"})
	expect(t, created, 201, "")
	agentID := created.body["id"].(string)
	tok := mailedToken(t, cfg, agentEmail)
	expect(t, n.do("POST", "/api/v1/auth/password/reset", "", map[string]any{"token": tok, "password": "password-agent"}), 204, "")
	login := n.do("POST", "/api/v1/auth/login", "", map[string]any{"email": agentEmail, "password": "password-agent"})
	expect(t, login, 200, "")
	agent := login.body["access_token"].(string)
	agents := n.do("GET", "/api/v1/agents", aga, nil)
	if agents.body["total"] != float64(1) || !strings.Contains(agents.raw, agentID) {
		t.Fatalf("agent admin's agents: %s", agents.raw)
	}
	r, _ = n.doWith("POST", "/api/v1/quota/recharges", aga, map[string]any{"user_id": agentID, "amount": 5000}, idem("r-2"))
	expect(t, r, 201, "")
	bal := n.do("GET", "/api/v1/quota/balance", aga, nil)
	if bal.body["available"] != float64(5000) {
		t.Fatalf("agent admin balance: %s", bal.raw)
	}
	// Another agent admin's agent does not exist for this one.
	other, otherID := n.login("stranger")
	r, _ = n.doWith("POST", "/api/v1/quota/recharges", aga, map[string]any{"user_id": otherID, "amount": 1}, idem("r-3"))
	expect(t, r, 404, "not_found")

	// Without a grant the agent cannot generate; the agent admin grants the project.
	batchBody := map[string]any{"project_id": projectID, "count": 100, "valid_days": 30}
	r, _ = n.doWith("POST", "/api/v1/cards/batches", agent, batchBody, idem("b-0"))
	expect(t, r, 403, "project_not_granted")
	expect(t, n.do("POST", "/api/v1/cards/grants", aga, map[string]any{"project_id": projectID, "agent_id": agentID,
		"expires_at": time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)}), 201, "")
	batch, _ := n.doWith("POST", "/api/v1/cards/batches", agent, batchBody, idem("b-1"))
	expect(t, batch, 201, "")
	if batch.body["cost"] != float64(3000) || batch.body["count"] != float64(100) {
		t.Fatalf("batch: %s", batch.raw)
	}
	if b := n.do("GET", "/api/v1/quota/balance", agent, nil); b.body["available"] != float64(2000) {
		t.Fatalf("agent balance after the batch: %s", b.raw)
	}
	// A retried batch (same Idempotency-Key) answers the first batch and charges nothing more.
	again, _ := n.doWith("POST", "/api/v1/cards/batches", agent, batchBody, idem("b-1"))
	if again.status != 201 || again.body["id"] != batch.body["id"] || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retried batch: %d %s", again.status, again.raw)
	}
	if b := n.do("GET", "/api/v1/quota/balance", agent, nil); b.body["available"] != float64(2000) {
		t.Fatalf("a retried batch charged again: %s", b.raw)
	}
	r, _ = n.doWith("POST", "/api/v1/cards/batches", agent, map[string]any{"project_id": projectID, "count": 100, "valid_days": 21}, idem("b-2"))
	expect(t, r, 409, "insufficient_quota")
	if b := n.do("GET", "/api/v1/quota/balance", agent, nil); b.body["available"] != float64(2000) {
		t.Fatalf("a refused batch charged: %s", b.raw)
	}
	if k := n.do("GET", "/api/v1/cards/keys?project_id="+projectID+"&status=unused", agent, nil); k.body["total"] != float64(100) {
		t.Fatalf("a refused batch left keys: %v", k.body["total"])
	}

	// Export: CSV with the key first, and XLSX.
	batchID := batch.body["id"].(string)
	_, raw := n.doWith("GET", "/api/v1/cards/batches/"+batchID+"/export?format=csv", agent, nil, nil)
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil || len(rows) != 101 || rows[0][0] != "key" {
		t.Fatalf("csv export: %v %d %q", err, len(rows), raw[:min(len(raw), 80)])
	}
	keyRe := regexp.MustCompile(`^[2-9A-HJ-NP-Z]{5}(-[2-9A-HJ-NP-Z]{5}){3}$`)
	for _, row := range rows[1:] {
		if !keyRe.MatchString(row[0]) {
			t.Fatalf("key %q", row[0])
		}
	}
	xr, xraw := n.doWith("GET", "/api/v1/cards/batches/"+batchID+"/export?format=xlsx", agent, nil, nil)
	if xr.status != 200 || !bytes.HasPrefix(xraw, []byte("PK")) {
		t.Fatalf("xlsx export: %d", xr.status)
	}
	expect(t, n.do("GET", "/api/v1/cards/batches/"+batchID+"/export", other, nil), 404, "not_found")
	key, key2 := rows[1][0], rows[2][0]

	// A signed verify binds device A.
	sg := &signer{apiKey: apiKey, secret: secret, now: time.Now}
	body := []byte(`{"key":"` + key + `","device_id":"device-A"}`)
	hdr := sg.headers("POST", "/api/v1/cards/verify", sg.nonce(), body)
	v, _ := n.doWith("POST", "/api/v1/cards/verify", "", body, hdr)
	expect(t, v, 200, "")
	if v.body["valid"] != true || v.body["code"] != "VALID" || v.body["expires_at"] == nil {
		t.Fatalf("verify: %s", v.raw)
	}
	// The same request again is a replay.
	replay, _ := n.doWith("POST", "/api/v1/cards/verify", "", body, hdr)
	expect(t, replay, 401, "replayed_nonce")
	bad := sg.headers("POST", "/api/v1/cards/verify", sg.nonce(), body)
	bad["X-Onstage-Signature"] = strings.Repeat("0", 64)
	r, _ = n.doWith("POST", "/api/v1/cards/verify", "", body, bad)
	expect(t, r, 401, "bad_signature")
	stale := (&signer{apiKey: apiKey, secret: secret, now: func() time.Time { return time.Now().Add(-6 * time.Minute) }}).
		headers("POST", "/api/v1/cards/verify", sg.nonce(), body)
	r, _ = n.doWith("POST", "/api/v1/cards/verify", "", body, stale)
	expect(t, r, 401, "stale_timestamp")
	unknown := sg.headers("POST", "/api/v1/cards/verify", sg.nonce(), body)
	unknown["X-Onstage-Key"] = "pk_nobody"
	r, _ = n.doWith("POST", "/api/v1/cards/verify", "", body, unknown)
	expect(t, r, 401, "unknown_key")

	// The offline license checks with the downloadable public key.
	lic := v.body["license"].(map[string]any)
	pk := n.do("GET", "/api/v1/cards/projects/"+projectID+"/public-key", "", nil)
	expect(t, pk, 200, "")
	pub, _ := base64.StdEncoding.DecodeString(pk.body["public_key"].(string))
	payload, _ := base64.RawURLEncoding.DecodeString(lic["payload"].(string))
	sig, _ := base64.RawURLEncoding.DecodeString(lic["signature"].(string))
	if !ed25519.Verify(pub, payload, sig) || !strings.Contains(string(payload), `"device_id":"device-A"`) {
		t.Fatalf("license does not verify: %s", payload)
	}

	// Device B is refused until the agent unbinds the key.
	bodyB := []byte(`{"key":"` + key + `","device_id":"device-B"}`)
	vb, _ := n.doWith("POST", "/api/v1/cards/verify", "", bodyB, sg.headers("POST", "/api/v1/cards/verify", sg.nonce(), bodyB))
	if vb.body["valid"] != false || vb.body["code"] != "DEVICE_MISMATCH" {
		t.Fatalf("device B: %s", vb.raw)
	}
	expect(t, n.do("POST", "/api/v1/cards/keys/"+key+"/unbind", other, nil), 403, "")
	expect(t, n.do("POST", "/api/v1/cards/keys/"+key+"/unbind", agent, nil), 200, "")
	vb, _ = n.doWith("POST", "/api/v1/cards/verify", "", bodyB, sg.headers("POST", "/api/v1/cards/verify", sg.nonce(), bodyB))
	if vb.body["code"] != "VALID" || vb.body["expires_at"] != v.body["expires_at"] {
		t.Fatalf("device B after unbind: %s (first %v)", vb.raw, v.body["expires_at"])
	}
	qbody := []byte(`{"key":"` + key + `"}`)
	q, _ := n.doWith("POST", "/api/v1/cards/query", "", qbody, sg.headers("POST", "/api/v1/cards/query", sg.nonce(), qbody))
	if q.body["code"] != "VALID" {
		t.Fatalf("query: %s", q.raw)
	}

	// The activation was notified to the callback URL, signed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		hookMu.Lock()
		got, h := hookBody, hookHdr
		hookMu.Unlock()
		if got != nil {
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte(h.Get("X-Onstage-Timestamp") + "\n"))
			m.Write(got)
			if h.Get("X-Onstage-Signature") != hex.EncodeToString(m.Sum(nil)) || !strings.Contains(string(got), key) {
				t.Fatalf("callback %s %v", got, h)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no activation callback")
		}
		time.Sleep(20 * time.Millisecond)
	}
	dl := n.do("GET", "/api/v1/cards/projects/"+projectID+"/deliveries", root, nil)
	if !strings.Contains(dl.raw, `"delivered"`) {
		t.Fatalf("deliveries: %s", dl.raw)
	}

	// A meeting gated by the project: no key, a bad key, a valid key.
	mt := n.do("POST", "/api/v1/meetings", root, map[string]any{"title": "Paid session",
		"start_time": time.Now().UTC().Format(time.RFC3339), "duration_minutes": 60, "card_project_id": projectID})
	expect(t, mt, 201, "")
	if mt.body["card_project_id"] != projectID {
		t.Fatalf("meeting: %s", mt.raw)
	}
	expect(t, n.do("POST", "/api/v1/meetings", other, map[string]any{"title": "Not mine",
		"start_time": time.Now().UTC().Format(time.RFC3339), "duration_minutes": 60, "card_project_id": projectID}), 400, "")
	mid := mt.body["id"].(string)
	viewer, _ := n.login("viewer")
	expect(t, n.do("POST", "/api/v1/meetings/"+mid+"/join", viewer, map[string]any{}), 403, "card_required")
	j := n.do("POST", "/api/v1/meetings/"+mid+"/join", viewer, map[string]any{"card_key": key, "device_id": "device-C"})
	expect(t, j, 403, "card_invalid")
	if !strings.Contains(j.raw, "DEVICE_MISMATCH") {
		t.Fatalf("card_invalid without the code: %s", j.raw)
	}
	expect(t, n.do("POST", "/api/v1/meetings/"+mid+"/join", viewer, map[string]any{"card_key": key2, "device_id": "device-C"}), 200, "")

	// The creator needs no key; a wrong password is refused before the key is looked at, so
	// it does not bind (or use up) the key.
	expect(t, n.do("POST", "/api/v1/meetings/"+mid+"/join", root, map[string]any{}), 200, "")
	locked := n.do("POST", "/api/v1/meetings", root, map[string]any{"title": "Paid, with a password",
		"start_time": time.Now().UTC().Format(time.RFC3339), "duration_minutes": 60, "card_project_id": projectID, "password": "pw"})
	expect(t, locked, 201, "")
	expect(t, n.do("POST", "/api/v1/meetings/"+locked.body["id"].(string)+"/join", viewer,
		map[string]any{"card_key": rows[4][0], "device_id": "device-E", "password": "wrong"}), 403, "wrong_password")
	qb := []byte(`{"key":"` + rows[4][0] + `"}`)
	q, _ = n.doWith("POST", "/api/v1/cards/query", "", qb, sg.headers("POST", "/api/v1/cards/query", sg.nonce(), qb))
	if q.body["code"] != "VALID" || q.body["expires_at"] != nil {
		t.Fatalf("a refused join touched the key: %s", q.raw)
	}

	// join_room runs the same check over the WebSocket.
	wsViewer, _ := n.login("ws-viewer")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(n.base, "http")+"/ws?token="+wsViewer, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	joinRoom := func(id string, data map[string]any) map[string]any {
		t.Helper()
		data["meeting_id"] = mid
		if err := wsjson.Write(ctx, conn, map[string]any{"type": "join_room", "id": id, "data": data}); err != nil {
			t.Fatal(err)
		}
		for {
			var msg map[string]any
			if err := wsjson.Read(ctx, conn, &msg); err != nil {
				t.Fatal(err)
			}
			if msg["id"] == id {
				return msg
			}
		}
	}
	if m := joinRoom("j1", map[string]any{}); m["type"] != "error" || m["data"].(map[string]any)["code"] != "card_required" {
		t.Fatalf("join_room without a key: %v", m)
	}
	if m := joinRoom("j2", map[string]any{"card_key": key, "device_id": "device-D"}); m["type"] != "error" ||
		!strings.Contains(fmt.Sprint(m["data"]), "DEVICE_MISMATCH") {
		t.Fatalf("join_room with another device's key: %v", m)
	}
	if m := joinRoom("j3", map[string]any{"card_key": rows[3][0], "device_id": "device-D"}); m["type"] != "ack" {
		t.Fatalf("join_room with a valid key: %v", m)
	}

	// The ledger balances; statistics are scoped.
	chk := n.do("GET", "/api/v1/quota/ledger/check", root, nil)
	if chk.body["ok"] != true {
		t.Fatalf("ledger: %s", chk.raw)
	}
	st := n.do("GET", "/api/v1/cards/stats", agent, nil)
	expect(t, st, 200, "")
	if !strings.Contains(st.raw, `"status":"active"`) || !strings.Contains(st.raw, `"type":"batch"`) {
		t.Fatalf("stats: %s", st.raw)
	}
	if s := n.do("GET", "/api/v1/cards/stats", other, nil); strings.Contains(s.raw, projectID) {
		t.Fatalf("a stranger sees the agent's keys: %s", s.raw)
	}
}
