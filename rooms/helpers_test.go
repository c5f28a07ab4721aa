package rooms

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fakeUsers map[string]string

func (f fakeUsers) DisplayNames(_ context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, id := range ids {
		if n, ok := f[id]; ok {
			out[id] = n
		}
	}
	return out, nil
}

type testEnv struct {
	svc   *Service
	db    *gorm.DB
	cache *cache.Memory
	clock *fakeClock

	mu     sync.Mutex
	events []Event
}

func (e *testEnv) Events() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.events...)
}

func (e *testEnv) EventsOf(t EventType) []Event {
	var out []Event
	for _, ev := range e.Events() {
		if ev.Type == t {
			out = append(out, ev)
		}
	}
	return out
}

func newEnv(t *testing.T, gdb *gorm.DB) *testEnv {
	t.Helper()
	e := &testEnv{db: gdb, cache: cache.NewMemory(),
		clock: &fakeClock{t: time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)}}
	t.Cleanup(func() { _ = e.cache.Close() })
	e.svc = NewService(ServiceParams{
		Store: NewStore(gdb), Cache: e.cache, Users: fakeUsers{"u-alice": "Alice A."},
		Config: config.Meetings{ExpiryGrace: 15 * time.Minute, SweepInterval: time.Minute},
		NodeID: "node-test", Now: e.clock.Now, PasswordCost: bcrypt.MinCost,
		OnEvent: func(ev Event) {
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		},
	})
	t.Cleanup(e.svc.Close)
	return e
}

// each runs fn against SQLite and, when configured, PostgreSQL.
func each(t *testing.T, fn func(t *testing.T, e *testEnv)) {
	t.Helper()
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) { fn(t, newEnv(t, gdb)) }, Migrations()...)
}

func user(name string) authn.Identity {
	return authn.Identity{UserID: "u-" + name, Role: authn.RolePlayer, Name: name}
}

func guest(name string) authn.Identity {
	return authn.Identity{UserID: "guest_" + name, Role: authn.RoleGuest, Name: name}
}

var ctx = context.Background()

func intp(n int) *int { return &n }

func (e *testEnv) create(t *testing.T, owner authn.Identity, mod func(*CreateInput)) MeetingView {
	t.Helper()
	in := CreateInput{Title: "Weekly sync", Description: "team", StartTime: e.clock.Now().Add(time.Hour), DurationMinutes: 60}
	if mod != nil {
		mod(&in)
	}
	m, err := e.svc.Create(ctx, owner, in)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return m
}

func (e *testEnv) join(t *testing.T, who authn.Identity, meetingID string) JoinResult {
	t.Helper()
	res, err := e.svc.Join(ctx, who, meetingID, JoinInput{})
	if err != nil {
		t.Fatalf("join %s: %v", who.UserID, err)
	}
	return res
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if w, ok := want.(*apperr.Error); ok {
		got, ok := apperr.As(err)
		if !ok || got.Kind != w.Kind {
			t.Fatalf("err = %v (kind %v), want kind %v", err, got, w.Kind)
		}
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func (e *testEnv) meeting(t *testing.T, id string) *Meeting {
	t.Helper()
	m, err := NewStore(e.db).meeting(id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *testEnv) participants(t *testing.T, meetingID string) []Participant {
	t.Helper()
	var ps []Participant
	if err := e.db.Where("meeting_id = ?", meetingID).Order("joined_at, id").Find(&ps).Error; err != nil {
		t.Fatal(err)
	}
	return ps
}

func roleOf(t *testing.T, e *testEnv, meetingID, userID string) Role {
	t.Helper()
	p, err := e.svc.ActiveParticipant(ctx, meetingID, userID)
	if err != nil {
		t.Fatalf("active participant %s: %v", userID, err)
	}
	return p.Role
}

// handovers reads the meeting's recorded hand-overs, oldest first.
func (e *testEnv) handovers(meetingID string) ([]Handover, error) {
	var hs []Handover
	err := e.db.Where("meeting_id = ?", meetingID).Order("at, id").Find(&hs).Error
	return hs, err
}
