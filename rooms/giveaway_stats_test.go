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

// Two nodes on one bus and one database count each entry once (a NATS queue group).
func TestGiveawayStatsCountedOncePerCluster(t *testing.T) {
	b, err := bus.Open(ctx, bus.Params{Name: "rooms-test-giveaway-stats-2"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	gdb := dbtest.Open(t, Migrations()...)
	var nodes []*Service
	for _, id := range []string{"n1", "n2"} {
		svc := NewService(ServiceParams{Store: NewStore(gdb), Bus: b, NodeID: id})
		svc.Start()
		t.Cleanup(svc.Close)
		nodes = append(nodes, svc)
	}
	host := user("host")
	m := must[MeetingView](t)(nodes[0].Create(ctx, host, CreateInput{Title: "t", StartTime: time.Now(), DurationMinutes: 60}))
	must[JoinResult](t)(nodes[0].Join(ctx, host, m.ID, JoinInput{}))
	g := must[GiveawayView](t)(nodes[0].OpenGiveaway(ctx, host, m.ID, giveawayInput()))
	const n = 20
	for i := range n {
		u := user(fmt.Sprint("fan", i))
		svc := nodes[i%2]
		must[JoinResult](t)(svc.Join(ctx, u, m.ID, JoinInput{}))
		must[EntryView](t)(svc.EnterGiveaway(ctx, u, m.ID, g.ID, EnterInput{}))
	}
	var st GiveawayStats
	deadline := time.Now().Add(10 * time.Second)
	for st.Total < n {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
		st = must[GiveawayStats](t)(nodes[1].GiveawayStatistics(ctx, host, m.ID))
	}
	// Give a double count time to show.
	time.Sleep(200 * time.Millisecond)
	if st = must[GiveawayStats](t)(nodes[1].GiveawayStatistics(ctx, host, m.ID)); st.Total != n {
		t.Fatalf("counted %d entries, want %d", st.Total, n)
	}
}
