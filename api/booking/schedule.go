package booking

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	// The zone database is embedded, so slots do not depend on the host's tzdata.
	_ "time/tzdata"

	"github.com/onstagehq/onstage/internal/apperr"
)

// Schedule is when a streamer can be booked: weekly rules in local wall-clock time of the
// profile's zone, and exceptions on dates that add hours or take hours (or the day) off.
type Schedule struct {
	Weekly     []WeeklyRule `json:"weekly"`
	Exceptions []Exception  `json:"exceptions"`
	// MinNoticeMinutes: a slot must start at least this long after now.
	MinNoticeMinutes int `json:"min_notice_minutes"`
	// BufferMinutes is kept free before and after every booking.
	BufferMinutes int `json:"buffer_minutes"`
	// MaxPerDay caps bookings per local day; 0 is no cap.
	MaxPerDay int `json:"max_per_day"`
}

// WeeklyRule is a range of wall-clock time on a weekday (0 = Sunday). End "24:00" is midnight.
type WeeklyRule struct {
	Weekday int    `json:"weekday"`
	Start   string `json:"start"`
	End     string `json:"end"`
}

// Exception changes one local date. Available with a range adds those hours; not available
// with a range takes them off; not available without a range takes the whole day off.
type Exception struct {
	Date      string  `json:"date"`
	Start     *string `json:"start,omitempty"`
	End       *string `json:"end,omitempty"`
	Available bool    `json:"available"`
}

// Schedule limits.
const (
	MaxWeeklyRules   = 70
	MaxExceptions    = 400
	MaxNoticeMinutes = 60 * 24 * 365
	MaxBufferMinutes = 60 * 24
	MaxPerDayLimit   = 100
	// MaxSlotWindow bounds the window one FreeSlots call may cover.
	MaxSlotWindow = 62 * 24 * time.Hour
	// MinSlot and MaxSlot bound a slot's duration.
	MinSlot = 5 * time.Minute
	MaxSlot = 24 * time.Hour
)

// parseClock reads "HH:MM" (00:00 to 24:00) as minutes after midnight.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

func parseDate(s string) (time.Time, bool) {
	d, err := time.Parse(time.DateOnly, s)
	return d, err == nil && d.Format(time.DateOnly) == s
}

// Validate reports every invalid field of s, named by its JSON path.
func (s Schedule) Validate() error {
	bad := map[string]string{}
	if len(s.Weekly) > MaxWeeklyRules {
		bad["weekly"] = fmt.Sprintf("at most %d rules", MaxWeeklyRules)
	}
	for i, r := range s.Weekly {
		p := fmt.Sprintf("weekly[%d].", i)
		if r.Weekday < 0 || r.Weekday > 6 {
			bad[p+"weekday"] = "must be 0 (Sunday) to 6 (Saturday)"
		}
		validRange(bad, p, r.Start, r.End)
	}
	if len(s.Exceptions) > MaxExceptions {
		bad["exceptions"] = fmt.Sprintf("at most %d exceptions", MaxExceptions)
	}
	for i, e := range s.Exceptions {
		p := fmt.Sprintf("exceptions[%d].", i)
		if _, ok := parseDate(e.Date); !ok {
			bad[p+"date"] = "must be a date YYYY-MM-DD"
		}
		switch {
		case e.Start == nil && e.End == nil:
			if e.Available {
				bad[p+"start"] = "an available exception needs start and end"
			}
		case e.Start == nil || e.End == nil:
			bad[p+"start"] = "give both start and end, or neither"
		default:
			validRange(bad, p, *e.Start, *e.End)
		}
	}
	if s.MinNoticeMinutes < 0 || s.MinNoticeMinutes > MaxNoticeMinutes {
		bad["min_notice_minutes"] = fmt.Sprintf("must be 0 to %d", MaxNoticeMinutes)
	}
	if s.BufferMinutes < 0 || s.BufferMinutes > MaxBufferMinutes {
		bad["buffer_minutes"] = fmt.Sprintf("must be 0 to %d", MaxBufferMinutes)
	}
	if s.MaxPerDay < 0 || s.MaxPerDay > MaxPerDayLimit {
		bad["max_per_day"] = fmt.Sprintf("must be 0 (no cap) to %d", MaxPerDayLimit)
	}
	if len(bad) > 0 {
		return apperr.Invalidf(bad)
	}
	return nil
}

