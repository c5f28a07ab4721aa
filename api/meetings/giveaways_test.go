package meetings

import (
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/db/dbtest"
	"github.com/onstagehq/onstage/rooms"
)

// The walk-through over REST: open, three entries and a duplicate, the masked list,
// the draw, the proof and a reroll.
func TestGiveawayRoutes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		c := newServer(t, gdb)
		host := ident("host", authn.RoleStreamer)
		fans := []*authn.Identity{ident("Kimberly", authn.RolePlayer), ident("bob", authn.RolePlayer), ident("cyd", authn.RolePlayer)}
		var m rooms.MeetingView
		c.expect(host, "POST", "/meetings", createBody(map[string]any{"is_public": true}), 201, "").decode(t, &m)
		base := "/meetings/" + m.ID + "/giveaways"
		open := map[string]any{"title": "Launch", "prize": "Poster", "winners": 1, "entry_seconds": 120}
		c.expect(host, "POST", base, open, 409, "meeting_not_live") // nobody has joined yet
		c.expect(host, "POST", "/meetings/"+m.ID+"/join", nil, 200, "")
		for _, f := range fans {
			c.expect(f, "POST", "/meetings/"+m.ID+"/join", nil, 200, "")
		}
		c.expect(fans[0], "POST", base, open, 403, "forbidden")
		var g rooms.GiveawayView
		c.expect(host, "POST", base, open, 201, "").decode(t, &g)
		if g.Status != "open" || len(g.Commitment) != 64 || strings.ToLower(g.Commitment) != g.Commitment || g.ClosesAt.IsZero() {
			t.Fatalf("opened %+v", g)
		}
		gbase := base + "/" + g.ID
		var e rooms.EntryView
		c.expect(fans[0], "POST", gbase+"/entries", map[string]any{"contact": "010-1234-5678"}, 201, "").decode(t, &e)
		if e.EntryNumber != 1 || e.Name != "Kimberly" {
			t.Fatalf("entry %+v", e)
		}
		c.expect(fans[1], "POST", gbase+"/entries", map[string]any{"contact": "bob@example.com"}, 201, "")
		c.expect(fans[2], "POST", gbase+"/entries", nil, 201, "")
		c.expect(fans[0], "POST", gbase+"/entries", nil, 409, "already_entered")
		c.expect(ident("eve", authn.RolePlayer), "POST", gbase+"/entries", nil, 409, "not_in_room")

		var page rooms.EntryPage
		c.expect(host, "GET", gbase+"/entries?page=1&size=10", nil, 200, "").decode(t, &page)
		if page.Total != 3 || len(page.Items) != 3 || page.Items[2].Name != "Ki**" || page.Items[2].Contact != "010-****-5678" ||
			page.Items[1].Contact != "b***@example.com" {
			t.Fatalf("masked list %+v", page)
		}
		c.expect(fans[0], "GET", gbase+"/entries?page=2&size=2", nil, 200, "").decode(t, &page)
		if len(page.Items) != 1 || page.Items[0].Name != "Kimberly" || !page.Items[0].Mine {
			t.Fatalf("own entry %+v", page)
		}
		c.expect(fans[1], "GET", gbase+"/proof", nil, 409, "not_drawn")
		c.expect(fans[1], "POST", gbase+"/draw", nil, 403, "forbidden")

		var d rooms.DrawView
		c.expect(host, "POST", gbase+"/draw", nil, 200, "").decode(t, &d)
		if len(d.Winners) != 1 || d.Winners[0].EntryNumber < 1 || d.Winners[0].EntryNumber > 3 || !strings.HasSuffix(d.Winners[0].Name, "**") {
			t.Fatalf("draw %+v", d)
		}
		c.expect(host, "POST", gbase+"/draw", nil, 409, "already_drawn")
		var p rooms.GiveawayProof
		c.expect(fans[2], "GET", gbase+"/proof", nil, 200, "").decode(t, &p)
		if len(p.Seed) != 64 || len(p.Entries) != 3 || p.Rounds[0].Winners[0] != d.Winners[0].EntryNumber {
			t.Fatalf("proof %+v", p)
		}
		c.expect(host, "POST", gbase+"/reroll", map[string]any{}, 400, "validation_failed")
		var r rooms.DrawView
		c.expect(host, "POST", gbase+"/reroll", map[string]any{"reason": "unclaimed", "replace": d.Winners[0].EntryNumber}, 200, "").decode(t, &r)
		if r.Round != 1 || r.Winners[0].EntryNumber == d.Winners[0].EntryNumber || r.Replaced != d.Winners[0].EntryNumber {
			t.Fatalf("reroll %+v", r)
		}
		var got rooms.GiveawayView
		c.expect(fans[1], "GET", gbase, nil, 200, "").decode(t, &got)
		if got.Status != "drawn" || got.EntryCount != 3 || got.EntryListHash != p.EntryListHash || len(got.Winners) != 2 {
			t.Fatalf("giveaway %+v", got)
		}
		var list struct{ Items []rooms.GiveawayView }
		c.expect(fans[1], "GET", base, nil, 200, "").decode(t, &list)
		if len(list.Items) != 1 {
			t.Fatalf("list %+v", list)
		}
		c.expect(fans[1], "GET", base+"/stats", nil, 200, "")

		// Bad input is a 4xx, never a 5xx (the client fails the test on any 5xx).
		for _, b := range []struct {
			method, path string
			body         any
			status       int
		}{
			{"POST", base, "{", 400},
			{"POST", base, `{"winners": "one"}`, 400},
			{"POST", base, map[string]any{"title": "t", "prize": "p", "winners": 1, "entry_seconds": 5}, 400},
			{"POST", base, map[string]any{"title": "t", "prize": "p", "winners": 1, "entry_seconds": 60, "bonus": map[string]any{"min_minutes": 0, "weight": 1}}, 400},
			{"POST", base, map[string]any{"title": "t", "prize": "p", "winners": 1e12, "entry_seconds": 60}, 400},
			{"POST", gbase + "/entries", map[string]any{"contact": "not a contact"}, 400},
			{"POST", gbase + "/entries", `{"bogus": 1}`, 400},
			{"GET", gbase + "/entries?size=1000", nil, 400},
			{"GET", gbase + "/entries?page=0", nil, 400},
			{"POST", gbase + "/reroll", map[string]any{"reason": "x", "replace": -1}, 400},
			{"POST", gbase + "/reroll", map[string]any{"reason": "x", "replace": 99}, 400},
			{"GET", base + "/nope", nil, 404},
			{"GET", base + "/" + strings.Repeat("x", 300), nil, 404},
			{"POST", base + "/nope/entries", nil, 404},
			{"POST", base + "/nope/close", nil, 404},
			{"POST", base + "/nope/draw", nil, 404},
			{"GET", base + "/nope/proof", nil, 404},
			{"GET", "/meetings/nope/giveaways", nil, 404},
		} {
			if r := c.do(host, b.method, b.path, b.body); r.status != b.status {
				t.Errorf("%s %s %v: %d %s, want %d", b.method, b.path, b.body, r.status, r.body, b.status)
			}
		}
		c.expect(nil, "GET", base, nil, 401, "unauthorized")
		// A private meeting's giveaways are another user's business: 404 to open, 403 to read.
		var priv rooms.MeetingView
		c.expect(host, "POST", "/meetings", createBody(nil), 201, "").decode(t, &priv)
		c.expect(ident("eve", authn.RolePlayer), "POST", "/meetings/"+priv.ID+"/giveaways", open, 404, "not_found")
		c.expect(ident("eve", authn.RolePlayer), "GET", "/meetings/"+priv.ID+"/giveaways", nil, 403, "forbidden")
	}, rooms.Migrations()...)
}
