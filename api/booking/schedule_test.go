package booking

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
)

func str(s string) *string { return &s }

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := LoadZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// utc parses "2026-03-08T06:00" as UTC.
func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02T15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func starts(slots []Interval) string {
	var out []string
	for _, s := range slots {
		out = append(out, s.Start.Format("01-02T15:04")+"/"+fmt.Sprint(s.End.Sub(s.Start).Minutes()))
	}
	return strings.Join(out, " ")
}

// TestFreeSlotsAcrossDST checks local rules on the days clocks change, in zones with DST in
// March and October/November and in one with a half-hour offset and no DST.
func TestFreeSlotsAcrossDST(t *testing.T) {
	hour := time.Hour
	tests := []struct {
		name     string
		zone     string
		rule     WeeklyRule
		from, to string // UTC window
		dur      time.Duration
		want     string // slot starts (UTC, MM-DDTHH:MM) / minutes
	}{
		// New York: 2026-03-08 02:00 EST jumps to 03:00 EDT (07:00Z).
		{"NY spring-forward: the skipped hour yields nothing", "America/New_York",
			WeeklyRule{0, "02:00", "03:00"}, "2026-03-08T00:00", "2026-03-09T12:00", hour, ""},
		{"NY spring-forward: 01-04 is two real hours", "America/New_York",
			WeeklyRule{0, "01:00", "04:00"}, "2026-03-08T00:00", "2026-03-09T12:00", hour, "03-08T06:00/60 03-08T07:00/60"},
		{"NY the Sunday before: 01-04 is three hours of EST", "America/New_York",
			WeeklyRule{0, "01:00", "04:00"}, "2026-03-01T00:00", "2026-03-02T12:00", hour, "03-01T06:00/60 03-01T07:00/60 03-01T08:00/60"},
		{"NY the Monday after is in EDT", "America/New_York",
			WeeklyRule{1, "09:00", "10:00"}, "2026-03-09T00:00", "2026-03-10T00:00", hour, "03-09T13:00/60"},
		{"NY the Monday before is in EST", "America/New_York",
			WeeklyRule{1, "09:00", "10:00"}, "2026-03-02T00:00", "2026-03-03T00:00", hour, "03-02T14:00/60"},
		// New York: 2026-11-01 02:00 EDT falls back to 01:00 EST (06:00Z); 01:00-02:00 happens twice.
		{"NY fall-back: the repeated hour is offered twice", "America/New_York",
			WeeklyRule{0, "01:00", "02:00"}, "2026-11-01T00:00", "2026-11-02T12:00", hour, "11-01T05:00/60 11-01T06:00/60"},
		{"NY fall-back: 00-03 is four real hours", "America/New_York",
			WeeklyRule{0, "00:00", "03:00"}, "2026-11-01T00:00", "2026-11-02T12:00", hour,
			"11-01T04:00/60 11-01T05:00/60 11-01T06:00/60 11-01T07:00/60"},
		{"NY fall-back: a 90 minute slot spans the change", "America/New_York",
			WeeklyRule{0, "00:30", "02:30"}, "2026-11-01T00:00", "2026-11-02T12:00", 90 * time.Minute,
			"11-01T04:30/90 11-01T06:00/90"},
		// Berlin: 2026-03-29 02:00 CET jumps to 03:00 CEST (01:00Z).
		{"Berlin spring-forward: the skipped hour yields nothing", "Europe/Berlin",
			WeeklyRule{0, "02:00", "03:00"}, "2026-03-28T00:00", "2026-03-30T00:00", hour, ""},
		{"Berlin spring-forward: 01-04 is two real hours", "Europe/Berlin",
			WeeklyRule{0, "01:00", "04:00"}, "2026-03-28T00:00", "2026-03-30T00:00", hour, "03-29T00:00/60 03-29T01:00/60"},
		{"Berlin spring-forward: half past two does not exist", "Europe/Berlin",
			WeeklyRule{0, "02:30", "03:30"}, "2026-03-28T00:00", "2026-03-30T00:00", 30 * time.Minute, "03-29T01:00/30"},
		// Berlin: 2026-10-25 03:00 CEST falls back to 02:00 CET (01:00Z).
		{"Berlin fall-back: the repeated hour is offered twice", "Europe/Berlin",
			WeeklyRule{0, "02:00", "03:00"}, "2026-10-24T00:00", "2026-10-26T00:00", hour, "10-25T00:00/60 10-25T01:00/60"},
		{"Berlin the day after is in CET", "Europe/Berlin",
			WeeklyRule{1, "09:00", "10:00"}, "2026-10-26T00:00", "2026-10-27T00:00", hour, "10-26T08:00/60"},
		// Kolkata: +05:30 all year; the same window in NY's and Berlin's change weeks.
		{"Kolkata has no DST in March", "Asia/Kolkata",
			WeeklyRule{0, "02:00", "03:00"}, "2026-03-07T00:00", "2026-03-09T00:00", hour, "03-07T20:30/60"},
		{"Kolkata has no DST in October", "Asia/Kolkata",
			WeeklyRule{0, "02:00", "03:00"}, "2026-10-24T00:00", "2026-10-26T00:00", hour, "10-24T20:30/60"},
		{"Kolkata local midnight is the previous UTC day", "Asia/Kolkata",
			WeeklyRule{0, "00:00", "01:00"}, "2026-03-07T00:00", "2026-03-09T00:00", 30 * time.Minute, "03-07T18:30/30 03-07T19:00/30"},
		{"Kolkata a whole day to 24:00", "Asia/Kolkata",
			WeeklyRule{1, "22:00", "24:00"}, "2026-03-09T00:00", "2026-03-10T00:00", hour, "03-09T16:30/60 03-09T17:30/60"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Schedule{Weekly: []WeeklyRule{tc.rule}}
			got, err := FreeSlots(s, SlotQuery{Zone: mustZone(t, tc.zone), From: utc(tc.from), To: utc(tc.to),
				Duration: tc.dur, Now: utc("2026-01-01T00:00")})
			if err != nil {
				t.Fatal(err)
			}
			if starts(got) != tc.want {
				t.Fatalf("got  %q\nwant %q", starts(got), tc.want)
			}
			for _, sl := range got {
				if sl.Start.Location() != time.UTC {
					t.Fatal("slot not in UTC")
				}
			}
		})
	}
}

