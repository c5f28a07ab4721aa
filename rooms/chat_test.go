package rooms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db/dbtest"
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

// Chats posted at once by many senders are published in strictly increasing seq, every seq
// from 1 up is used once, and each is stored before its event is seen.
func TestChatConcurrentSendersPublishInSeqOrder(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		const senders, per = 20, 50
		host := user("host")
		m := e.create(t, host, func(in *CreateInput) { in.MaxParticipants = intp(senders + 1) })
		e.join(t, host, m.ID)
		ids := make([]authn.Identity, senders)
		for i := range ids {
			ids[i] = user(fmt.Sprintf("s%d", i))
			e.join(t, ids[i], m.ID)
		}
		var wg sync.WaitGroup
		errs := make(chan error, senders*per)
		for _, who := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < per; j++ {
					if _, err := e.svc.PostChat(ctx, who, m.ID, fmt.Sprintf("%s %d", who.Name, j), ""); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var chats []ChatView
		for _, ev := range e.EventsOf(EventChat) {
			chats = append(chats, ev.ChatViews()...)
		}
		if len(chats) != senders*per {
			t.Fatalf("%d chats published, want %d", len(chats), senders*per)
		}
		for i, c := range chats {
			if c.Seq != int64(i+1) {
				t.Fatalf("chat %d has seq %d (previous %d): published out of order", i, c.Seq, chats[max(i-1, 0)].Seq)
			}
		}
		stored := must[[]ChatView](t)(e.svc.Messages(ctx, host, m.ID, 0, MaxChatLimit))
		stored = append(stored, must[[]ChatView](t)(e.svc.Messages(ctx, host, m.ID, MaxChatLimit, MaxChatLimit))...)
		if len(stored) != senders*per || stored[len(stored)-1].Seq != senders*per {
			t.Fatalf("%d stored chats", len(stored))
		}
		if got := e.meeting(t, m.ID).ChatSeq; got != senders*per {
			t.Fatalf("chat_seq = %d", got)
		}
	})
}

// A second service on the same database (another node, or this one after a restart)
// continues from the stored seq: seqs stay unique and without gaps.
func TestChatSeqContinuesAcrossServices(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		a, b := newEnv(t, gdb), newEnv(t, gdb)
		alice, bob := user("alice"), user("bob")
		m := a.create(t, alice, nil)
		a.join(t, alice, m.ID)
		b.join(t, bob, m.ID)
		var wg sync.WaitGroup
		for _, side := range []struct {
			e   *testEnv
			who authn.Identity
		}{{a, alice}, {b, bob}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 30; i++ {
					if _, err := side.e.svc.PostChat(ctx, side.who, m.ID, "x", ""); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		a.svc.Close() // a restart: the next chat starts from what is stored
		c := newEnv(t, gdb)
		if got := must[ChatView](t)(c.svc.PostChat(ctx, alice, m.ID, "after", "")); got.Seq != 61 {
			t.Fatalf("seq after restart = %d, want 61", got.Seq)
		}
		stored := must[[]ChatView](t)(c.svc.Messages(ctx, alice, m.ID, 0, MaxChatLimit))
		for i, cv := range stored {
			if cv.Seq != int64(i+1) {
				t.Fatalf("stored seqs: #%d is %d", i, cv.Seq)
			}
		}
		if len(stored) != 61 {
			t.Fatalf("%d stored", len(stored))
		}
		// Closed: no chat is accepted any more.
		_, err := a.svc.PostChat(ctx, alice, m.ID, "late", "")
		wantErr(t, err, apperr.ErrUnavailable)
	}, Migrations()...)
}

// One batch may hold chats that fail (a sender not in the meeting, a bad recipient) next to
// chats that succeed: each gets its own answer, and only the accepted ones take a seq.
func TestChatBatchAnswersEachSender(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob, eve := user("alice"), user("bob"), user("eve")
		m := e.create(t, alice, nil)
		e.join(t, alice, m.ID)
		bp := e.join(t, bob, m.ID).Participant.ParticipantID
		type out struct {
			who string
			cv  ChatView
			err error
		}
		res := make(chan out, 60)
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			for _, c := range []struct {
				who    authn.Identity
				to, id string
			}{{alice, "", "alice"}, {eve, "", "eve"}, {alice, "nope", "bad-to"}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cv, err := e.svc.PostChat(ctx, c.who, m.ID, "x", c.to)
					res <- out{c.id, cv, err}
				}()
			}
		}
		wg.Wait()
		close(res)
		seen := map[int64]bool{}
		for o := range res {
			switch o.who {
			case "alice":
				if o.err != nil || seen[o.cv.Seq] {
					t.Fatalf("alice: %+v %v", o.cv, o.err)
				}
				seen[o.cv.Seq] = true
			case "eve":
				wantErr(t, o.err, ErrNotInRoom)
			case "bad-to":
				wantErr(t, o.err, apperr.ErrValidation)
			}
		}
		for s := int64(1); s <= 20; s++ {
			if !seen[s] {
				t.Fatalf("seq %d missing: %v", s, seen)
			}
		}
		cv := must[ChatView](t)(e.svc.PostChat(ctx, alice, m.ID, "to bob", bp))
		if cv.Seq != 21 || cv.To != bp {
			t.Fatalf("private = %+v", cv)
		}
	})
}

