package meetings

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db/dbtest"
	"github.com/onstagehq/onstage/internal/httpx"
	"github.com/onstagehq/onstage/rooms"
)

type client struct {
	t      *testing.T
	srv    *httptest.Server
	issuer *authn.Issuer
}

func newServer(t *testing.T, gdb *gorm.DB) *client {
	t.Helper()
	issuer, err := authn.NewIssuer([]byte("0123456789abcdef0123456789abcdef-test"))
	if err != nil {
		t.Fatal(err)
	}
	mw := authn.Middleware{Issuer: issuer, Reject: func(w http.ResponseWriter, r *http.Request, status int) {
		e := apperr.ErrUnauthorized
		if status == http.StatusForbidden {
			e = apperr.ErrForbidden
		}
		httpx.Error(w, r, e)
	}}
	c := cache.NewMemory()
	t.Cleanup(func() { _ = c.Close() })
	svc := rooms.NewService(rooms.ServiceParams{Store: rooms.NewStore(gdb), Cache: c,
		Config: config.Meetings{ExpiryGrace: 15 * time.Minute, SweepInterval: time.Minute}, PasswordCost: bcrypt.MinCost})
	r := chi.NewRouter()
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(mw.Authenticate)
		NewHandler(svc, mw).Mount(r)
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &client{t: t, srv: srv, issuer: issuer}
}

