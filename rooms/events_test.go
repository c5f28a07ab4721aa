package rooms

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

func TestSubject(t *testing.T) {
	if got := Subject("abc"); got != "onstage.meetings.abc.events" {
		t.Fatalf("subject = %q", got)
	}
}

// Events arrive on the bus, in order, with their payloads.
func TestEventsOnBus(t *testing.T) {
	b, err := bus.Open(ctx, bus.Params{Name: "rooms-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		svc := NewService(ServiceParams{Store: NewStore(gdb), Cache: cache.NewMemory(), Bus: b,
			Config: config.Meetings{ExpiryGrace: time.Minute, SweepInterval: time.Minute}, NodeID: "node-a"})
		msgs := make(chan *nats.Msg, 64)
		sub, err := b.Conn().ChanSubscribe(SubjectAll, msgs)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := b.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
		alice, bob := user("alice"), user("bob")
		m, err := svc.Create(ctx, alice, CreateInput{Title: "t", StartTime: time.Now(), DurationMinutes: 10})
		if err != nil {
			t.Fatal(err)
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		_, err = svc.Join(ctx, alice, m.ID, JoinInput{})
		must(err)
		res, err := svc.Join(ctx, bob, m.ID, JoinInput{})
		must(err)
		bp := res.Participant.ParticipantID
		_, err = svc.PostChat(ctx, bob, m.ID, "hello", "")
		must(err)
		_, err = svc.SetMedia(ctx, bob, m.ID, "", SourceMicrophone, false)
		must(err)
		_, err = svc.SetRole(ctx, alice, m.ID, ByUser(bob.UserID), RoleCohost)
		must(err)
		must(svc.Leave(ctx, alice, m.ID)) // bob becomes host
		_, err = svc.End(ctx, bob, m.ID)
		must(err)

		want := []EventType{EventParticipantJoined, EventParticipantJoined, EventChat, EventMediaState,
			EventRoleChanged, EventParticipantLeft, EventRoleChanged, EventMeetingEnded}
		var got []Event
		for range want {
			select {
			case msg := <-msgs:
				if msg.Subject != Subject(m.ID) {
					t.Fatalf("subject %q", msg.Subject)
				}
				var ev Event
				if err := json.Unmarshal(msg.Data, &ev); err != nil {
					t.Fatal(err)
				}
				got = append(got, ev)
			case <-time.After(5 * time.Second):
				t.Fatalf("got %d events, want %d", len(got), len(want))
			}
		}
		for i, ev := range got {
			if ev.Type != want[i] || ev.MeetingID != m.ID || ev.Origin != "node-a" || ev.At.IsZero() {
				t.Fatalf("event %d = %+v, want %s", i, ev, want[i])
			}
		}
		if p := got[1].Participant; p == nil || p.UserID != bob.UserID || p.Role != RoleParticipant || !p.Online {
			t.Fatalf("joined = %+v", got[1])
		}
		if c := got[2].Chat; c == nil || c.Seq != 1 || c.Text != "hello" || c.From != bp || c.FromName != "bob" {
			t.Fatalf("chat = %+v", got[2].Chat)
		}
		if md := got[3].Media; md == nil || md.ParticipantID != bp || md.Source != SourceMicrophone || md.Muted {
			t.Fatalf("media = %+v", got[3].Media)
		}
		if got[4].ParticipantID != bp || got[4].Role != RoleCohost {
			t.Fatalf("role = %+v", got[4])
		}
		if got[5].Reason != ReasonLeft || got[5].ParticipantID == "" {
			t.Fatalf("left = %+v", got[5])
		}
		if got[6].ParticipantID != bp || got[6].Role != RoleHost {
			t.Fatalf("hand-over = %+v", got[6])
		}
		if got[7].Reason != ReasonHostEnded {
			t.Fatalf("ended = %+v", got[7])
		}
	}, Migrations()...)
}

// A closed bus never fails a request.
func TestClosedBusDoesNotFail(t *testing.T) {
	b, err := bus.Open(ctx, bus.Params{Name: "rooms-test-closed"})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	svc := NewService(ServiceParams{Store: NewStore(dbtest.Open(t, Migrations()...)), Bus: b})
	m, err := svc.Create(ctx, user("alice"), CreateInput{Title: "t", StartTime: time.Now(), DurationMinutes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Join(ctx, user("alice"), m.ID, JoinInput{}); err != nil {
		t.Fatal(err)
	}
}