func BenchmarkPostChat(b *testing.B) {
	gdb := dbtest.Open(b, Migrations()...)
	svc := NewService(ServiceParams{Store: NewStore(gdb), Cache: cache.NewMemory(),
		Config: config.Meetings{ExpiryGrace: time.Minute, SweepInterval: time.Minute}, NodeID: "bench", PasswordCost: bcrypt.MinCost})
	b.Cleanup(svc.Close)
	alice := user("alice")
	m, err := svc.Create(ctx, alice, CreateInput{Title: "t", StartTime: time.Now(), DurationMinutes: 10})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Join(ctx, alice, m.ID, JoinInput{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.PostChat(ctx, alice, m.ID, "hello", ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

type fixedOwner struct{ node string }

func (f *fixedOwner) Holder(context.Context, string) (string, error) { return f.node, nil }

// A chat posted on a node that does not own the meeting's room is written by the owner: its
// event comes from the owner, and the owner's errors reach the caller unchanged. When the
// owner does not answer, the chat is written where it was posted.
func TestChatForwardedToOwner(t *testing.T) {
	b, err := bus.Open(ctx, bus.Params{Name: "rooms-chat-route"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		owner := &fixedOwner{node: "node-b"}
		var mu sync.Mutex
		var origins []string
		svc := func(node string) *Service {
			s := NewService(ServiceParams{Store: NewStore(gdb), Cache: cache.NewMemory(), Bus: b, NodeID: node,
				Config: config.Meetings{ExpiryGrace: time.Minute, SweepInterval: time.Minute}, PasswordCost: bcrypt.MinCost,
				ChatOwners: owner, OnEvent: func(ev Event) {
					if ev.Type == EventChat {
						mu.Lock()
						origins = append(origins, ev.Origin)
						mu.Unlock()
					}
				}})
			t.Cleanup(s.Close)
			return s
		}
		a, _ := svc("node-a"), svc("node-b")
		alice, eve := user("alice"), user("eve")
		m, err := a.Create(ctx, alice, CreateInput{Title: "t", StartTime: time.Now(), DurationMinutes: 10})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Join(ctx, alice, m.ID, JoinInput{}); err != nil {
			t.Fatal(err)
		}
		if cv := must[ChatView](t)(a.PostChat(ctx, alice, m.ID, "hi", "")); cv.Seq != 1 || cv.Text != "hi" {
			t.Fatalf("forwarded chat = %+v", cv)
		}
		_, err = a.PostChat(ctx, eve, m.ID, "hi", "")
		wantErr(t, err, ErrNotInRoom)
		_, err = a.PostChat(ctx, alice, m.ID, "hi", "nobody")
		wantErr(t, err, apperr.ErrValidation)
		if e, _ := apperr.As(err); e.Fields["to"] == "" {
			t.Fatalf("fields lost on the way: %+v", e)
		}
		owner.node = "node-gone" // nobody answers for it
		if cv := must[ChatView](t)(a.PostChat(ctx, alice, m.ID, "still here", "")); cv.Seq != 2 {
			t.Fatalf("local fallback = %+v", cv)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(origins) != 2 || origins[0] != "node-b" || origins[1] != "node-a" {
			t.Fatalf("chat events published by %v, want node-b then node-a", origins)
		}
	}, Migrations()...)
}

// A meeting's chat queue is bounded: while its writer is stuck (here, on a lock another
// transaction holds), chats beyond the bound are refused with ErrChatBusy at once, and the
// queued ones are written when the writer is free again.
func TestChatQueueBound(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice := user("alice")
		m := e.create(t, alice, nil)
		e.join(t, alice, m.ID)
		hold := e.db.Begin()
		if err := hold.Exec("UPDATE meetings SET title = title WHERE id = ?", m.ID).Error; err != nil {
			t.Fatal(err)
		}
		const n = maxChatQueue + maxChatBatch + 50
		results := make(chan error, n)
		for range n {
			go func() {
				_, err := e.svc.PostChat(ctx, alice, m.ID, "x", "")
				results <- err
			}()
		}
		busy := 0
		deadline := time.After(5 * time.Second)
	wait:
		for busy == 0 {
			select {
			case err := <-results:
				wantErr(t, err, ErrChatBusy)
				busy++
			case <-deadline:
				break wait
			}
		}
		if err := hold.Commit().Error; err != nil {
			t.Fatal(err)
		}
		if busy == 0 {
			t.Fatal("no chat was refused while the writer was stuck")
		}
		stored := 0
		for range n - busy {
			if err := <-results; err == nil {
				stored++
			} else if !errors.Is(err, ErrChatBusy) {
				t.Fatal(err)
			} else {
				busy++
			}
		}
		if got := e.meeting(t, m.ID).ChatSeq; got != int64(stored) || stored < maxChatQueue {
			t.Fatalf("chat_seq %d, %d stored, %d refused", got, stored, busy)
		}
	})
}

// A chat for a meeting that does not exist holds no writer afterwards.
func TestChatUnknownMeetingHoldsNoWriter(t *testing.T) {
	e := newEnv(t, dbtest.Open(t, Migrations()...))
	for i := range 20 {
		_, err := e.svc.PostChat(ctx, user("alice"), fmt.Sprintf("nope-%d", i), "hi", "")
		wantErr(t, err, ErrNotFound)
	}
	deadline := time.Now().Add(chatWriterIdle / 2) // well before an idle writer would exit
	for {
		e.svc.chatMu.Lock()
		n := len(e.svc.chatWriters.byMeeting)
		e.svc.chatMu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writers left for unknown meetings", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
