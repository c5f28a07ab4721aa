package ads

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ad_viewers has a row per ad, UTC day and viewer, and the counter needs those rows only while
// the day still gets impressions: they tell a new viewer of the day from one already counted.
// Once a day is closed its rows are folded into ad_daily_stats.unique_viewers and deleted, so
// the table holds about two days of viewers instead of every viewer ever counted. Stats read
// the stored figure plus the rows still there, so a day reads the same before and after.
//
// A day is closed when it is older than yesterday: impressions are dated when they are served
// and nodes flush every few seconds, so a day's last rows land seconds after its midnight; the
// whole day more is for a node whose flushes failed meanwhile (it keeps its counts and tries
// again). A viewer row that still arrived after its day was folded would be folded by the next
// run, and could repeat a viewer counted already.
//
// Each (ad, day) is folded in its own transaction: delete its rows and add the number the
// DELETE removed to the day's stats row. Only the transaction that deleted a row counts it, so
// nodes compacting the same day at once count each viewer once: the second DELETE waits on
// the first's row locks, then finds nothing to delete and adds nothing.

// closedBefore returns the first day (2006-01-02) that is not closed at now: yesterday.
func closedBefore(now time.Time) string {
	now = now.UTC()
	return time.Date(now.Year(), now.Month(), now.Day()-1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

// CompactViewers folds the viewers of up to jobBatch closed (ad, day) pairs into the daily
// stats and returns how many pairs it folded; a backlog is worked off over several runs.
func (s *Service) CompactViewers(ctx context.Context) (int, error) {
	var due []struct{ AdID, Day string }
	err := s.db.WithContext(ctx).Model(&viewer{}).Select("ad_id, day").Where("day < ?", closedBefore(s.now())).
		Group("day, ad_id").Order("day, ad_id").Limit(jobBatch).Scan(&due).Error
	if err != nil {
		return 0, fmt.Errorf("find closed viewer days: %w", err)
	}
	n := 0
	for _, d := range due {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		folded, err := s.compactDay(ctx, d.AdID, d.Day)
		if err != nil {
			return n, fmt.Errorf("compact viewers of ad %s on %s: %w", d.AdID, d.Day, err)
		}
		if folded > 0 {
			n++
		}
	}
	return n, nil
}

// compactDay moves the viewer rows of ad on day into the day's unique_viewers and returns how
// many it moved: none when another node got there first.
func (s *Service) compactDay(ctx context.Context, ad, day string) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Where("ad_id = ? AND day = ?", ad, day).Delete(&viewer{})
		if res.Error != nil {
			return fmt.Errorf("delete viewers: %w", res.Error)
		}
		if n = res.RowsAffected; n == 0 {
			return nil
		}
		err := tx.Clauses(addOnConflict(s.db, "unique_viewers")).Create(&dailyStat{AdID: ad, Day: day, UniqueViewers: n}).Error
		if err != nil {
			return fmt.Errorf("add unique viewers: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