func TestFreeSlotsRules(t *testing.T) {
	berlin := "Europe/Berlin"
	// Monday 2026-06-01 (CEST, +02:00): 10:00-14:00 local is 08:00-12:00Z.
	base := Schedule{Weekly: []WeeklyRule{{1, "10:00", "14:00"}}}
	with := func(f func(*Schedule)) Schedule { s := base; f(&s); return s }
	window := [2]string{"2026-06-01T00:00", "2026-06-02T00:00"}
	long := utc("2026-01-01T00:00")
	tests := []struct {
		name string
		s    Schedule
		busy []Interval
		now  time.Time
		want string
	}{
		{"weekly rule", base, nil, long, "06-01T08:00/60 06-01T09:00/60 06-01T10:00/60 06-01T11:00/60"},
		{"day off", with(func(s *Schedule) { s.Exceptions = []Exception{{Date: "2026-06-01"}} }), nil, long, ""},
		{"hours off", with(func(s *Schedule) {
			s.Exceptions = []Exception{{Date: "2026-06-01", Start: str("11:00"), End: str("12:00")}}
		}), nil, long, "06-01T08:00/60 06-01T10:00/60 06-01T11:00/60"},
		{"extra hours", with(func(s *Schedule) {
			s.Exceptions = []Exception{{Date: "2026-06-01", Start: str("18:00"), End: str("19:00"), Available: true}}
		}), nil, long, "06-01T08:00/60 06-01T09:00/60 06-01T10:00/60 06-01T11:00/60 06-01T16:00/60"},
		{"extra hours on a day without rules", with(func(s *Schedule) {
			s.Weekly = nil
			s.Exceptions = []Exception{{Date: "2026-06-01", Start: str("18:00"), End: str("19:00"), Available: true}}
		}), nil, long, "06-01T16:00/60"},
		{"an exception on another date changes nothing", with(func(s *Schedule) { s.Exceptions = []Exception{{Date: "2026-06-08"}} }),
			nil, long, "06-01T08:00/60 06-01T09:00/60 06-01T10:00/60 06-01T11:00/60"},
		{"a booking blocks its hour", base, []Interval{{utc("2026-06-01T09:00"), utc("2026-06-01T10:00")}}, long,
			"06-01T08:00/60 06-01T10:00/60 06-01T11:00/60"},
		{"buffer around a booking and between slots", with(func(s *Schedule) { s.BufferMinutes = 15 }),
			[]Interval{{utc("2026-06-01T09:00"), utc("2026-06-01T10:00")}}, long, "06-01T10:15/60"},
		{"buffer between offered slots", with(func(s *Schedule) { s.BufferMinutes = 30 }), nil, long,
			"06-01T08:00/60 06-01T09:30/60 06-01T11:00/60"},
		{"min notice", with(func(s *Schedule) { s.MinNoticeMinutes = 120 }), nil, utc("2026-06-01T07:30"),
			"06-01T10:00/60 06-01T11:00/60"},
		{"max per day reached", with(func(s *Schedule) { s.MaxPerDay = 1 }),
			[]Interval{{utc("2026-06-01T08:00"), utc("2026-06-01T09:00")}}, long, ""},
		{"max per day not reached", with(func(s *Schedule) { s.MaxPerDay = 2 }),
			[]Interval{{utc("2026-06-01T08:00"), utc("2026-06-01T09:00")}}, long, "06-01T09:00/60 06-01T10:00/60 06-01T11:00/60"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FreeSlots(tc.s, SlotQuery{Zone: mustZone(t, berlin), From: utc(window[0]), To: utc(window[1]),
				Duration: time.Hour, Now: tc.now, Busy: tc.busy})
			if err != nil {
				t.Fatal(err)
			}
			if starts(got) != tc.want {
				t.Fatalf("got  %q\nwant %q", starts(got), tc.want)
			}
		})
	}
	// The window clips: slots lie entirely inside [from, to).
	got, _ := FreeSlots(base, SlotQuery{Zone: mustZone(t, berlin), From: utc("2026-06-01T08:30"), To: utc("2026-06-01T11:00"),
		Duration: time.Hour, Now: long})
	if starts(got) != "06-01T09:00/60 06-01T10:00/60" {
		t.Fatalf("clipped: %q", starts(got))
	}
}

