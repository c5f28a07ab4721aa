package web

import (
	"net/http"
	"strings"
	"testing"
)

// The giveaway panel is served, the room loads it, and it stays inside the strict CSP: no
// inline styles, no HTML strings, every giveaway message of docs/protocol.md handled.
func TestGiveawayPanelServed(t *testing.T) {
	h := Handler()
	res := get(t, h, "/static/js/giveaway.js")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("giveaway.js: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	js := body(t, res)
	for _, bad := range []string{"innerHTML", ".style.", "style=", "eval(", "new Function"} {
		if strings.Contains(js, bad) {
			t.Errorf("giveaway.js uses %q", bad)
		}
	}
	for _, want := range []string{"'giveaway_opened'", "'giveaway_closed'", "'giveaway_winners'", "'giveaway_enter'", "giveaway-enter", "giveaway-countdown"} {
		if !strings.Contains(js, want) {
			t.Errorf("giveaway.js lacks %s", want)
		}
	}
	room := body(t, get(t, h, "/static/js/room.js"))
	if !strings.Contains(room, "from './giveaway.js'") || !strings.Contains(room, "case 'giveaway_winners'") {
		t.Error("room.js does not use the giveaway panel")
	}
	if css := body(t, get(t, h, "/static/app.css")); !strings.Contains(css, ".giveaway-countdown") {
		t.Error("app.css has no giveaway styles")
	}
}
