package rooms

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/onstagehq/onstage/internal/authn"
)

// 50 users racing for 10 seats: exactly 10 get in, the rest get ErrMeetingFull.
func TestRaceSeats(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		m := e.create(t, user("owner"), func(in *CreateInput) { in.MaxParticipants = intp(10) })
		var (
			wg             sync.WaitGroup
			mu             sync.Mutex
			joined, full   int
			unexpectedErrs []error
		)
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := e.svc.Join(ctx, user(fmt.Sprintf("racer%02d", i)), m.ID, JoinInput{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					joined++
				case errors.Is(err, ErrMeetingFull):
					full++
				default:
					unexpectedErrs = append(unexpectedErrs, err)
				}
			}(i)
		}
		wg.Wait()
		if len(unexpectedErrs) > 0 {
			t.Fatalf("unexpected errors: %v", unexpectedErrs)
		}
		n, err := NewStore(e.db).countActive(m.ID)
		if joined != 10 || full != 40 || err != nil || n != 10 {
			t.Fatalf("joined %d, full %d, active %d (%v)", joined, full, n, err)
		}
	})
}

// The same user joining twice at once gets in once.
func TestRaceDuplicateJoin(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		m := e.create(t, user("owner"), nil)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, errs[i] = e.svc.Join(ctx, user("twin"), m.ID, JoinInput{})
			}(i)
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, ErrAlreadyJoined) {
				t.Fatalf("unexpected: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d joins succeeded", ok)
		}
	})
}

// Two simultaneous "last leaves" end the meeting exactly once.
func TestRaceLastLeaves(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		for round := 0; round < 5; round++ {
			a, b := user(fmt.Sprintf("a%d", round)), user(fmt.Sprintf("b%d", round))
			m := e.create(t, a, nil)
			e.join(t, a, m.ID)
			e.join(t, b, m.ID)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, u := range []authn.Identity{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = e.svc.Leave(ctx, u, m.ID)
				}()
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("leaves: %v", errs)
			}
			got := e.meeting(t, m.ID)
			if got.Status != StatusEnded || got.EndReason != ReasonLastLeft {
				t.Fatalf("meeting = %+v", got)
			}
			ended := 0
			for _, ev := range e.EventsOf(EventMeetingEnded) {
				if ev.MeetingID == m.ID {
					ended++
				}
			}
			if ended != 1 {
				t.Fatalf("meeting ended %d times", ended)
			}
		}
	})
}

// A join racing an end never leaves a participant in an ended meeting.
func TestRaceJoinVersusEnd(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		for round := 0; round < 5; round++ {
			host := user(fmt.Sprintf("host%d", round))
			m := e.create(t, host, nil)
			e.join(t, host, m.ID)
			var wg sync.WaitGroup
			joinErrs := make([]error, 10)
			var endErr error
			for i := range joinErrs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, joinErrs[i] = e.svc.Join(ctx, user(fmt.Sprintf("j%d-%d", round, i)), m.ID, JoinInput{})
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, endErr = e.svc.End(ctx, host, m.ID)
			}()
			wg.Wait()
			if endErr != nil {
				t.Fatalf("end: %v", endErr)
			}
			for _, err := range joinErrs {
				if err != nil && !errors.Is(err, ErrMeetingEnded) {
					t.Fatalf("join: %v", err)
				}
			}
			if n, _ := NewStore(e.db).countActive(m.ID); n != 0 {
				t.Fatalf("%d participants left in an ended meeting", n)
			}
		}
	})
}

// Concurrent chat gets seqs 1..N without gaps or duplicates.
func TestRaceChatSeq(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		m := e.create(t, user("owner"), nil)
		var ps []ParticipantView
		for i := 0; i < 5; i++ {
			ps = append(ps, e.join(t, user(fmt.Sprintf("c%d", i)), m.ID).Participant)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[int64]bool{}
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for k := 0; k < 8; k++ {
					to := ""
					if k%3 == 0 {
						to = ps[(i+1)%5].ParticipantID
					}
					c, err := e.svc.PostChat(ctx, user(fmt.Sprintf("c%d", i)), m.ID, "msg", to)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seen[c.Seq] = true
					mu.Unlock()
				}
			}(i)
		}
		wg.Wait()
		for s := int64(1); s <= 40; s++ {
			if !seen[s] {
				t.Fatalf("seq %d missing (%d seen)", s, len(seen))
			}
		}
	})
}
