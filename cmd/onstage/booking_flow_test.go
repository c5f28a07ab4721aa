package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/onstagehq/onstage/internal/config"
)

// registerAs registers and logs in a user with a self-service role.
func (n *node) registerAs(name, role string) (token, userID string) {
	n.t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano())
	reg := n.do("POST", "/api/v1/auth/register", "", map[string]any{"email": email, "password": "password-" + name,
		"display_name": name, "role": role})
	expect(n.t, reg, 201, "")
	r := n.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "password-" + name})
	expect(n.t, r, 200, "")
	return r.body["access_token"].(string), reg.body["id"].(string)
}

func (n *node) doKey(method, path, token, key string, body string) resp {
	n.t.Helper()
	req, _ := http.NewRequest(method, n.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer res.Body.Close()
	out := resp{status: res.StatusCode, header: res.Header}
	var raw json.RawMessage
	_ = json.NewDecoder(res.Body).Decode(&raw)
	out.raw = string(raw)
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// waitFor polls f until it reports true or ten seconds pass.
func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestBookingFlow is the booking issue's walk-through on a real node, with the sandbox's real
// webhooks: a streamer registers, completes the profile, is approved and sets a schedule; a
// player finds them, orders, pays; both see the meeting; a second order for the slot gets
// 409; the meeting ends; the player reviews and the rating changes.
func TestBookingFlow(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { bookingFlow(t, func(*config.Config) {}) })
	t.Run("postgres+redis", func(t *testing.T) {
		dsn, redisURL := os.Getenv("ONSTAGE_TEST_POSTGRES_DSN"), os.Getenv("ONSTAGE_TEST_REDIS_URL")
		if dsn == "" || redisURL == "" {
			t.Skip("set ONSTAGE_TEST_POSTGRES_DSN and ONSTAGE_TEST_REDIS_URL to run against PostgreSQL and Redis")
		}
		schemaDSN := freshSchema(t, dsn)
		bookingFlow(t, func(cfg *config.Config) { cfg.Database.DSN = schemaDSN; cfg.Redis.URL = redisURL })
	})
}

func bookingFlow(t *testing.T, configure func(*config.Config)) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig(t, t.TempDir())
	cfg.HTTP.Addr, cfg.HTTP.PublicURL = addr, "http://"+addr
	cfg.Payments.Sandbox.DuplicatePercent = 100
	configure(&cfg)
	n := startNode(t, cfg)

	admin := n.superAdmin(cfg, "boss")
	st, stID := n.registerAs("Sara", "streamer")
	pl, plID := n.registerAs("Pete", "player")
	pl2, _ := n.registerAs("Paula", "player")

	// A player cannot be a streamer; the streamer completes the profile.
	profile := map[string]any{"bio": "Support main", "city": "Berlin", "games": []string{"Dota 2", "Chess"},
		"languages": []string{"en", "de"}, "price_per_hour": 3000, "currency": "EUR", "time_zone": "Europe/Berlin",
		"photos": []string{}}
	expect(t, n.do("PUT", "/api/v1/streamers/profile", pl, profile), 403, "not_a_streamer")
	expect(t, n.do("PUT", "/api/v1/streamers/profile", st, map[string]any{"city": ""}), 400, "validation_failed")
	r := n.do("PUT", "/api/v1/streamers/profile", st, profile)
	expect(t, r, 200, "")
	if r.body["status"] != "pending" {
		t.Fatalf("profile %s", r.raw)
	}
	// Rejected with a reason; the changed profile waits for approval again.
	expect(t, n.do("PUT", "/api/v1/admin/streamers/"+stID+"/reject", admin, map[string]any{}), 400, "validation_failed")
	r = n.do("PUT", "/api/v1/admin/streamers/"+stID+"/reject", admin, map[string]any{"reason": "add a photo"})
	if r.status != 200 || r.body["status"] != "rejected" || r.body["reject_reason"] != "add a photo" {
		t.Fatalf("reject: %s", r.raw)
	}
	png := pngBytes(t)
	up := n.do("POST", "/api/v1/uploads/images", st, png)
	expect(t, up, 201, "")
	photo := up.body["url"].(string)
	if img := n.do("GET", photo, "", nil); img.status != 200 || img.header.Get("Content-Type") != "image/png" {
		t.Fatalf("image: %d %v", img.status, img.header)
	}
	expect(t, n.do("POST", "/api/v1/uploads/images", st, "<svg onload=alert(1)>"), 400, "unsupported_image")
	profile["photos"] = []string{photo}
	r = n.do("PUT", "/api/v1/streamers/profile", st, profile)
	if r.status != 200 || r.body["status"] != "pending" {
		t.Fatalf("changed profile: %s", r.raw)
	}
	search := "/api/v1/streamers?city=berlin&game=dota%202"
	if r := n.do("GET", search, "", nil); r.body["total"] != float64(0) {
		t.Fatalf("pending profile listed: %s", r.raw)
	}
	// Admins list what waits for them; a player may not.
	if r := n.do("GET", "/api/v1/admin/streamers", admin, nil); r.status != 200 || r.body["total"] != float64(1) || !strings.Contains(r.raw, stID) {
		t.Fatalf("pending profiles: %s", r.raw)
	}
	expect(t, n.do("GET", "/api/v1/admin/streamers", pl, nil), 403, "")
	expect(t, n.do("GET", "/api/v1/admin/streamers?status=nope", admin, nil), 400, "validation_failed")
	// Approval needs streamers:approve, and is audited.
	expect(t, n.do("PUT", "/api/v1/admin/streamers/"+stID+"/approve", pl, nil), 403, "")
	expect(t, n.do("PUT", "/api/v1/admin/streamers/"+stID+"/approve", admin, nil), 200, "")
	expect(t, n.do("PUT", "/api/v1/admin/streamers/"+stID+"/approve", admin, nil), 409, "not_pending")
	audit := n.do("GET", "/api/v1/admin/audit", admin, nil)
	if !strings.Contains(audit.raw, "streamer:approve") {
		t.Fatalf("approval not audited: %s", audit.raw)
	}

	// Every day, all day, in UTC; an hour's notice.
	var weekly []map[string]any
	for d := 0; d < 7; d++ {
		weekly = append(weekly, map[string]any{"weekday": d, "start": "00:00", "end": "24:00"})
	}
	expect(t, n.do("PUT", "/api/v1/streamers/schedule", st, map[string]any{"weekly": weekly, "exceptions": []any{},
		"min_notice_minutes": 60, "buffer_minutes": 15, "max_per_day": 4}), 200, "")

	// The player finds the streamer with a city and game filter; the second read is a cache hit.
	r = n.do("GET", search, pl, nil)
	expect(t, r, 200, "")
	if r.body["total"] != float64(1) || r.header.Get("X-Cache") != "miss" {
		t.Fatalf("search: %s %v", r.raw, r.header)
	}
	card := r.body["items"].([]any)[0].(map[string]any)
	if card["id"] != stID || card["next_free_slot"] == nil || card["avatar"] != photo {
		t.Fatalf("card %v", card)
	}
	if r := n.do("GET", search, pl, nil); r.header.Get("X-Cache") != "hit" {
		t.Fatalf("second search not from the cache: %v", r.header)
	}
	if r := n.do("GET", "/api/v1/streamers?city=hamburg", "", nil); r.body["total"] != float64(0) {
		t.Fatalf("city filter: %s", r.raw)
	}
	detail := n.do("GET", "/api/v1/streamers/"+stID, pl, nil)
	expect(t, detail, 200, "")
	if len(detail.body["free_slots"].([]any)) == 0 {
		t.Fatalf("no free slots: %s", detail.raw)
	}

	// The player listens on a socket for notifications.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(n.base, "http", "ws", 1)+"/ws?token="+pl, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	notes := make(chan map[string]any, 8)
	go func() {
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil && m["type"] == "notification" {
				notes <- m
			}
		}
	}()

	start := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Hour).Add(10 * time.Hour)
	body := fmt.Sprintf(`{"streamer_id":%q,"start":%q,"duration_minutes":60}`, stID, start.Format(time.RFC3339))
	order := n.doKey("POST", "/api/v1/orders", pl, "order-1", body)
	expect(t, order, 201, "")
	if order.body["status"] != "pending_payment" || order.body["amount"] != float64(3000) {
		t.Fatalf("order %s", order.raw)
	}
	oid := order.body["id"].(string)
	again := n.doKey("POST", "/api/v1/orders", pl, "order-1", body)
	if again.status != 201 || again.body["id"] != oid {
		t.Fatalf("replay: %d %s", again.status, again.raw)
	}
	other := fmt.Sprintf(`{"streamer_id":%q,"start":%q,"duration_minutes":30}`, stID, start.Format(time.RFC3339))
	expect(t, n.doKey("POST", "/api/v1/orders", pl, "order-1", other), 422, "idempotency_key_reused")
	expect(t, n.doKey("POST", "/api/v1/orders", pl2, "order-2", body), 409, "slot_unavailable")
	expect(t, n.doKey("POST", "/api/v1/orders", st, "order-3", body), 403, "not_a_player")
	if mine := n.do("GET", "/api/v1/orders?as=streamer", st, nil); mine.body["total"] != float64(1) {
		t.Fatalf("streamer's orders: %s", mine.raw)
	}
	// The streamer sees the order; another player does not.
	expect(t, n.do("GET", "/api/v1/orders/"+oid, st, nil), 200, "")
	expect(t, n.do("GET", "/api/v1/orders/"+oid, pl2, nil), 404, "")
	expect(t, n.do("GET", "/api/v1/orders/"+oid, admin, nil), 200, "") // orders:read_any
	expect(t, n.do("POST", "/api/v1/orders/"+oid+"/cancel", pl2, nil), 404, "")
	// The schedule cannot drop the booked time.
	r = n.do("PUT", "/api/v1/streamers/schedule", st, map[string]any{"weekly": []any{}})
	expect(t, r, 409, "schedule_conflict")
	if !strings.Contains(r.raw, oid) {
		t.Fatalf("conflict does not list the order: %s", r.raw)
	}

	// Pay in the sandbox; the webhook arrives by itself (twice).
	pay := n.doKey("POST", "/api/v1/payments", pl, "pay-1", fmt.Sprintf(`{"order_id":%q}`, oid))
	expect(t, pay, 201, "")
	ref := strings.TrimPrefix(pay.body["checkout_url"].(string), n.base+"/pay/")
	res, err := http.PostForm(n.base+"/api/v1/payments/sandbox/"+ref+"/succeed", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var paid resp
	waitFor(t, "the order to be paid", func() bool {
		paid = n.do("GET", "/api/v1/orders/"+oid, pl, nil)
		return paid.body["status"] == "paid"
	})
	meetingID, _ := paid.body["meeting_id"].(string)
	code, _ := paid.body["meeting_code"].(string)
	if meetingID == "" || code == "" {
		t.Fatalf("paid without a meeting: %s", paid.raw)
	}
	if s := n.do("GET", "/api/v1/orders/"+oid, st, nil); s.body["meeting_id"] != meetingID || s.body["meeting_code"] != code {
		t.Fatalf("streamer's view: %s", s.raw)
	}
	select {
	case m := <-notes:
		if !strings.Contains(fmt.Sprint(m["data"]), code) {
			t.Fatalf("notification %v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification on the player's socket")
	}
	expect(t, n.doKey("POST", "/api/v1/orders", pl2, "order-4", body), 409, "slot_unavailable")

	// The session: the streamer hosts, the player joins without a password, another
	// player cannot; the streamer ends it.
	expect(t, n.do("POST", "/api/v1/meetings/"+meetingID+"/join", st, map[string]any{}), 200, "")
	expect(t, n.do("POST", "/api/v1/meetings/"+meetingID+"/join", pl, map[string]any{}), 200, "")
	if r := n.do("POST", "/api/v1/meetings/"+meetingID+"/join", pl2, map[string]any{}); r.status == 200 {
		t.Fatalf("an uninvited player joined: %s", r.raw)
	}
	expect(t, n.do("POST", "/api/v1/reviews", pl, map[string]any{"order_id": oid, "rating": 5}), 409, "order_not_completed")
	expect(t, n.do("POST", "/api/v1/meetings/"+meetingID+"/end", st, nil), 200, "")
	waitFor(t, "the order to complete", func() bool {
		return n.do("GET", "/api/v1/orders/"+oid, pl, nil).body["status"] == "completed"
	})

	// The review moves the rating in the catalogue and the detail.
	expect(t, n.do("POST", "/api/v1/reviews", pl2, map[string]any{"order_id": oid, "rating": 1}), 404, "")
	expect(t, n.do("POST", "/api/v1/reviews", pl, map[string]any{"order_id": oid, "rating": 9}), 400, "validation_failed")
	expect(t, n.do("POST", "/api/v1/reviews", pl, map[string]any{"order_id": oid, "rating": 4, "comment": "great"}), 201, "")
	expect(t, n.do("POST", "/api/v1/reviews", pl, map[string]any{"order_id": oid, "rating": 4}), 409, "already_reviewed")
	r = n.do("GET", search, "", nil)
	card = r.body["items"].([]any)[0].(map[string]any)
	if r.header.Get("X-Cache") != "miss" || card["rating"] != float64(4) || card["review_count"] != float64(1) {
		t.Fatalf("catalogue after the review: %s %v", r.raw, r.header)
	}
	revs := n.do("GET", "/api/v1/streamers/"+stID+"/reviews", "", nil)
	if revs.body["total"] != float64(1) || !strings.Contains(revs.raw, "great") {
		t.Fatalf("reviews %s", revs.raw)
	}
	_ = plID
}

func pngBytes(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
