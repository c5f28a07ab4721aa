package rooms

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

func giveawayInput() OpenGiveawayInput {
	return OpenGiveawayInput{Title: "Launch party", Prize: "Signed poster", Winners: 1, EntrySeconds: 60}
}

// liveMeeting creates a public meeting the host has joined (so it is live) and that the
// named users have joined too.
func (e *testEnv) liveMeeting(t *testing.T, users ...string) MeetingView {
	t.Helper()
	m := e.create(t, user("host"), func(in *CreateInput) { in.IsPublic = true })
	e.join(t, user("host"), m.ID)
	for _, u := range users {
		e.join(t, user(u), m.ID)
	}
	return m
}

// verifyProof recomputes every round of a proof from the proof alone, following
// docs/giveaways.md with nothing of the package's draw code.
func verifyProof(t *testing.T, p GiveawayProof) {
	t.Helper()
	seed, err := hex.DecodeString(p.Seed)
	if err != nil || len(seed) != 32 {
		t.Fatalf("seed %q", p.Seed)
	}
	if sum := sha256.Sum256(seed); hex.EncodeToString(sum[:]) != p.Commitment {
		t.Fatalf("sha256(seed) != commitment %s", p.Commitment)
	}
	doc := "onstage-giveaway-v1\n" + p.GiveawayID + "\n"
	for _, e := range p.Entries {
		doc += strconv.FormatInt(e.EntryNumber, 10) + " " + strconv.Itoa(e.Weight) + "\n"
	}
	if sum := sha256.Sum256([]byte(doc)); hex.EncodeToString(sum[:]) != p.EntryListHash {
		t.Fatalf("entry list hash mismatch")
	}
	lh, _ := hex.DecodeString(p.EntryListHash)
	won := map[int64]bool{}
	for _, r := range p.Rounds {
		var words []uint64
		var ctr uint64
		next := func() uint64 {
			if len(words) == 0 {
				msg := binary.BigEndian.AppendUint32(append([]byte{}, lh...), uint32(r.Round))
				msg = binary.BigEndian.AppendUint64(msg, ctr)
				ctr++
				m := hmac.New(sha256.New, seed)
				m.Write(msg)
				b := m.Sum(nil)
				for k := 0; k < 32; k += 8 {
					words = append(words, binary.BigEndian.Uint64(b[k:]))
				}
			}
			w := words[0]
			words = words[1:]
			return w
		}
		var tickets []int64
		for _, e := range p.Entries {
			if won[e.EntryNumber] {
				continue
			}
			for range e.Weight {
				tickets = append(tickets, e.EntryNumber)
			}
		}
		for i := len(tickets) - 1; i > 0; i-- {
			n := uint64(i + 1)
			bad := (^uint64(0)%n + 1) % n
			var x uint64
			for x = next(); bad != 0 && x > ^uint64(0)-bad; x = next() {
			}
			j := x % n
			tickets[i], tickets[j] = tickets[j], tickets[i]
		}
		count := p.WinnerCount
		if r.Kind == "reroll" {
			count = 1
		}
		var got []int64
		for _, tk := range tickets {
			if len(got) < count && !slices.Contains(got, tk) {
				got = append(got, tk)
			}
		}
		if !slices.Equal(got, r.Winners) {
			t.Fatalf("round %d: recomputed %v, proof says %v", r.Round, got, r.Winners)
		}
		for _, w := range got {
			won[w] = true
		}
	}
}