func TestScheduleValidate(t *testing.T) {
	valid := Schedule{Weekly: []WeeklyRule{{0, "09:00", "17:00"}, {6, "00:00", "24:00"}},
		Exceptions:       []Exception{{Date: "2026-12-25"}, {Date: "2026-12-24", Start: str("08:00"), End: str("09:00"), Available: true}},
		MinNoticeMinutes: 60, BufferMinutes: 10, MaxPerDay: 3}
	if err := valid.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		mod   func(*Schedule)
		field string
	}{
		{"weekday 7", func(s *Schedule) { s.Weekly[0].Weekday = 7 }, "weekly[0].weekday"},
		{"weekday -1", func(s *Schedule) { s.Weekly[0].Weekday = -1 }, "weekly[0].weekday"},
		{"bad start", func(s *Schedule) { s.Weekly[0].Start = "9:00" }, "weekly[0].start"},
		{"start 24:00", func(s *Schedule) { s.Weekly[0].Start = "24:00" }, "weekly[0].start"},
		{"end 24:30", func(s *Schedule) { s.Weekly[0].End = "24:30" }, "weekly[0].end"},
		{"minutes 60", func(s *Schedule) { s.Weekly[0].End = "17:60" }, "weekly[0].end"},
		{"end before start", func(s *Schedule) { s.Weekly[0].End = "08:00" }, "weekly[0].end"},
		{"empty range", func(s *Schedule) { s.Weekly[0].End = "09:00" }, "weekly[0].end"},
		{"bad date", func(s *Schedule) { s.Exceptions[0].Date = "2026-02-30" }, "exceptions[0].date"},
		{"half a range", func(s *Schedule) { s.Exceptions[0].Start = str("10:00") }, "exceptions[0].start"},
		{"available without hours", func(s *Schedule) { s.Exceptions[0].Available = true }, "exceptions[0].start"},
		{"negative notice", func(s *Schedule) { s.MinNoticeMinutes = -1 }, "min_notice_minutes"},
		{"huge buffer", func(s *Schedule) { s.BufferMinutes = 1441 }, "buffer_minutes"},
		{"negative cap", func(s *Schedule) { s.MaxPerDay = -1 }, "max_per_day"},
		{"too many rules", func(s *Schedule) { s.Weekly = make([]WeeklyRule, MaxWeeklyRules+1) }, "weekly"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := valid
			s.Weekly = append([]WeeklyRule(nil), valid.Weekly...)
			s.Exceptions = append([]Exception(nil), valid.Exceptions...)
			tc.mod(&s)
			err := s.Validate()
			e, ok := apperr.As(err)
			if !ok || !errors.Is(err, apperr.ErrValidation) || e.Fields[tc.field] == "" {
				t.Fatalf("got %v (fields %v), want a complaint about %s", err, e, tc.field)
			}
		})
	}
}

func TestFreeSlotsRefusesBadQueries(t *testing.T) {
	s := Schedule{Weekly: []WeeklyRule{{1, "10:00", "14:00"}}}
	z := mustZone(t, "Europe/Berlin")
	from := utc("2026-06-01T00:00")
	for name, q := range map[string]SlotQuery{
		"no zone":        {From: from, To: from.Add(time.Hour), Duration: time.Hour},
		"empty window":   {Zone: z, From: from, To: from, Duration: time.Hour},
		"window too big": {Zone: z, From: from, To: from.Add(63 * 24 * time.Hour), Duration: time.Hour},
		"short slot":     {Zone: z, From: from, To: from.Add(time.Hour), Duration: time.Minute},
		"odd slot":       {Zone: z, From: from, To: from.Add(time.Hour), Duration: 90 * time.Second * 7},
	} {
		if _, err := FreeSlots(s, q); !errors.Is(err, apperr.ErrValidation) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"", "Local", "Mars/Olympus"} {
		if _, err := LoadZone(name); !errors.Is(err, apperr.ErrValidation) {
			t.Errorf("zone %q: %v", name, err)
		}
	}
}

func BenchmarkFreeSlots(b *testing.B) {
	s := Schedule{Weekly: []WeeklyRule{{1, "09:00", "17:00"}, {2, "09:00", "17:00"}, {3, "09:00", "17:00"},
		{4, "09:00", "17:00"}, {5, "09:00", "12:00"}}, BufferMinutes: 10}
	z := mustZone(b, "America/New_York")
	q := SlotQuery{Zone: z, From: utc("2026-03-01T00:00"), To: utc("2026-03-31T00:00"), Duration: 30 * time.Minute,
		Now: utc("2026-01-01T00:00")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FreeSlots(s, q); err != nil {
			b.Fatal(err)
		}
	}
}
