package rooms

import (
	"gorm.io/gorm"
	"strings"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache"
)

func TestCreateValidation(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		start := e.clock.Now().Add(time.Hour)
		ok := CreateInput{Title: "T", StartTime: start, DurationMinutes: 60}
		cases := []struct {
			name  string
			mod   func(*CreateInput)
			field string
		}{
			{"empty title", func(in *CreateInput) { in.Title = "  " }, "title"},
			{"long title", func(in *CreateInput) { in.Title = strings.Repeat("é", 201) }, "title"},
			{"nul title", func(in *CreateInput) { in.Title = "a\x00b" }, "title"},
			{"no start", func(in *CreateInput) { in.StartTime = time.Time{} }, "start_time"},
			{"zero duration", func(in *CreateInput) { in.DurationMinutes = 0 }, "duration_minutes"},
			{"long duration", func(in *CreateInput) { in.DurationMinutes = 481 }, "duration_minutes"},
			{"capacity 1", func(in *CreateInput) { in.MaxParticipants = intp(1) }, "max_participants"},
			{"capacity 1001", func(in *CreateInput) { in.MaxParticipants = intp(1001) }, "max_participants"},
			{"long password", func(in *CreateInput) { in.Password = strings.Repeat("x", 73) }, "password"},
		}
		for _, c := range cases {
			in := ok
			c.mod(&in)
			_, err := e.svc.Create(ctx, user("alice"), in)
			ae, isApp := apperr.As(err)
			if !isApp || ae.Kind != apperr.Invalid || ae.Fields[c.field] == "" {
				t.Errorf("%s: err = %v, want validation on %s", c.name, err, c.field)
			}
		}
		_, err := e.svc.Create(ctx, guest("g"), ok)
		wantErr(t, err, ErrForbidden)

		for _, n := range []int{2, 1000} {
			in := ok
			in.MaxParticipants = intp(n)
			must[MeetingView](t)(e.svc.Create(ctx, user("alice"), in))
		}
		in := ok
		in.Title, in.DurationMinutes = strings.Repeat("é", 200), 480
		m := must[MeetingView](t)(e.svc.Create(ctx, user("alice"), in))
		if m.MaxParticipants != DefaultCapacity || m.Status != StatusScheduled || m.StatusText != "Not started" {
			t.Fatalf("meeting = %+v", m)
		}
		if m.Creator.ID != "u-alice" || m.Creator.DisplayName != "Alice A." || m.HasPassword {
			t.Fatalf("creator/password = %+v", m)
		}
	})
}

func TestCreateCodeCachePassword(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		codes := map[string]bool{}
		for i := 0; i < 40; i++ {
			m := e.create(t, user("alice"), nil)
			if len(m.Code) != 6 || strings.Trim(m.Code, codeAlphabet) != "" {
				t.Fatalf("code %q", m.Code)
			}
			if codes[m.Code] {
				t.Fatalf("duplicate code %q", m.Code)
			}
			codes[m.Code] = true
		}
		m := e.create(t, user("alice"), func(in *CreateInput) { in.Password = "s3cret" })
		if !m.HasPassword {
			t.Fatal("has_password false")
		}
		stored := e.meeting(t, m.ID)
		if stored.PasswordHash == "" || strings.Contains(stored.PasswordHash, "s3cret") {
			t.Fatalf("password stored as %q", stored.PasswordHash)
		}
		if _, err := e.cache.Get(ctx, cacheKeyMeeting+m.ID); err != nil {
			t.Fatalf("meeting not cached: %v", err)
		}
		if id, err := e.cache.Get(ctx, cacheKeyCode+m.Code); err != nil || string(id) != m.ID {
			t.Fatalf("code not cached: %q %v", id, err)
		}

		sum := must[MeetingSummary](t)(e.svc.ByCode(ctx, strings.ToLower(m.Code)))
		if sum.ID != m.ID || !sum.HasPassword || sum.Status != StatusScheduled {
			t.Fatalf("by code = %+v", sum)
		}
		// Served from the database when the cache has lost it.
		_ = e.cache.Del(ctx, cacheKeyCode+m.Code)
		if sum := must[MeetingSummary](t)(e.svc.ByCode(ctx, m.Code)); sum.ID != m.ID {
			t.Fatalf("by code = %+v", sum)
		}
		for _, code := range []string{"", "ZZZZZZ", "toolongcode", "\xff\xfe\x00abc"} {
			_, err := e.svc.ByCode(ctx, code)
			wantErr(t, err, ErrNotFound)
		}
	})
}