func TestGiveawayFlow(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		m := e.liveMeeting(t, "ann", "bob", "cyd")
		open := must[GiveawayView](t)(e.svc.OpenGiveaway(ctx, user("host"), m.ID, giveawayInput()))
		if open.Status != GiveawayOpen || len(open.Commitment) != 64 || !open.ClosesAt.Equal(open.OpenedAt.Add(time.Minute)) {
			t.Fatalf("opened %+v", open)
		}
		if evs := e.EventsOf(EventGiveawayOpened); len(evs) != 1 || evs[0].Giveaway.ID != open.ID {
			t.Fatalf("giveaway_opened events %+v", evs)
		}
		// Only the host or a co-host opens; an outsider is not told the meeting exists.
		_, err := e.svc.OpenGiveaway(ctx, user("ann"), m.ID, giveawayInput())
		wantErr(t, err, ErrForbidden)
		_, err = e.svc.OpenGiveaway(ctx, user("host"), m.ID, OpenGiveawayInput{Title: "", Winners: 0, EntrySeconds: 1})
		if ae, ok := apperr.As(err); !ok || ae.Kind != apperr.Invalid || len(ae.Fields) != 4 {
			t.Fatalf("bad input: %v", err)
		}

		contacts := map[string]string{"ann": "010-1234-5678", "bob": "bob@example.com", "cyd": ""}
		for i, u := range []string{"ann", "bob", "cyd"} {
			ev := must[EntryView](t)(e.svc.EnterGiveaway(ctx, user(u), m.ID, open.ID, EnterInput{Contact: contacts[u]}))
			if ev.EntryNumber != int64(i+1) || ev.Name != u || ev.Contact != contacts[u] || !ev.Mine {
				t.Fatalf("entry %+v", ev)
			}
		}
		_, err = e.svc.EnterGiveaway(ctx, user("ann"), m.ID, open.ID, EnterInput{})
		wantErr(t, err, ErrAlreadyEntered)
		_, err = e.svc.EnterGiveaway(ctx, user("stranger"), m.ID, open.ID, EnterInput{})
		wantErr(t, err, ErrNotInRoom)
		_, err = e.svc.EnterGiveaway(ctx, user("bob"), m.ID, "nope", EnterInput{})
		wantErr(t, err, ErrGiveawayNotFound)

		// Masked for everyone but the entrant, the host included; newest first.
		page := must[EntryPage](t)(e.svc.GiveawayEntries(ctx, user("host"), m.ID, open.ID, 1, 10))
		if page.Total != 3 || len(page.Items) != 3 || page.Items[0].EntryNumber != 3 {
			t.Fatalf("entries %+v", page)
		}
		if it := page.Items[2]; it.Name != "a**" || it.Contact != "010-****-5678" || it.Mine {
			t.Fatalf("ann as the host sees her: %+v", it)
		}
		if it := page.Items[1]; it.Contact != "b***@example.com" {
			t.Fatalf("bob as the host sees him: %+v", it)
		}
		own := must[EntryPage](t)(e.svc.GiveawayEntries(ctx, user("ann"), m.ID, open.ID, 1, 2))
		if len(own.Items) != 2 || own.Total != 3 {
			t.Fatalf("page of 2: %+v", own)
		}
		own = must[EntryPage](t)(e.svc.GiveawayEntries(ctx, user("ann"), m.ID, open.ID, 2, 2))
		if len(own.Items) != 1 || own.Items[0].Name != "ann" || own.Items[0].Contact != "010-1234-5678" || !own.Items[0].Mine {
			t.Fatalf("ann sees her own entry: %+v", own)
		}

		// The host draws: the giveaway closes first, then the winners.
		_, err = e.svc.DrawGiveaway(ctx, user("bob"), m.ID, open.ID)
		wantErr(t, err, ErrForbidden)
		dv := must[DrawView](t)(e.svc.DrawGiveaway(ctx, user("host"), m.ID, open.ID))
		if len(dv.Winners) != 1 || dv.Giveaway.Status != GiveawayDrawn || dv.Giveaway.EntryListHash == "" {
			t.Fatalf("draw %+v", dv)
		}
		if evs := e.EventsOf(EventGiveawayClosed); len(evs) != 1 || evs[0].Giveaway.EntryListHash != dv.Giveaway.EntryListHash {
			t.Fatalf("giveaway_closed %+v", evs)
		}
		if evs := e.EventsOf(EventGiveawayWinners); len(evs) != 1 || evs[0].Draw.Winners[0] != dv.Winners[0] {
			t.Fatalf("giveaway_winners %+v", evs)
		}
		_, err = e.svc.DrawGiveaway(ctx, user("host"), m.ID, open.ID)
		wantErr(t, err, ErrAlreadyDrawn)
		_, err = e.svc.EnterGiveaway(ctx, user("host"), m.ID, open.ID, EnterInput{})
		wantErr(t, err, ErrEntriesClosed)

		// Two rerolls pick the two others, a third finds nobody left.
		first := dv.Winners[0].EntryNumber
		seen := map[int64]bool{first: true}
		r1 := must[DrawView](t)(e.svc.RerollGiveaway(ctx, user("host"), m.ID, open.ID, RerollInput{Reason: "no answer", Replace: first}))
		_, err = e.svc.RerollGiveaway(ctx, user("host"), m.ID, open.ID, RerollInput{Reason: "again", Replace: first})
		if ae, ok := apperr.As(err); !ok || ae.Kind != apperr.Invalid {
			t.Fatalf("replacing a replaced winner: %v", err)
		}
		r2 := must[DrawView](t)(e.svc.RerollGiveaway(ctx, user("host"), m.ID, open.ID, RerollInput{Reason: "second prize"}))
		for _, r := range []DrawView{r1, r2} {
			w := r.Winners[0].EntryNumber
			if seen[w] {
				t.Fatalf("reroll picked %d again", w)
			}
			seen[w] = true
		}
		_, err = e.svc.RerollGiveaway(ctx, user("host"), m.ID, open.ID, RerollInput{Reason: "third"})
		wantErr(t, err, ErrNoEntries)

		gv := must[GiveawayView](t)(e.svc.Giveaway(ctx, user("cyd"), m.ID, open.ID))
		if len(gv.Winners) != 3 || !gv.Winners[0].Replaced || gv.Rerolls != 2 || gv.EntryCount != 3 {
			t.Fatalf("giveaway %+v", gv)
		}
		if gv.MyEntryNumber != 3 {
			t.Fatalf("cyd's entry number %d", gv.MyEntryNumber)
		}
		list := must[[]GiveawayView](t)(e.svc.Giveaways(ctx, user("ann"), m.ID))
		if len(list) != 1 || list[0].ID != open.ID || list[0].MyEntryNumber != 1 {
			t.Fatalf("list %+v", list)
		}

		// Anyone who took part gets the proof, and it recomputes every round.
		_, err = e.svc.GiveawayProof(ctx, user("stranger"), m.ID, open.ID)
		wantErr(t, err, ErrForbidden)
		p := must[GiveawayProof](t)(e.svc.GiveawayProof(ctx, user("bob"), m.ID, open.ID))
		if len(p.Rounds) != 3 || len(p.Entries) != 3 || p.Algorithm != GiveawayAlgorithm {
			t.Fatalf("proof %+v", p)
		}
		verifyProof(t, p)
	})
}