func (c *client) token(id authn.Identity) string {
	tok, _, err := c.issuer.Mint(id, time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

type resp struct {
	status int
	body   []byte
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) code() string {
	var e httpx.ErrorBody
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// do sends body (a string is sent raw, anything else as JSON) as who ("" = no token).
func (c *client) do(who *authn.Identity, method, path string, body any) resp {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, c.srv.URL+"/api/v1"+path, rd)
	if who != nil {
		req.Header.Set("Authorization", "Bearer "+c.token(*who))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		c.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return resp{status: res.StatusCode, body: raw}
}

func (c *client) expect(who *authn.Identity, method, path string, body any, status int, code string) resp {
	c.t.Helper()
	r := c.do(who, method, path, body)
	if r.status != status || (code != "" && r.code() != code) {
		c.t.Fatalf("%s %s: %d %s, want %d %s", method, path, r.status, r.body, status, code)
	}
	return r
}

func ident(name string, role authn.Role) *authn.Identity {
	prefix := "u-"
	if role == authn.RoleGuest {
		prefix = "guest_"
	}
	return &authn.Identity{UserID: prefix + name, Role: role, Name: name}
}

func createBody(extra map[string]any) map[string]any {
	b := map[string]any{"title": "Standup", "description": "daily", "start_time": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"duration_minutes": 30}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// The walk-through, as a client sees it.
func TestFlow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		c := newServer(t, gdb)
		a, b := ident("alice", authn.RoleStreamer), ident("bob", authn.RolePlayer)
		var m rooms.MeetingView
		c.expect(a, "POST", "/meetings", createBody(map[string]any{"password": "pw", "max_participants": 2}), 201, "").decode(t, &m)
		if m.ID == "" || len(m.Code) != 6 || !m.HasPassword || m.Status != "scheduled" {
			t.Fatalf("created %+v", m)
		}
		var sum rooms.MeetingSummary
		c.expect(b, "GET", "/meetings/code/"+strings.ToLower(m.Code), nil, 200, "").decode(t, &sum)
		if sum.ID != m.ID || !sum.HasPassword {
			t.Fatalf("by code %+v", sum)
		}
		c.expect(b, "GET", "/meetings/"+m.ID, nil, 403, "forbidden")
		c.expect(b, "POST", "/meetings/"+m.ID+"/join", map[string]any{"password": "nope"}, 403, "wrong_password")
		var jr rooms.JoinResult
		c.expect(b, "POST", "/meetings/"+m.ID+"/join", map[string]any{"password": "pw"}, 200, "").decode(t, &jr)
		if jr.Participant.Role != "participant" || jr.Meeting.Status != "live" || len(jr.Participants) != 1 || jr.ChatHistory == nil {
			t.Fatalf("join %s", c.do(b, "GET", "/meetings/"+m.ID, nil).body)
		}
		c.expect(b, "POST", "/meetings/"+m.ID+"/join", map[string]any{"password": "pw"}, 409, "already_joined")
		c.expect(a, "POST", "/meetings/"+m.ID+"/join", nil, 200, "") // creator: no password, empty body
		c.expect(ident("carol", authn.RolePlayer), "POST", "/meetings/"+m.ID+"/join", map[string]any{"password": "pw"}, 409, "meeting_full")
		c.expect(b, "POST", "/meetings/"+m.ID+"/end", nil, 403, "forbidden")

		var chat rooms.ChatView
		c.expect(b, "POST", "/meetings/"+m.ID+"/messages", map[string]any{"text": "hi"}, 201, "").decode(t, &chat)
		if chat.Seq != 1 || chat.From != jr.Participant.ParticipantID {
			t.Fatalf("chat %+v", chat)
		}
		var msgs struct{ Items []rooms.ChatView }
		c.expect(a, "GET", "/meetings/"+m.ID+"/messages?after_seq=0&limit=10", nil, 200, "").decode(t, &msgs)
		if len(msgs.Items) != 1 {
			t.Fatalf("messages %+v", msgs)
		}
		var ps struct{ Items []rooms.ParticipantView }
		c.expect(b, "GET", "/meetings/"+m.ID+"/participants", nil, 200, "").decode(t, &ps)
		if len(ps.Items) != 2 {
			t.Fatalf("participants %+v", ps)
		}

		// A leaves: B becomes host; B leaves: the meeting ends.
		c.expect(a, "POST", "/meetings/"+m.ID+"/leave", nil, 204, "")
		c.expect(a, "POST", "/meetings/"+m.ID+"/leave", nil, 409, "not_in_room")
		c.expect(b, "GET", "/meetings/"+m.ID+"/participants", nil, 200, "").decode(t, &ps)
		if len(ps.Items) != 1 || ps.Items[0].Role != "host" {
			t.Fatalf("after A left %+v", ps)
		}
		c.expect(b, "POST", "/meetings/"+m.ID+"/leave", nil, 204, "")
		var got rooms.MeetingView
		c.expect(a, "GET", "/meetings/"+m.ID, nil, 200, "").decode(t, &got)
		if got.Status != "ended" || got.StatusText != "Ended" || got.EndReason != "last_left" || got.ActualEnd == nil || got.OnlineCount != 0 {
			t.Fatalf("ended %+v", got)
		}
		c.expect(b, "GET", "/meetings/"+m.ID, nil, 200, "") // past participant
		c.expect(b, "POST", "/meetings/"+m.ID+"/join", map[string]any{"password": "pw"}, 409, "meeting_ended")
		c.expect(a, "POST", "/meetings/"+m.ID+"/end", nil, 409, "already_ended")

		// Listing.
		c.expect(a, "POST", "/meetings", createBody(map[string]any{"title": "Public talk", "is_public": true, "recording_enabled": true}), 201, "")
		var page httpx.Page[rooms.MeetingView]
		c.expect(a, "GET", "/meetings", nil, 200, "").decode(t, &page)
		if page.Total != 2 || page.Page != 1 || page.PageSize != 10 {
			t.Fatalf("list %+v", page)
		}
		c.expect(b, "GET", "/meetings?only_joined=true", nil, 200, "").decode(t, &page)
		if page.Total != 1 || page.Items[0].ID != m.ID {
			t.Fatalf("only_joined %+v", page)
		}
		c.expect(b, "GET", "/meetings?keyword=talk&recording=true&has_password=false&status=scheduled&page=1&page_size=5", nil, 200, "").decode(t, &page)
		if page.Total != 1 || page.Items[0].Title != "Public talk" {
			t.Fatalf("filtered %+v", page)
		}
		q := url.Values{"from": {time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, "to": {time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)}}
		c.expect(a, "GET", "/meetings?"+q.Encode(), nil, 200, "").decode(t, &page)
		if page.Total != 2 {
			t.Fatalf("from/to %+v", page)
		}
	}, rooms.Migrations()...)
}

func TestModerationRoutes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		c := newServer(t, gdb)
		a, b, d := ident("alice", authn.RoleStreamer), ident("bob", authn.RolePlayer), ident("dave", authn.RolePlayer)
		var m rooms.MeetingView
		c.expect(a, "POST", "/meetings", createBody(nil), 201, "").decode(t, &m)
		base := "/meetings/" + m.ID
		for _, u := range []*authn.Identity{a, b, d} {
			c.expect(u, "POST", base+"/join", map[string]any{}, 200, "")
		}
		c.expect(b, "POST", base+"/participants/u-dave/role", map[string]any{"role": "cohost"}, 403, "forbidden")
		c.expect(a, "POST", base+"/participants/u-dave/role", map[string]any{"role": "king"}, 400, "validation_failed")
		c.expect(a, "POST", base+"/participants/u-nobody/role", map[string]any{"role": "cohost"}, 404, "not_found")
		var p rooms.ParticipantView
		c.expect(a, "POST", base+"/participants/u-bob/role", map[string]any{"role": "cohost"}, 200, "").decode(t, &p)
		if p.Role != "cohost" || p.UserID != "u-bob" {
			t.Fatalf("role %+v", p)
		}
		c.expect(d, "POST", base+"/participants/u-bob/kick", nil, 403, "forbidden")
		c.expect(b, "POST", base+"/participants/u-dave/kick", nil, 204, "")
		c.expect(d, "POST", base+"/join", nil, 403, "kicked")
		c.expect(b, "POST", base+"/transfer-host", map[string]any{"user_id": "u-alice"}, 403, "forbidden")
		c.expect(a, "POST", base+"/transfer-host", map[string]any{}, 400, "validation_failed")
		c.expect(a, "POST", base+"/transfer-host", map[string]any{"user_id": "u-dave"}, 404, "not_found")
		c.expect(a, "POST", base+"/transfer-host", map[string]any{"user_id": "u-bob"}, 200, "").decode(t, &p)
		if p.Role != "host" {
			t.Fatalf("transfer %+v", p)
		}
		// PATCH: creator only, scheduled only.
		var s rooms.MeetingView
		c.expect(a, "POST", "/meetings", createBody(nil), 201, "").decode(t, &s)
		c.expect(b, "PATCH", "/meetings/"+s.ID, map[string]any{"title": "x"}, 403, "forbidden")
		c.expect(a, "PATCH", "/meetings/"+m.ID, map[string]any{"title": "x"}, 409, "conflict")
		c.expect(a, "PATCH", "/meetings/"+s.ID, map[string]any{"start_time": "tomorrow"}, 400, "validation_failed")
		var u rooms.MeetingView
		c.expect(a, "PATCH", "/meetings/"+s.ID, map[string]any{"title": "Renamed", "password": "pw", "max_participants": 5}, 200, "").decode(t, &u)
		if u.Title != "Renamed" || !u.HasPassword || u.MaxParticipants != 5 {
			t.Fatalf("patched %+v", u)
		}
		c.expect(a, "PATCH", "/meetings/"+s.ID, map[string]any{"status": "cancelled"}, 200, "").decode(t, &u)
		if u.Status != "cancelled" {
			t.Fatalf("cancel %+v", u)
		}
		c.expect(b, "POST", "/meetings/"+s.ID+"/join", map[string]any{"password": "pw"}, 409, "meeting_ended")
		// Guests: public meetings only, and no creating.
		g := ident("gina", authn.RoleGuest)
		c.expect(g, "POST", "/meetings", createBody(nil), 403, "forbidden")
		c.expect(g, "POST", base+"/join", nil, 403, "forbidden")
		var pub rooms.MeetingView
		c.expect(a, "POST", "/meetings", createBody(map[string]any{"is_public": true}), 201, "").decode(t, &pub)
		c.expect(g, "POST", "/meetings/"+pub.ID+"/join", map[string]any{"display_name": "Gina G"}, 200, "")
		c.expect(g, "GET", "/meetings/"+pub.ID, nil, 200, "")
	}, rooms.Migrations()...)
}