// A code collision is retried; a generator that only collides gives up with ErrCodeExhausted.
func TestCreateRetriesCodeCollision(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		first := e.create(t, user("alice"), nil)
		calls := 0
		e.svc.newCode = func() string {
			calls++
			if calls <= 3 {
				return first.Code
			}
			return newCode()
		}
		second := e.create(t, user("alice"), nil)
		if second.Code == first.Code || calls != 4 {
			t.Fatalf("code %s after %d tries", second.Code, calls)
		}
		e.svc.newCode = func() string { return first.Code }
		_, err := e.svc.Create(ctx, user("alice"), CreateInput{Title: "x", StartTime: e.clock.Now(), DurationMinutes: 5})
		wantErr(t, err, ErrCodeExhausted)
	})
}

func TestJoinRules(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob := user("alice"), user("bob")
		m := e.create(t, alice, func(in *CreateInput) { in.Password = "pw"; in.MaxParticipants = intp(3) })

		_, err := e.svc.Join(ctx, bob, "no-such-meeting", JoinInput{})
		wantErr(t, err, ErrNotFound)
		_, err = e.svc.Join(ctx, bob, m.ID, JoinInput{Password: "wrong"})
		wantErr(t, err, ErrWrongPassword)
		_, err = e.svc.Join(ctx, bob, m.ID, JoinInput{})
		wantErr(t, err, ErrWrongPassword)
		_, err = e.svc.Join(ctx, guest("g"), m.ID, JoinInput{Password: "pw"})
		wantErr(t, err, ErrForbidden)

		e.clock.Advance(time.Minute)
		res := must[JoinResult](t)(e.svc.Join(ctx, bob, m.ID, JoinInput{Password: "pw"}))
		if res.Participant.Role != RoleParticipant || res.Meeting.Status != StatusLive || res.Meeting.ActualStart == nil {
			t.Fatalf("bob's join = %+v", res)
		}
		if !res.Meeting.ActualStart.Equal(e.clock.Now()) {
			t.Fatalf("actual_start = %v", res.Meeting.ActualStart)
		}
		_, err = e.svc.Join(ctx, bob, m.ID, JoinInput{Password: "pw"})
		wantErr(t, err, ErrAlreadyJoined)

		// The creator needs no password and joins as host.
		res = e.join(t, alice, m.ID)
		if res.Participant.Role != RoleHost || len(res.Participants) != 2 || res.Meeting.OnlineCount != 2 {
			t.Fatalf("alice's join = %+v", res)
		}
		must[JoinResult](t)(e.svc.Join(ctx, user("carol"), m.ID, JoinInput{Password: "pw", DisplayName: " Carol C "}))
		if p := must[ParticipantView](t)(e.svc.ActiveParticipant(ctx, m.ID, "u-carol")); p.DisplayName != "Carol C" {
			t.Fatalf("display name %q", p.DisplayName)
		}
		_, err = e.svc.Join(ctx, user("dave"), m.ID, JoinInput{Password: "pw"})
		wantErr(t, err, ErrMeetingFull)
		_, err = e.svc.Join(ctx, user("dave"), m.ID, JoinInput{Password: "pw", DisplayName: strings.Repeat("x", 65)})
		if ae, _ := apperr.As(err); ae == nil || ae.Fields["display_name"] == "" {
			t.Fatalf("long display name: %v", err)
		}

		must[MeetingView](t)(e.svc.End(ctx, alice, m.ID))
		_, err = e.svc.Join(ctx, user("dave"), m.ID, JoinInput{Password: "pw"})
		wantErr(t, err, ErrMeetingEnded)

		c := e.create(t, alice, nil)
		must[MeetingView](t)(e.svc.Update(ctx, alice, c.ID, UpdateInput{Status: new(StatusCancelled)}))
		_, err = e.svc.Join(ctx, bob, c.ID, JoinInput{})
		wantErr(t, err, ErrMeetingEnded)

		pub := e.create(t, alice, func(in *CreateInput) { in.IsPublic = true })
		res = must[JoinResult](t)(e.svc.Join(ctx, guest("gina"), pub.ID, JoinInput{}))
		if res.Participant.UserID != "guest_gina" || res.Participant.DisplayName != "gina" {
			t.Fatalf("guest join = %+v", res.Participant)
		}
		res = must[JoinResult](t)(e.svc.Join(ctx, guest("gus"), pub.ID, JoinInput{DisplayName: "Gus the Guest"}))
		if res.Participant.DisplayName != "Gus the Guest" {
			t.Fatalf("guest display name = %q", res.Participant.DisplayName)
		}
	})
}

