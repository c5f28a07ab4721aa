package main

import (
	"fmt"
	"testing"
	"time"
)

func (n *node) login(name string) (token, userID string) {
	n.t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano())
	reg := n.do("POST", "/api/v1/auth/register", "", map[string]any{"email": email, "password": "password-" + name, "display_name": name})
	expect(n.t, reg, 201, "")
	r := n.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": "password-" + name})
	expect(n.t, r, 200, "")
	return r.body["access_token"].(string), reg.body["id"].(string)
}

// TestMeetingsFlow is the meetings issue's walk-through over real HTTP against the real graph.
func TestMeetingsFlow(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()))
	a, _ := n.login("ann")
	b, bID := n.login("bob")
	c, _ := n.login("cid")

	created := n.do("POST", "/api/v1/meetings", a, map[string]any{
		"title": "Standup", "start_time": time.Now().UTC().Format(time.RFC3339), "duration_minutes": 30,
		"password": "s3cret", "max_participants": 2})
	expect(t, created, 201, "")
	id := created.body["id"].(string)
	code := created.body["code"].(string)
	if len(code) != 6 || created.body["has_password"] != true || created.body["status"] != "scheduled" {
		t.Fatalf("created %s", created.raw)
	}
	byCode := n.do("GET", "/api/v1/meetings/code/"+code, b, nil)
	expect(t, byCode, 200, "")
	if byCode.body["id"] != id {
		t.Fatalf("by code %s", byCode.raw)
	}
	expect(t, n.do("GET", "/api/v1/meetings/"+id, b, nil), 403, "forbidden")

	expect(t, n.do("POST", "/api/v1/meetings/"+id+"/join", a, map[string]any{}), 200, "")
	expect(t, n.do("POST", "/api/v1/meetings/"+id+"/join", b, map[string]any{"password": "nope"}), 403, "wrong_password")
	joined := n.do("POST", "/api/v1/meetings/"+id+"/join", b, map[string]any{"password": "s3cret"})
	expect(t, joined, 200, "")
	expect(t, n.do("POST", "/api/v1/meetings/"+id+"/join", b, map[string]any{"password": "s3cret"}), 409, "already_joined")
	expect(t, n.do("POST", "/api/v1/meetings/"+id+"/join", c, map[string]any{"password": "s3cret"}), 409, "meeting_full")
	details := n.do("GET", "/api/v1/meetings/"+id, b, nil)
	expect(t, details, 200, "")
	if details.body["status"] != "live" || details.body["online_count"] != float64(2) {
		t.Fatalf("details %s", details.raw)
	}

	expect(t, n.do("POST", "/api/v1/meetings/"+id+"/end", b, nil), 403, "")
	expect(t, n.do("POST", "/api/v1/meetings/"+id+"/leave", a, nil), 204, "")
	parts := n.do("GET", "/api/v1/meetings/"+id+"/participants", b, nil)
	expect(t, parts, 200, "")
	items := parts.body["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["user_id"] != bID || items[0].(map[string]any)["role"] != "host" {
		t.Fatalf("after host left: %s", parts.raw)
	}
	expect(t, n.do("POST", "/api/v1/meetings/"+id+"/leave", b, nil), 204, "")
	ended := n.do("GET", "/api/v1/meetings/"+id, a, nil)
	if ended.body["status"] != "ended" {
		t.Fatalf("after last leave: %s", ended.raw)
	}
	expect(t, n.do("POST", "/api/v1/meetings/"+id+"/join", b, map[string]any{"password": "s3cret"}), 409, "meeting_ended")
	expect(t, n.do("POST", "/api/v1/meetings/"+id+"/leave", b, nil), 409, "not_in_room")

	list := n.do("GET", "/api/v1/meetings?only_joined=true", b, nil)
	expect(t, list, 200, "")
	if list.body["total"] != float64(1) {
		t.Fatalf("only_joined list %s", list.raw)
	}
	expect(t, n.do("GET", "/api/v1/meetings?page_size=101", b, nil), 400, "")
	expect(t, n.do("GET", "/api/v1/meetings/does-not-exist", b, nil), 404, "")
	expect(t, n.do("POST", "/api/v1/meetings", a, map[string]any{"title": "", "start_time": "x", "duration_minutes": 999}), 400, "")
	guest := n.do("POST", "/api/v1/auth/guest", "", map[string]any{"display_name": "G"})
	expect(t, n.do("POST", "/api/v1/meetings", guest.body["access_token"].(string), map[string]any{
		"title": "x", "start_time": time.Now().UTC().Format(time.RFC3339), "duration_minutes": 5}), 403, "")
}
