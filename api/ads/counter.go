package ads

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/onstagehq/onstage/internal/db"
)

// maxPendingViewers bounds the viewers a node remembers between two flushes; beyond it new
// viewers are still counted as impressions but not as unique viewers, and the drop is logged.
const maxPendingViewers = 200_000

type dayKey struct{ ad, day string }

type tally struct{ impressions, clicks, botImpressions, botClicks int64 }

// counter batches impressions, clicks and viewers in memory; flush adds them to the database.
// Rows are only ever added to (ON CONFLICT … DO UPDATE SET n = n + excluded.n), so any number
// of nodes counting the same ad add up to what one node counting everything would write.
type counter struct {
	mu      sync.Mutex
	counts  map[dayKey]*tally
	viewers map[viewer]struct{}
	dropped int64
}

func newCounter() *counter {
	return &counter{counts: map[dayKey]*tally{}, viewers: map[viewer]struct{}{}}
}

func (c *counter) impression(ad, day, who string, bot bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tally(ad, day)
	if bot {
		t.botImpressions++
		return
	}
	t.impressions++
	if who == "" {
		return
	}
	sum := sha256.Sum256([]byte(who))
	v := viewer{AdID: ad, Day: day, Viewer: hex.EncodeToString(sum[:16])}
	if _, ok := c.viewers[v]; ok {
		return
	}
	if len(c.viewers) >= maxPendingViewers {
		c.dropped++
		return
	}
	c.viewers[v] = struct{}{}
}

func (c *counter) click(ad, day string, bot bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tally(ad, day)
	if bot {
		t.botClicks++
	} else {
		t.clicks++
	}
}

// tally returns the tally of (ad, day); c.mu is held.
func (c *counter) tally(ad, day string) *tally {
	k := dayKey{ad, day}
	t := c.counts[k]
	if t == nil {
		t = &tally{}
		c.counts[k] = t
	}
	return t
}

// take swaps the pending counts out.
func (c *counter) take() (map[dayKey]*tally, map[viewer]struct{}, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts, viewers, dropped := c.counts, c.viewers, c.dropped
	c.counts, c.viewers, c.dropped = map[dayKey]*tally{}, map[viewer]struct{}{}, 0
	return counts, viewers, dropped
}

// giveBack merges counts that could not be written back in, for the next flush.
func (c *counter) giveBack(counts map[dayKey]*tally, viewers map[viewer]struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, t := range counts {
		cur := c.tally(k.ad, k.day)
		cur.impressions += t.impressions
		cur.clicks += t.clicks
		cur.botImpressions += t.botImpressions
		cur.botClicks += t.botClicks
	}
	for v := range viewers {
		if len(c.viewers) >= maxPendingViewers {
			c.dropped++
			continue
		}
		c.viewers[v] = struct{}{}
	}
}

// flush writes the pending counts to gdb. Whatever fails to be written is kept for the next
// flush, so a database outage delays counts but loses none (up to the viewer bound).
func (c *counter) flush(ctx context.Context, gdb *gorm.DB, log *slog.Logger) error {
	counts, viewers, dropped := c.take()
	if dropped > 0 {
		log.WarnContext(ctx, "ads: unique viewers not recorded; too many between flushes", "dropped", dropped)
	}
	if len(counts) == 0 && len(viewers) == 0 {
		return nil
	}
	rows := make([]dailyStat, 0, len(counts))
	for k, t := range counts {
		rows = append(rows, dailyStat{AdID: k.ad, Day: k.day, Impressions: t.impressions, Clicks: t.clicks,
			BotImpressions: t.botImpressions, BotClicks: t.botClicks})
	}
	vs := make([]viewer, 0, len(viewers))
	for v := range viewers {
		vs = append(vs, v)
	}
	err := gdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if len(rows) > 0 {
			if err := tx.Clauses(addOnConflict(gdb, countCols...)).CreateInBatches(rows, 200).Error; err != nil {
				return fmt.Errorf("add counts: %w", err)
			}
		}
		if len(vs) > 0 {
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(vs, 500).Error; err != nil {
				return fmt.Errorf("add viewers: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		c.giveBack(counts, viewers)
		return err
	}
	return nil
}

// countCols are the counts a flush adds; unique_viewers is added only by compaction.
var countCols = []string{"impressions", "clicks", "bot_impressions", "bot_clicks"}

// addOnConflict is the upsert that adds a row's cols to the stored ones.
func addOnConflict(gdb *gorm.DB, cols ...string) clause.OnConflict {
	set := map[string]any{}
	for _, c := range cols {
		if db.Dialect(gdb) == db.DialectMySQL {
			set[c] = gorm.Expr(fmt.Sprintf("ad_daily_stats.%s + VALUES(%s)", c, c))
		} else {
			set[c] = gorm.Expr(fmt.Sprintf("ad_daily_stats.%s + excluded.%s", c, c))
		}
	}
	return clause.OnConflict{Columns: []clause.Column{{Name: "ad_id"}, {Name: "day"}}, DoUpdates: clause.Assignments(set)}
}