// Unauthenticated calls are 401, unknown ids 404, bad input 400, and nothing is a 5xx.
func TestErrorsNeverServerErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		c := newServer(t, gdb)
		a := ident("alice", authn.RoleStreamer)
		var m rooms.MeetingView
		c.expect(a, "POST", "/meetings", createBody(nil), 201, "").decode(t, &m)

		routes := []struct{ method, path string }{
			{"GET", "/meetings"}, {"POST", "/meetings"}, {"GET", "/meetings/code/ABCDEF"},
			{"GET", "/meetings/x"}, {"PATCH", "/meetings/x"}, {"POST", "/meetings/x/join"},
			{"POST", "/meetings/x/leave"}, {"POST", "/meetings/x/end"}, {"GET", "/meetings/x/participants"},
			{"POST", "/meetings/x/participants/u/role"}, {"POST", "/meetings/x/participants/u/kick"},
			{"POST", "/meetings/x/transfer-host"}, {"GET", "/meetings/x/messages"}, {"POST", "/meetings/x/messages"},
		}
		for _, r := range routes {
			c.expect(nil, r.method, r.path, nil, 401, "unauthorized")
		}
		req, _ := http.NewRequest("GET", c.srv.URL+"/api/v1/meetings", nil)
		req.Header.Set("Authorization", "Bearer forged.token.value")
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 401 {
			t.Fatalf("forged token: %v %v", res, err)
		}

		// Unknown ids.
		for _, id := range []string{"unknown", "0196b0a8-0000-7000-8000-000000000000", strings.Repeat("x", 300), "%FF%FE", "%00"} {
			c.expect(a, "GET", "/meetings/"+id, nil, 404, "not_found")
			c.expect(a, "POST", "/meetings/"+id+"/join", nil, 404, "not_found")
			c.expect(a, "POST", "/meetings/"+id+"/leave", nil, 404, "not_found")
			c.expect(a, "POST", "/meetings/"+id+"/end", nil, 404, "not_found")
			c.expect(a, "PATCH", "/meetings/"+id, map[string]any{"title": "t"}, 404, "not_found")
			c.expect(a, "GET", "/meetings/"+id+"/participants", nil, 404, "not_found")
			c.expect(a, "GET", "/meetings/"+id+"/messages", nil, 404, "not_found")
			c.expect(a, "POST", "/meetings/"+id+"/messages", map[string]any{"text": "x"}, 404, "not_found")
			c.expect(a, "POST", "/meetings/"+id+"/participants/u-bob/kick", nil, 404, "not_found")
			c.expect(a, "POST", "/meetings/"+id+"/participants/u-bob/role", map[string]any{"role": "cohost"}, 404, "not_found")
			c.expect(a, "POST", "/meetings/"+id+"/transfer-host", map[string]any{"user_id": "u-bob"}, 404, "not_found")
			c.expect(a, "GET", "/meetings/code/"+id, nil, 404, "not_found")
		}

		// Bad bodies and queries.
		bad := []struct {
			method, path string
			body         any
			status       int
		}{
			{"POST", "/meetings", "", 400},
			{"POST", "/meetings", "{", 400},
			{"POST", "/meetings", "[]", 400},
			{"POST", "/meetings", `{"title": 5}`, 400},
			{"POST", "/meetings", `{"bogus": 1}`, 400},
			{"POST", "/meetings", createBody(map[string]any{"start_time": "yesterday"}), 400},
			{"POST", "/meetings", createBody(map[string]any{"title": "a\u0000b"}), 400},
			{"POST", "/meetings", createBody(map[string]any{"description": "\u0000"}), 400},
			{"POST", "/meetings", createBody(map[string]any{"duration_minutes": 1e12}), 400},
			{"POST", "/meetings", createBody(map[string]any{"max_participants": -1}), 400},
			{"POST", "/meetings", `{"title":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
			{"POST", "/meetings/" + m.ID + "/join", "{", 400},
			{"POST", "/meetings/" + m.ID + "/join", `{"password": 1}`, 400},
			{"POST", "/meetings/" + m.ID + "/join", `{"display_name": "\u0000"}`, 400},
			{"PATCH", "/meetings/" + m.ID, `{"status": "live"}`, 400},
			{"PATCH", "/meetings/" + m.ID, `{"max_participants": 0}`, 400},
			{"GET", "/meetings?page=0", nil, 400},
			{"GET", "/meetings?page=abc", nil, 400},
			{"GET", "/meetings?page=99999999999999999999", nil, 400},
			{"GET", "/meetings?page_size=101", nil, 400},
			{"GET", "/meetings?status=open", nil, 400},
			{"GET", "/meetings?from=yesterday", nil, 400},
			{"GET", "/meetings?only_joined=maybe", nil, 400},
			{"GET", "/meetings?keyword=%FF", nil, 400},
			{"GET", "/meetings?keyword=%00", nil, 400},
			{"GET", "/meetings/" + m.ID + "/messages?limit=501", nil, 400},
			{"GET", "/meetings/" + m.ID + "/messages?after_seq=-1", nil, 400},
		}
		for _, b := range bad {
			r := c.do(a, b.method, b.path, b.body)
			if r.status != b.status {
				t.Errorf("%s %s %v: %d %s, want %d", b.method, b.path, b.body, r.status, r.body, b.status)
			}
		}
		// Odd but valid keyword text is fine.
		for _, kw := range []string{"%", "_", `\`, "'; DROP TABLE meetings; --", "日本"} {
			c.expect(a, "GET", "/meetings?keyword="+url.QueryEscape(kw), nil, 200, "")
		}
		// Chat needs a participant.
		c.expect(a, "POST", "/meetings/"+m.ID+"/messages", map[string]any{"text": "x"}, 409, "not_in_room")
		c.expect(ident("eve", authn.RolePlayer), "GET", "/meetings/"+m.ID+"/messages", nil, 403, "forbidden")
		c.expect(a, "POST", "/meetings/"+m.ID+"/join", nil, 200, "")
		c.expect(a, "POST", "/meetings/"+m.ID+"/messages", map[string]any{"text": ""}, 400, "validation_failed")
		c.expect(a, "POST", "/meetings/"+m.ID+"/messages", map[string]any{"text": strings.Repeat("x", 2001)}, 400, "validation_failed")
		c.expect(a, "POST", "/meetings/"+m.ID+"/messages", map[string]any{"text": "x", "to": "\xff"}, 400, "")
		c.expect(a, "POST", "/meetings/"+m.ID+"/messages", map[string]any{"text": "x", "to": "nobody"}, 400, "validation_failed")
	}, rooms.Migrations()...)
}