func validRange(bad map[string]string, prefix, start, end string) {
	a, okA := parseClock(start)
	b, okB := parseClock(end)
	if !okA || a == 24*60 {
		bad[prefix+"start"] = "must be HH:MM from 00:00 to 23:59"
	}
	if !okB {
		bad[prefix+"end"] = "must be HH:MM from 00:01 to 24:00"
	}
	if okA && okB && b <= a {
		bad[prefix+"end"] = "must be after start"
	}
}

// LoadZone returns the IANA time zone name, refusing "" and "Local" (a schedule's meaning
// must not depend on the server's zone).
func LoadZone(name string) (*time.Location, error) {
	if name == "" || strings.EqualFold(name, "Local") {
		return nil, apperr.Invalidf(map[string]string{"time_zone": "must be an IANA time zone such as Europe/Berlin"})
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, apperr.Invalidf(map[string]string{"time_zone": "unknown time zone"})
	}
	return loc, nil
}

// Interval is a half-open span of time [Start, End).
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// SlotQuery asks for free slots.
type SlotQuery struct {
	Zone *time.Location
	// From and To bound the slots: each lies entirely in [From, To).
	From, To time.Time
	Duration time.Duration
	// Now is the reference for the minimum notice.
	Now time.Time
	// Busy are existing bookings and live holds; each blocks its span plus the buffer on
	// both sides and counts toward its local day's cap.
	Busy []Interval
}

// span is a range of minutes of one local day.
type span struct{ a, b int }

