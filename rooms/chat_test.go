package rooms

import (
	"strings"
	"testing"

	"github.com/onstagehq/onstage/internal/apperr"
)

func TestChat(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob, carol := user("alice"), user("bob"), user("carol")
		m := e.create(t, alice, nil)
		_, err := e.svc.PostChat(ctx, alice, m.ID, "hi", "")
		wantErr(t, err, ErrNotInRoom)
		_, err = e.svc.PostChat(ctx, alice, "nope", "hi", "")
		wantErr(t, err, ErrNotFound)
		ap := e.join(t, alice, m.ID).Participant
		bp := e.join(t, bob, m.ID).Participant
		e.join(t, carol, m.ID)

		for _, bad := range []string{"", "   ", strings.Repeat("x", 2001), "a\x00"} {
			_, err := e.svc.PostChat(ctx, alice, m.ID, bad, "")
			wantErr(t, err, apperr.ErrValidation)
		}
		_, err = e.svc.PostChat(ctx, alice, m.ID, "x", "nope")
		wantErr(t, err, apperr.ErrValidation)
		_, err = e.svc.PostChat(ctx, alice, m.ID, "x", ap.ParticipantID)
		wantErr(t, err, apperr.ErrValidation)

		c1 := must[ChatView](t)(e.svc.PostChat(ctx, alice, m.ID, strings.Repeat("é", 2000), ""))
		c2 := must[ChatView](t)(e.svc.PostChat(ctx, alice, m.ID, "psst bob", bp.ParticipantID))
		c3 := must[ChatView](t)(e.svc.PostChat(ctx, bob, m.ID, "public", ""))
		if c1.Seq != 1 || c2.Seq != 2 || c3.Seq != 3 || c2.To != bp.ParticipantID || c2.From != ap.ParticipantID || c1.FromName != "alice" {
			t.Fatalf("chats = %+v %+v %+v", c1, c2, c3)
		}
		seqs := func(cs []ChatView) []int64 {
			var out []int64
			for _, c := range cs {
				out = append(out, c.Seq)
			}
			return out
		}
		for who, want := range map[string][]int64{"alice": {1, 2, 3}, "bob": {1, 2, 3}, "carol": {1, 3}} {
			got := seqs(must[[]ChatView](t)(e.svc.Messages(ctx, user(who), m.ID, 0, 0)))
			if len(got) != len(want) || (len(got) > 1 && got[len(got)-1] != 3) || got[0] != 1 || (who == "carol" && got[1] != 3) {
				t.Fatalf("%s sees %v, want %v", who, got, want)
			}
		}
		if got := seqs(must[[]ChatView](t)(e.svc.Messages(ctx, bob, m.ID, 1, 1))); len(got) != 1 || got[0] != 2 {
			t.Fatalf("after 1 limit 1 = %v", got)
		}
		_, err = e.svc.Messages(ctx, user("eve"), m.ID, 0, 10)
		wantErr(t, err, ErrForbidden)
		_, err = e.svc.Messages(ctx, user("eve"), "nope", 0, 10)
		wantErr(t, err, ErrNotFound)
		// Past participants may still read it; MessagesFor serves the signaling layer.
		if err := e.svc.Leave(ctx, carol, m.ID); err != nil {
			t.Fatal(err)
		}
		if got := must[[]ChatView](t)(e.svc.Messages(ctx, carol, m.ID, 0, 10)); len(got) != 2 {
			t.Fatalf("carol after leaving = %v", seqs(got))
		}
		if got := must[[]ChatView](t)(e.svc.MessagesFor(ctx, m.ID, bp.ParticipantID, 0, 10)); len(got) != 3 {
			t.Fatalf("messages for bob = %v", seqs(got))
		}
		chats := e.EventsOf(EventChat)
		if len(chats) != 3 || chats[1].Chat.To != bp.ParticipantID || chats[1].Chat.Seq != 2 {
			t.Fatalf("chat events = %+v", chats)
		}
	})
}