func TestJoinReturnsChatHistory(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob := user("alice"), user("bob")
		m := e.create(t, alice, nil)
		e.join(t, alice, m.ID)
		for i := 0; i < 55; i++ {
			must[ChatView](t)(e.svc.PostChat(ctx, alice, m.ID, "hello", ""))
		}
		res := e.join(t, bob, m.ID)
		if len(res.ChatHistory) != 50 || res.ChatHistory[0].Seq != 6 || res.ChatHistory[49].Seq != 55 {
			t.Fatalf("history: %d items, first %+v", len(res.ChatHistory), res.ChatHistory[0])
		}
	})
}

func TestLeaveAndHandover(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob, carol, dave := user("alice"), user("bob"), user("carol"), user("dave")
		m := e.create(t, alice, nil)
		err := e.svc.Leave(ctx, bob, m.ID)
		wantErr(t, err, ErrNotInRoom)
		wantErr(t, e.svc.Leave(ctx, bob, "nope"), ErrNotFound)

		e.join(t, alice, m.ID)
		e.clock.Advance(time.Second)
		e.join(t, bob, m.ID)
		e.clock.Advance(time.Second)
		e.join(t, carol, m.ID)
		e.clock.Advance(time.Second)
		e.join(t, dave, m.ID)
		// Carol is a co-host, so she gets the host role although Bob has been there longer.
		must[ParticipantView](t)(e.svc.SetRole(ctx, alice, m.ID, ByUser(carol.UserID), RoleCohost))
		if err := e.svc.Leave(ctx, alice, m.ID); err != nil {
			t.Fatal(err)
		}
		if r := roleOf(t, e, m.ID, carol.UserID); r != RoleHost {
			t.Fatalf("carol = %s, want host", r)
		}
		// Without co-hosts the longest-present participant gets it.
		if err := e.svc.Leave(ctx, carol, m.ID); err != nil {
			t.Fatal(err)
		}
		if r := roleOf(t, e, m.ID, bob.UserID); r != RoleHost {
			t.Fatalf("bob = %s, want host", r)
		}
		hs, err := e.handovers(m.ID)
		if err != nil || len(hs) != 2 || hs[0].ToUserID != carol.UserID || hs[1].FromUserID != carol.UserID || hs[1].ToUserID != bob.UserID || hs[1].Reason != ReasonLeft {
			t.Fatalf("handovers = %+v, %v", hs, err)
		}
		// A plain participant leaving hands nothing over.
		if err := e.svc.Leave(ctx, dave, m.ID); err != nil {
			t.Fatal(err)
		}
		if st := e.meeting(t, m.ID).Status; st != StatusLive {
			t.Fatalf("status %s", st)
		}
		// The last one out ends the meeting.
		if err := e.svc.Leave(ctx, bob, m.ID); err != nil {
			t.Fatal(err)
		}
		got := e.meeting(t, m.ID)
		if got.Status != StatusEnded || got.EndReason != ReasonLastLeft || got.ActualEnd == nil {
			t.Fatalf("meeting = %+v", got)
		}
		for _, p := range e.participants(t, m.ID) {
			if p.Active() {
				t.Fatalf("participant %s still active", p.UserID)
			}
		}
		if _, err := e.cache.Get(ctx, cacheKeyMeeting+m.ID); err != cache.ErrMiss {
			t.Fatalf("cache not cleared: %v", err)
		}
		wantErr(t, e.svc.Leave(ctx, bob, m.ID), ErrNotInRoom)
		if evs := e.EventsOf(EventMeetingEnded); len(evs) != 1 || evs[0].Reason != ReasonLastLeft {
			t.Fatalf("meeting_ended events = %+v", evs)
		}
		// A participant may rejoin a live meeting after leaving (not after it ended).
		m2 := e.create(t, alice, nil)
		e.join(t, alice, m2.ID)
		e.join(t, bob, m2.ID)
		if err := e.svc.Leave(ctx, bob, m2.ID); err != nil {
			t.Fatal(err)
		}
		e.join(t, bob, m2.ID)
	})
}