// FreeSlots returns the bookable slots of s for q, in UTC, earliest first. Rules are local
// wall-clock ranges, so a day's availability is the set of instants whose local time falls
// in them: on a spring-forward day a rule over the skipped hour yields nothing, and on a
// fall-back day a rule over the repeated hour covers both passes of it. Slots start at the
// beginning of each free stretch and follow each other with the buffer between them.
func FreeSlots(s Schedule, q SlotQuery) ([]Interval, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	bad := map[string]string{}
	if q.Zone == nil {
		bad["time_zone"] = "required"
	}
	if !q.To.After(q.From) || q.To.Sub(q.From) > MaxSlotWindow {
		bad["to"] = "must be after from, at most 62 days later"
	}
	if q.Duration < MinSlot || q.Duration > MaxSlot || q.Duration%time.Minute != 0 {
		bad["duration"] = "must be whole minutes from 5 to 1440"
	}
	if len(bad) > 0 {
		return nil, apperr.Invalidf(bad)
	}
	loc := q.Zone
	buffer := time.Duration(s.BufferMinutes) * time.Minute
	earliest := q.Now.Add(time.Duration(s.MinNoticeMinutes) * time.Minute)
	if earliest.Before(q.From) {
		earliest = q.From
	}

	// Busy spans, widened by the buffer, and bookings per local day.
	blocked := make([]Interval, 0, len(q.Busy))
	perDay := map[string]int{}
	for _, b := range q.Busy {
		blocked = append(blocked, Interval{b.Start.Add(-buffer), b.End.Add(buffer)})
		perDay[b.Start.In(loc).Format(time.DateOnly)]++
	}

	var out []Interval
	first := q.From.In(loc)
	day := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	last := q.To.In(loc)
	lastDay := time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, time.UTC)
	for ; !day.After(lastDay); day = day.AddDate(0, 0, 1) {
		date := day.Format(time.DateOnly)
		// The cap counts bookings, not offers: a day below it offers all its free slots.
		if s.MaxPerDay > 0 && perDay[date] >= s.MaxPerDay {
			continue
		}
		for _, free := range subtract(dayWindows(s, loc, day), blocked) {
			for st := free.Start; !st.Add(q.Duration).After(free.End); st = st.Add(q.Duration + buffer) {
				if st.Before(earliest) || st.Add(q.Duration).After(q.To) {
					continue
				}
				out = append(out, Interval{st.UTC(), st.Add(q.Duration).UTC()})
			}
		}
	}
	slices.SortFunc(out, func(a, b Interval) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// dayWindows returns the instants, in UTC, whose wall-clock time on the local date day (given
// as midnight UTC of that date) lies in the schedule's ranges for it.
func dayWindows(s Schedule, loc *time.Location, day time.Time) []Interval {
	var spans []span
	weekday := int(day.Weekday())
	for _, r := range s.Weekly {
		if r.Weekday == weekday {
			a, _ := parseClock(r.Start)
			b, _ := parseClock(r.End)
			spans = append(spans, span{a, b})
		}
	}
	date := day.Format(time.DateOnly)
	// Additions first, then removals, so that a day off wins over an extra hour the same day.
	for _, e := range s.Exceptions {
		if e.Date == date && e.Available && e.Start != nil && e.End != nil {
			a, _ := parseClock(*e.Start)
			b, _ := parseClock(*e.End)
			spans = append(spans, span{a, b})
		}
	}
	spans = mergeSpans(spans)
	for _, e := range s.Exceptions {
		if e.Date != date || e.Available {
			continue
		}
		if e.Start == nil || e.End == nil {
			return nil
		}
		a, _ := parseClock(*e.Start)
		b, _ := parseClock(*e.End)
		spans = cutSpan(spans, span{a, b})
	}
	var out []Interval
	for _, sp := range spans {
		out = append(out, wallToUTC(loc, day, sp)...)
	}
	return mergeIntervals(out)
}

// wallToUTC maps the wall-clock minutes sp of the local date day to UTC intervals. Within a
// stretch of constant UTC offset, wall time and UTC move together; the day is cut at every
// offset change, and each stretch contributes the part of sp it covers.
func wallToUTC(loc *time.Location, day time.Time, sp span) []Interval {
	wallA := day.Add(time.Duration(sp.a) * time.Minute) // wall clock, written as if UTC
	wallB := day.Add(time.Duration(sp.b) * time.Minute)
	// Every instant whose local time falls on this date lies within a day and a bit of it.
	lo, hi := day.Add(-26*time.Hour), day.Add(50*time.Hour)
	var out []Interval
	for t := lo; t.Before(hi); {
		_, end := t.In(loc).ZoneBounds()
		_, off := t.In(loc).Zone()
		segA, segB := t, hi
		if !end.IsZero() && end.Before(hi) {
			segB = end
		}
		shift := time.Duration(off) * time.Second
		a, b := wallA.Add(-shift), wallB.Add(-shift)
		if a.Before(segA) {
			a = segA
		}
		if b.After(segB) {
			b = segB
		}
		if a.Before(b) {
			out = append(out, Interval{a, b})
		}
		t = segB
	}
	return out
}

func mergeSpans(in []span) []span {
	slices.SortFunc(in, func(x, y span) int { return x.a - y.a })
	var out []span
	for _, s := range in {
		if n := len(out); n > 0 && s.a <= out[n-1].b {
			out[n-1].b = max(out[n-1].b, s.b)
			continue
		}
		out = append(out, s)
	}
	return out
}

func cutSpan(in []span, cut span) []span {
	var out []span
	for _, s := range in {
		if cut.b <= s.a || cut.a >= s.b {
			out = append(out, s)
			continue
		}
		if s.a < cut.a {
			out = append(out, span{s.a, cut.a})
		}
		if cut.b < s.b {
			out = append(out, span{cut.b, s.b})
		}
	}
	return out
}

func mergeIntervals(in []Interval) []Interval {
	slices.SortFunc(in, func(x, y Interval) int { return x.Start.Compare(y.Start) })
	var out []Interval
	for _, iv := range in {
		if n := len(out); n > 0 && !iv.Start.After(out[n-1].End) {
			if iv.End.After(out[n-1].End) {
				out[n-1].End = iv.End
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// subtract removes the blocked intervals from windows.
func subtract(windows, blocked []Interval) []Interval {
	out := windows
	for _, b := range blocked {
		var next []Interval
		for _, w := range out {
			if !b.Start.Before(w.End) || !b.End.After(w.Start) {
				next = append(next, w)
				continue
			}
			if w.Start.Before(b.Start) {
				next = append(next, Interval{w.Start, b.Start})
			}
			if b.End.Before(w.End) {
				next = append(next, Interval{b.End, w.End})
			}
		}
		out = next
	}
	return out
}
