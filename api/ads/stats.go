package ads

import (
	"context"
	"fmt"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
)

// maxStatsDays bounds the range of one stats request.
const maxStatsDays = 366

// DayStats are one UTC day's counts of an ad. Bot counts are kept apart from the others.
type DayStats struct {
	Date           string `json:"date"`
	Impressions    int64  `json:"impressions"`
	Clicks         int64  `json:"clicks"`
	UniqueViewers  int64  `json:"unique_viewers"`
	BotImpressions int64  `json:"bot_impressions"`
	BotClicks      int64  `json:"bot_clicks"`
}

// Stats are an ad's counts over a range of days. Unique viewers are per day only: a viewer of
// two days is one viewer, so the days' figures do not add up to a range's.
type Stats struct {
	AdID           string     `json:"ad_id"`
	From           string     `json:"from"`
	To             string     `json:"to"`
	Impressions    int64      `json:"impressions"`
	Clicks         int64      `json:"clicks"`
	BotImpressions int64      `json:"bot_impressions"`
	BotClicks      int64      `json:"bot_clicks"`
	Days           []DayStats `json:"days"`
}

// parseDay reads a date (2006-01-02) or an RFC 3339 time as its UTC day.
func parseDay(v string) (time.Time, bool) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		t = t.UTC()
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), true
	}
	return time.Time{}, false
}

// Stats returns the counts of ad id from one day to another (inclusive, UTC days; by default
// from the ad's purchase to today) for its owner, its agency, or a holder of ads:packages;
// anyone else's ad is not found. Counts are as of the last flush of every node.
func (s *Service) Stats(ctx context.Context, actor authn.Identity, id, fromS, toS string) (*Stats, error) {
	a, err := s.ad(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if !manages(actor, a) {
		if err := s.authz.Can(ctx, actor, authz.AdsPackages, nil); err != nil {
			return nil, ErrNotFound
		}
	}
	now := s.now().UTC()
	from := time.Date(a.CreatedAt.Year(), a.CreatedAt.Month(), a.CreatedAt.Day(), 0, 0, 0, 0, time.UTC)
	to := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	f := map[string]string{}
	if fromS != "" {
		if t, ok := parseDay(fromS); ok {
			from = t
		} else {
			f["from"] = "must be a date (2006-01-02) or an RFC 3339 time"
		}
	}
	if toS != "" {
		if t, ok := parseDay(toS); ok {
			to = t
		} else {
			f["to"] = "must be a date (2006-01-02) or an RFC 3339 time"
		}
	}
	if len(f) == 0 && (to.Before(from) || to.Sub(from) > maxStatsDays*24*time.Hour) {
		f["to"] = fmt.Sprintf("must be on or after from, at most %d days later", maxStatsDays)
	}
	if len(f) > 0 {
		return nil, apperr.Invalidf(f)
	}
	fromD, toD := from.Format(time.DateOnly), to.Format(time.DateOnly)
	var rows []dailyStat
	if err := s.db.WithContext(ctx).Where("ad_id = ? AND day >= ? AND day <= ?", id, fromD, toD).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read stats: %w", err)
	}
	var uniq []struct {
		Day string
		N   int64
	}
	// A day's unique viewers are those compaction folded into its stats row plus the rows it has
	// not folded yet. Both are read by one statement, so one snapshot: a compaction committing
	// between two reads would count the day's viewers twice or not at all.
	if err := s.db.WithContext(ctx).Raw(`SELECT day, SUM(n) AS n FROM (
		SELECT day, unique_viewers AS n FROM ad_daily_stats WHERE ad_id = ? AND day >= ? AND day <= ?
		UNION ALL
		SELECT day, COUNT(*) AS n FROM ad_viewers WHERE ad_id = ? AND day >= ? AND day <= ? GROUP BY day
	) v GROUP BY day`, id, fromD, toD, id, fromD, toD).Scan(&uniq).Error; err != nil {
		return nil, fmt.Errorf("read viewers: %w", err)
	}
	by := map[string]*DayStats{}
	out := &Stats{AdID: id, From: fromD, To: toD, Days: []DayStats{}}
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out.Days = append(out.Days, DayStats{Date: d.Format(time.DateOnly)})
	}
	for i := range out.Days {
		by[out.Days[i].Date] = &out.Days[i]
	}
	for _, r := range rows {
		if d := by[r.Day]; d != nil {
			d.Impressions, d.Clicks, d.BotImpressions, d.BotClicks = r.Impressions, r.Clicks, r.BotImpressions, r.BotClicks
			out.Impressions += r.Impressions
			out.Clicks += r.Clicks
			out.BotImpressions += r.BotImpressions
			out.BotClicks += r.BotClicks
		}
	}
	for _, u := range uniq {
		if d := by[u.Day]; d != nil {
			d.UniqueViewers = u.N
		}
	}
	return out, nil
}