func TestEnd(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob, carol, eve := user("alice"), user("bob"), user("carol"), user("eve")
		m := e.create(t, alice, nil)
		_, err := e.svc.End(ctx, alice, "nope")
		wantErr(t, err, ErrNotFound)
		e.join(t, alice, m.ID)
		e.join(t, bob, m.ID)
		e.join(t, carol, m.ID)
		_, err = e.svc.End(ctx, bob, m.ID)
		wantErr(t, err, ErrForbidden)
		_, err = e.svc.End(ctx, eve, m.ID)
		wantErr(t, err, ErrForbidden)
		must[ParticipantView](t)(e.svc.SetRole(ctx, alice, m.ID, ByUser(carol.UserID), RoleCohost))
		e.clock.Advance(time.Minute)
		ended := must[MeetingView](t)(e.svc.End(ctx, carol, m.ID))
		if ended.Status != StatusEnded || ended.StatusText != "Ended" || ended.ActualEnd == nil ||
			!ended.ActualEnd.Equal(e.clock.Now()) || ended.EndReason != ReasonHostEnded || ended.OnlineCount != 0 {
			t.Fatalf("ended = %+v", ended)
		}
		for _, p := range e.participants(t, m.ID) {
			if p.Active() || p.LeaveReason != ReasonMeetingEnded {
				t.Fatalf("participant %+v", p)
			}
		}
		if _, err := e.cache.Get(ctx, cacheKeyCode+m.Code); err != cache.ErrMiss {
			t.Fatalf("cache not cleared: %v", err)
		}
		_, err = e.svc.End(ctx, alice, m.ID)
		wantErr(t, err, ErrAlreadyEnded)
		_, err = e.svc.End(ctx, eve, m.ID)
		wantErr(t, err, ErrForbidden)
		if evs := e.EventsOf(EventMeetingEnded); len(evs) != 1 || evs[0].Reason != ReasonHostEnded {
			t.Fatalf("meeting_ended events = %+v", evs)
		}
	})
}

func TestGetPermissions(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob, eve := user("alice"), user("bob"), user("eve")
		priv := e.create(t, alice, nil)
		pub := e.create(t, alice, func(in *CreateInput) { in.IsPublic = true })
		_, err := e.svc.Get(ctx, alice, "nope")
		wantErr(t, err, ErrNotFound)

		got := must[MeetingView](t)(e.svc.Get(ctx, alice, priv.ID))
		if got.Creator.DisplayName != "Alice A." || got.StatusText != "Not started" {
			t.Fatalf("get = %+v", got)
		}
		_, err = e.svc.Get(ctx, eve, priv.ID)
		wantErr(t, err, ErrForbidden)
		_, err = e.svc.Participants(ctx, eve, priv.ID)
		wantErr(t, err, ErrForbidden)
		must[MeetingView](t)(e.svc.Get(ctx, eve, pub.ID))
		must[MeetingView](t)(e.svc.Get(ctx, guest("g"), pub.ID))

		e.join(t, alice, priv.ID)
		e.join(t, bob, priv.ID)
		got = must[MeetingView](t)(e.svc.Get(ctx, bob, priv.ID))
		if got.OnlineCount != 2 || got.StatusText != "In progress" {
			t.Fatalf("get = %+v", got)
		}
		ps := must[[]ParticipantView](t)(e.svc.Participants(ctx, bob, priv.ID))
		if len(ps) != 2 || ps[0].Role != RoleHost || !ps[0].Online {
			t.Fatalf("participants = %+v", ps)
		}
		// A past participant still may.
		if err := e.svc.Leave(ctx, bob, priv.ID); err != nil {
			t.Fatal(err)
		}
		must[MeetingView](t)(e.svc.Get(ctx, bob, priv.ID))
		if got := must[MeetingView](t)(e.svc.Get(ctx, bob, priv.ID)); got.OnlineCount != 1 {
			t.Fatalf("online = %d", got.OnlineCount)
		}
	})
}

