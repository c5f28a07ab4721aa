package rooms

import (
	"fmt"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// Entries are published on the bus and the projector counts them per minute and source.
func TestGiveawayStatsProjector(t *testing.T) {
	b, err := bus.Open(ctx, bus.Params{Name: "rooms-test-giveaway-stats"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	clock := &fakeClock{t: time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)}
	svc := NewService(ServiceParams{Store: NewStore(dbtest.Open(t, Migrations()...)), Bus: b, Now: clock.Now, NodeID: "n1"})
	svc.Start()
	t.Cleanup(svc.Close)
	host := user("host")
	m := must[MeetingView](t)(svc.Create(ctx, host, CreateInput{Title: "t", StartTime: clock.Now(), DurationMinutes: 60}))
	must[JoinResult](t)(svc.Join(ctx, host, m.ID, JoinInput{}))
	in := giveawayInput()
	in.EntrySeconds = 300
	g := must[GiveawayView](t)(svc.OpenGiveaway(ctx, host, m.ID, in))
	for i := range 5 {
		u := user(fmt.Sprint("fan", i))
		must[JoinResult](t)(svc.Join(ctx, u, m.ID, JoinInput{}))
		src := SourceREST
		if i%2 == 1 {
			src = SourceWebSocket
		}
		if i == 3 {
			clock.Advance(90 * time.Second)
		}
		must[EntryView](t)(svc.EnterGiveaway(ctx, u, m.ID, g.ID, EnterInput{Source: src}))
	}
	var st GiveawayStats
	deadline := time.Now().Add(10 * time.Second)
	for st.Total < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
		st = must[GiveawayStats](t)(svc.GiveawayStatistics(ctx, host, m.ID))
	}
	if st.PerSource[SourceREST] != 3 || st.PerSource[SourceWebSocket] != 2 || len(st.PerMinute) != 4 {
		t.Fatalf("stats %+v", st)
	}
	_, err = svc.GiveawayStatistics(ctx, user("stranger"), m.ID)
	wantErr(t, err, ErrForbidden)
}