// The window's end closes the giveaway; bonus weights count time in the meeting.
func TestGiveawayWindowAndBonus(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		m := e.liveMeeting(t, "early")
		e.clock.Advance(10 * time.Minute)
		e.join(t, user("late"), m.ID)
		in := giveawayInput()
		in.Bonus = &Bonus{MinMinutes: 5, Weight: 3}
		g := must[GiveawayView](t)(e.svc.OpenGiveaway(ctx, user("host"), m.ID, in))
		must[EntryView](t)(e.svc.EnterGiveaway(ctx, user("early"), m.ID, g.ID, EnterInput{}))
		must[EntryView](t)(e.svc.EnterGiveaway(ctx, user("late"), m.ID, g.ID, EnterInput{}))
		if n := must[int](t)(e.svc.CloseDueGiveaways(ctx)); n != 0 {
			t.Fatalf("closed %d before the window's end", n)
		}
		e.clock.Advance(time.Minute)
		_, err := e.svc.EnterGiveaway(ctx, user("host"), m.ID, g.ID, EnterInput{})
		wantErr(t, err, ErrEntriesClosed)
		if n := must[int](t)(e.svc.CloseDueGiveaways(ctx)); n != 1 {
			t.Fatalf("closed %d at the window's end", n)
		}
		gv := must[GiveawayView](t)(e.svc.Giveaway(ctx, user("early"), m.ID, g.ID))
		if gv.Status != GiveawayClosed || !gv.ClosedAt.Equal(gv.ClosesAt) {
			t.Fatalf("after the window: %+v", gv)
		}
		page := must[EntryPage](t)(e.svc.GiveawayEntries(ctx, user("early"), m.ID, g.ID, 1, 10))
		if page.Items[1].Weight != 3 || page.Items[0].Weight != 1 {
			t.Fatalf("weights %+v", page.Items)
		}
		_, err = e.svc.CloseGiveaway(ctx, user("host"), m.ID, g.ID)
		wantErr(t, err, ErrEntriesClosed)
		must[DrawView](t)(e.svc.DrawGiveaway(ctx, user("host"), m.ID, g.ID))
		p := must[GiveawayProof](t)(e.svc.GiveawayProof(ctx, user("late"), m.ID, g.ID))
		if !slices.Equal(p.Entries, []WeightedEntry{{1, 3}, {2, 1}}) {
			t.Fatalf("proof entries %+v", p.Entries)
		}
		verifyProof(t, p)
	})
}