func TestUpdate(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob := user("alice"), user("bob")
		m := e.create(t, alice, func(in *CreateInput) { in.Password = "old" })
		title, empty, cap5 := "New title", "", 5
		start := e.clock.Now().Add(48 * time.Hour)
		_, err := e.svc.Update(ctx, bob, m.ID, UpdateInput{Title: &title})
		wantErr(t, err, ErrForbidden)
		_, err = e.svc.Update(ctx, alice, "nope", UpdateInput{Title: &title})
		wantErr(t, err, ErrNotFound)
		_, err = e.svc.Update(ctx, alice, m.ID, UpdateInput{Title: &empty})
		wantErr(t, err, apperr.ErrValidation)
		_, err = e.svc.Update(ctx, alice, m.ID, UpdateInput{Status: new(StatusEnded)})
		wantErr(t, err, apperr.ErrValidation)
		_, err = e.svc.Update(ctx, alice, m.ID, UpdateInput{MaxParticipants: intp(1)})
		wantErr(t, err, apperr.ErrValidation)

		got := must[MeetingView](t)(e.svc.Update(ctx, alice, m.ID, UpdateInput{Title: &title, StartTime: &start,
			Password: &empty, MaxParticipants: &cap5, DurationMinutes: intp(90)}))
		if got.Title != title || !got.StartTime.Equal(start) || got.HasPassword || got.MaxParticipants != 5 || got.DurationMinutes != 90 {
			t.Fatalf("updated = %+v", got)
		}
		e.join(t, bob, m.ID) // no password any more; the meeting is live now
		_, err = e.svc.Update(ctx, alice, m.ID, UpdateInput{Title: &title})
		wantErr(t, err, ErrNotScheduled)

		c := e.create(t, alice, nil)
		got = must[MeetingView](t)(e.svc.Update(ctx, alice, c.ID, UpdateInput{Status: new(StatusCancelled)}))
		if got.Status != StatusCancelled || got.StatusText != "Cancelled" {
			t.Fatalf("cancelled = %+v", got)
		}
		if _, err := e.cache.Get(ctx, cacheKeyMeeting+c.ID); err != cache.ErrMiss {
			t.Fatalf("cache not cleared on cancel: %v", err)
		}
		_, err = e.svc.End(ctx, alice, c.ID)
		wantErr(t, err, ErrAlreadyEnded)
	})
}

