package signaling

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/onstagehq/onstage/rooms"
)

// recompute draws every round of a proof again from the proof alone, as docs/giveaways.md
// describes, and returns the winners of each round.
func recompute(t *testing.T, p rooms.GiveawayProof) [][]int64 {
	t.Helper()
	seed, _ := hex.DecodeString(p.Seed)
	if sum := sha256.Sum256(seed); hex.EncodeToString(sum[:]) != p.Commitment {
		t.Fatal("the seed does not match the commitment")
	}
	doc := fmt.Sprintf("onstage-giveaway-v1\n%s\n", p.GiveawayID)
	for _, e := range p.Entries {
		doc += fmt.Sprintf("%d %d\n", e.EntryNumber, e.Weight)
	}
	if sum := sha256.Sum256([]byte(doc)); hex.EncodeToString(sum[:]) != p.EntryListHash {
		t.Fatal("the entries do not match entry_list_hash")
	}
	lh, _ := hex.DecodeString(p.EntryListHash)
	won := map[int64]bool{}
	var out [][]int64
	for _, r := range p.Rounds {
		var stream []byte
		for block := uint64(0); len(stream) < 4096; block++ {
			msg := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(slices.Clone(lh), uint32(r.Round)), block)
			mac := hmac.New(sha256.New, seed)
			mac.Write(msg)
			stream = mac.Sum(stream)
		}
		uniform := func(n uint64) uint64 {
			for {
				x := binary.BigEndian.Uint64(stream)
				stream = stream[8:]
				limit := -(-n % n) // 2^64 - (2^64 mod n), as uint64 (0 means no rejection)
				if limit == 0 || x < limit {
					return x % n
				}
			}
		}
		var tickets []int64
		for _, e := range p.Entries {
			for i := 0; i < e.Weight && !won[e.EntryNumber]; i++ {
				tickets = append(tickets, e.EntryNumber)
			}
		}
		for i := len(tickets) - 1; i > 0; i-- {
			j := uniform(uint64(i + 1))
			tickets[i], tickets[j] = tickets[j], tickets[i]
		}
		want := p.WinnerCount
		if r.Round > 0 {
			want = 1
		}
		var got []int64
		for _, tk := range tickets {
			if len(got) < want && !slices.Contains(got, tk) {
				got = append(got, tk)
			}
		}
		for _, w := range got {
			won[w] = true
		}
		out = append(out, got)
	}
	return out
}

// The giveaway's "done when" with real sockets: the host opens a giveaway in a live meeting,
// three participants enter over the socket (a second entry is refused), the masked list shows
// three, the host draws, every socket gets giveaway_winners, the proof recomputes the winner
// and a reroll picks someone else.
func TestGiveawayEndToEnd(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	host := user("host")
	mv := e.meeting(host, "")
	hc := e.dial(host)
	hc.join(mv.ID, nil)
	fans := []*client{e.dial(user("ann")), e.dial(user("bob")), e.dial(user("cyd"))}
	for _, f := range fans {
		f.join(mv.ID, map[string]any{"display_name": "Fan " + f.who.UserID})
	}
	everyone := append([]*client{hc}, fans...)

	g, err := e.svc.OpenGiveaway(ctx, host, mv.ID, rooms.OpenGiveawayInput{Title: "Launch", Prize: "Poster", Winners: 1, EntrySeconds: 300})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range everyone {
		var d GiveawayData
		c.waitType(TypeGiveawayOpened).decode(t, &d)
		if d.Giveaway.ID != g.ID || d.Giveaway.Commitment != g.Commitment || d.Giveaway.Status != rooms.GiveawayOpen {
			t.Fatalf("giveaway_opened %+v", d)
		}
	}

	for i, f := range fans {
		var ev rooms.EntryView
		f.mustAck(TypeGiveawayEnter, map[string]any{"giveaway_id": g.ID, "contact": "010-1234-567" + fmt.Sprint(i)}).decode(t, &ev)
		if ev.EntryNumber != int64(i+1) || !ev.Mine {
			t.Fatalf("entry %+v", ev)
		}
	}
	fans[0].wantError(TypeGiveawayEnter, map[string]any{"giveaway_id": g.ID}, CodeAlreadyEntered)
	fans[0].wantError(TypeGiveawayEnter, map[string]any{"giveaway_id": "nope"}, CodeNotFound)
	fans[0].wantError(TypeGiveawayEnter, map[string]any{}, CodeBadRequest)
	fans[0].wantError(TypeGiveawayEnter, map[string]any{"giveaway_id": 5}, CodeBadRequest)
	outsider := e.dial(user("zed"))
	outsider.wantError(TypeGiveawayEnter, map[string]any{"giveaway_id": g.ID}, CodeNotInRoom)

	page, err := e.svc.GiveawayEntries(ctx, host, mv.ID, g.ID, 1, 10)
	if err != nil || page.Total != 3 || len(page.Items) != 3 {
		t.Fatalf("entries %+v %v", page, err)
	}
	for _, it := range page.Items {
		if it.Name != "Fa**" || !strings.HasPrefix(it.Contact, "010-****-567") || it.Mine {
			t.Fatalf("masked entry %+v", it)
		}
	}

	d, err := e.svc.DrawGiveaway(ctx, host, mv.ID, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range everyone {
		var cl GiveawayData
		c.waitType(TypeGiveawayClosed).decode(t, &cl)
		if cl.Giveaway.EntryListHash == "" || cl.Giveaway.EntryCount != 3 {
			t.Fatalf("giveaway_closed %+v", cl)
		}
		var w rooms.DrawView
		c.waitType(TypeGiveawayWinners).decode(t, &w)
		if len(w.Winners) != 1 || w.Winners[0] != d.Winners[0] || w.Winners[0].Name != "Fa**" {
			t.Fatalf("giveaway_winners %+v", w)
		}
	}
	// Entering after the draw is refused.
	hc.wantError(TypeGiveawayEnter, map[string]any{"giveaway_id": g.ID}, CodeGiveawayClosed)

	p, err := e.svc.GiveawayProof(ctx, user("bob"), mv.ID, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := recompute(t, p); !slices.Equal(got[0], []int64{d.Winners[0].EntryNumber}) {
		t.Fatalf("recomputed %v, drawn %v", got, d.Winners)
	}

	r, err := e.svc.RerollGiveaway(ctx, host, mv.ID, g.ID, rooms.RerollInput{Reason: "no reply", Replace: d.Winners[0].EntryNumber})
	if err != nil {
		t.Fatal(err)
	}
	if r.Winners[0].EntryNumber == d.Winners[0].EntryNumber {
		t.Fatalf("the reroll picked the same entry %d", r.Winners[0].EntryNumber)
	}
	for _, c := range everyone {
		var w rooms.DrawView
		c.waitType(TypeGiveawayWinners).decode(t, &w)
		if w.Round != 1 || w.Replaced != d.Winners[0].EntryNumber {
			t.Fatalf("reroll's giveaway_winners %+v", w)
		}
	}
	p, _ = e.svc.GiveawayProof(ctx, user("ann"), mv.ID, g.ID)
	if got := recompute(t, p); len(got) != 2 || !slices.Equal(got[1], []int64{r.Winners[0].EntryNumber}) {
		t.Fatalf("recomputed reroll %v, drawn %v", got, r.Winners)
	}
}