// The service's closer closes a giveaway at its window's end without being asked.
func TestGiveawayCloser(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, Migrations()...))
	m := e.liveMeeting(t, "ann")
	g := must[GiveawayView](t)(e.svc.OpenGiveaway(ctx, user("host"), m.ID, giveawayInput()))
	e.svc.Start()
	e.clock.Advance(2 * time.Minute)
	e.svc.wakeGiveaways()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.EventsOf(EventGiveawayClosed)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the closer did not close the giveaway")
		}
		time.Sleep(10 * time.Millisecond)
	}
	gv := must[GiveawayView](t)(e.svc.Giveaway(ctx, user("ann"), m.ID, g.ID))
	if gv.Status != GiveawayClosed {
		t.Fatalf("status %s", gv.Status)
	}
	e.svc.Close()
}

// 200 users racing to enter, each twice at once: each enters once, and the entry numbers run
// 1..200 without gaps.
func TestRaceGiveawayEntries(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		const users = 200
		m := e.create(t, user("host"), func(in *CreateInput) { in.IsPublic = true; in.MaxParticipants = intp(MaxParticipants) })
		e.join(t, user("host"), m.ID)
		for i := range users {
			e.join(t, user(fmt.Sprintf("racer%03d", i)), m.ID)
		}
		g := must[GiveawayView](t)(e.svc.OpenGiveaway(ctx, user("host"), m.ID, giveawayInput()))
		var (
			wg         sync.WaitGroup
			mu         sync.Mutex
			ok, dup    int
			numbers    []int64
			unexpected []error
		)
		for i := range 2 * users {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ev, err := e.svc.EnterGiveaway(ctx, user(fmt.Sprintf("racer%03d", i%users)), m.ID, g.ID, EnterInput{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
					numbers = append(numbers, ev.EntryNumber)
				case errors.Is(err, ErrAlreadyEntered):
					dup++
				default:
					unexpected = append(unexpected, err)
				}
			}(i)
		}
		wg.Wait()
		if len(unexpected) > 0 {
			t.Fatalf("unexpected errors: %v", unexpected[0])
		}
		slices.Sort(numbers)
		for i, n := range numbers {
			if n != int64(i+1) {
				t.Fatalf("entry numbers %v", numbers)
			}
		}
		if ok != users || dup != users {
			t.Fatalf("%d entered, %d duplicates", ok, dup)
		}
		// The database itself refuses a second entry of a user.
		err := NewStore(e.db).insertEntry(&GiveawayEntry{ID: newID(), GiveawayID: g.ID, MeetingID: m.ID,
			UserID: user("racer000").UserID, EntryNumber: 1000, Weight: 1, EnteredAt: time.Now()})
		if err == nil {
			t.Fatal("a duplicate entry was stored")
		}
	})
}