func TestListFiltersAndPaging(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice, bob, carol := user("alice"), user("bob"), user("carol")
		base := e.clock.Now()
		var ids []string
		for i := 0; i < 12; i++ {
			m := e.create(t, alice, func(in *CreateInput) {
				in.Title = "Alice standup"
				in.StartTime = base.Add(time.Duration(i) * time.Hour)
				in.RecordingEnabled = i%2 == 0
			})
			ids = append(ids, m.ID)
		}
		e.create(t, bob, func(in *CreateInput) { in.Title = "Bob private"; in.Password = "x" })
		e.create(t, bob, func(in *CreateInput) {
			in.Title = "Bob public"
			in.Description = "Open DESIGN review 100%"
			in.IsPublic = true
		})
		e.join(t, alice, ids[0])
		e.join(t, carol, ids[0])

		list := func(who authn.Identity, f ListFilter) MeetingPage {
			t.Helper()
			return must[MeetingPage](t)(e.svc.List(ctx, who, f))
		}
		p := list(alice, ListFilter{})
		if p.Total != 13 || len(p.Items) != 10 || p.Page != 1 || p.PageSize != 10 {
			t.Fatalf("alice page 1: total %d items %d", p.Total, len(p.Items))
		}
		if p2 := list(alice, ListFilter{Page: 2, PageSize: 10}); len(p2.Items) != 3 {
			t.Fatalf("page 2 = %d", len(p2.Items))
		}
		if p := list(alice, ListFilter{PageSize: 1000}); p.PageSize != 100 || len(p.Items) != 13 {
			t.Fatalf("page size clamp = %d", p.PageSize)
		}
		if p := list(bob, ListFilter{}); p.Total != 2 {
			t.Fatalf("bob sees %d", p.Total)
		}
		if p := list(carol, ListFilter{}); p.Total != 1 || p.Items[0].Title != "Bob public" {
			t.Fatalf("carol sees %+v", p)
		}
		p = list(carol, ListFilter{OnlyJoined: true})
		if p.Total != 1 || p.Items[0].ID != ids[0] || p.Items[0].OnlineCount != 2 || p.Items[0].Creator.DisplayName != "Alice A." {
			t.Fatalf("carol joined = %+v", p)
		}
		if p := list(alice, ListFilter{Status: StatusLive}); p.Total != 1 {
			t.Fatalf("live = %d", p.Total)
		}
		if p := list(alice, ListFilter{Keyword: "design"}); p.Total != 1 {
			t.Fatalf("keyword description = %d", p.Total)
		}
		if p := list(alice, ListFilter{Keyword: "STANDUP"}); p.Total != 12 {
			t.Fatalf("keyword title = %d", p.Total)
		}
		if p := list(alice, ListFilter{Keyword: "100%"}); p.Total != 1 {
			t.Fatalf("keyword with %% = %d", p.Total)
		}
		yes, no := true, false
		if p := list(bob, ListFilter{HasPassword: &yes}); p.Total != 1 || p.Items[0].Title != "Bob private" {
			t.Fatalf("has_password = %+v", p)
		}
		if p := list(bob, ListFilter{HasPassword: &no}); p.Total != 1 {
			t.Fatalf("has_password false = %d", p.Total)
		}
		if p := list(alice, ListFilter{Recording: &yes, Keyword: "standup"}); p.Total != 6 {
			t.Fatalf("recording = %d", p.Total)
		}
		from, to := base.Add(2*time.Hour), base.Add(4*time.Hour)
		if p := list(alice, ListFilter{From: &from, To: &to, Keyword: "standup"}); p.Total != 3 {
			t.Fatalf("from/to = %d", p.Total)
		}
		_, err := e.svc.List(ctx, alice, ListFilter{Status: "bogus"})
		wantErr(t, err, apperr.ErrValidation)
		_, err = e.svc.List(ctx, alice, ListFilter{From: &to, To: &from})
		wantErr(t, err, apperr.ErrValidation)
	})
}

// A page costs the same number of queries whatever its size.
func TestListQueryCountIsFixed(t *testing.T) {
	each(t, func(t *testing.T, e *testEnv) {
		alice := user("alice")
		for i := 0; i < 20; i++ {
			m := e.create(t, alice, nil)
			e.join(t, alice, m.ID)
		}
		var queries int
		count := func(*gorm.DB) { queries++ }
		if err := e.db.Callback().Query().Before("gorm:query").Register("test:count", count); err != nil {
			t.Fatal(err)
		}
		if err := e.db.Callback().Row().Before("gorm:row").Register("test:count_row", count); err != nil {
			t.Fatal(err)
		}
		measure := func(size int) int {
			queries = 0
			p := must[MeetingPage](t)(e.svc.List(ctx, alice, ListFilter{PageSize: size}))
			if len(p.Items) != size {
				t.Fatalf("items %d", len(p.Items))
			}
			return queries
		}
		small, large := measure(2), measure(20)
		if small != large || large > 4 {
			t.Fatalf("queries: page of 2 = %d, page of 20 = %d", small, large)
		}
	})
}
