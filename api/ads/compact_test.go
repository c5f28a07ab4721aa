package ads

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
)

// day0 is the first day of the compaction tests, at noon UTC.
var day0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func dayOf(i int) string { return day0.AddDate(0, 0, i).Format(time.DateOnly) }

// setClock moves the fixture's clock to t.
func (f *fixture) setClock(t time.Time) {
	f.clock.mu.Lock()
	defer f.clock.mu.Unlock()
	f.clock.t = t
}

// viewerRows counts the ad_viewers rows of ad by day.
func (f *fixture) viewerRows(ad string) map[string]int64 {
	f.t.Helper()
	var rows []struct {
		Day string
		N   int64
	}
	if err := f.gdb.Model(&viewer{}).Select("day, COUNT(*) AS n").Where("ad_id = ?", ad).Group("day").Scan(&rows).Error; err != nil {
		f.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Day] = r.N
	}
	return out
}

// folded returns the unique_viewers compaction stored for ad by day (days with none left out).
func (f *fixture) folded(ad string) map[string]int64 {
	f.t.Helper()
	var rows []dailyStat
	if err := f.gdb.Where("ad_id = ? AND unique_viewers > 0", ad).Find(&rows).Error; err != nil {
		f.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Day] = r.UniqueViewers
	}
	return out
}

// TestCompactViewers serves two ads on two nodes over five days, then compacts: only the days
// before yesterday are folded, their viewer rows are gone, and the stats read exactly as
// before; a day is folded once the second midnight after it has passed, not a second earlier.
func TestCompactViewers(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.setClock(day0)
		top, topOwner := f.liveAd(f.pkg(PlacementCatalogueTop, 30))
		search, searchOwner := f.liveAd(f.pkg(PlacementSearch, 30))
		serve := func(placement string, viewers int) {
			for i := range 2 * viewers { // each viewer twice, once on each node
				p := []*Placer{f.a, f.b}[i%2]
				if _, _, _, err := p.Sponsor(ctx, placement, fmt.Sprint("viewer-", i/2), "Mozilla/5.0", nil); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, _, err := f.a.Sponsor(ctx, placement, "crawler", "Googlebot/2.1", nil); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]map[string]int64{top.ID: {}, search.ID: {}}
		for i := range 5 {
			f.setClock(day0.AddDate(0, 0, i))
			serve(PlacementCatalogueTop, 3+i)
			serve(PlacementSearch, 10-i)
			want[top.ID][dayOf(i)], want[search.ID][dayOf(i)] = int64(3+i), int64(10-i)
			for _, p := range []*Placer{f.a, f.b} {
				if err := p.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		stats := func() map[string]*Stats {
			t.Helper()
			out := map[string]*Stats{}
			for id, owner := range map[string]authn.Identity{top.ID: topOwner, search.ID: searchOwner} {
				st, err := f.svc.Stats(ctx, owner, id, "", "")
				if err != nil {
					t.Fatal(err)
				}
				out[id] = st
			}
			return out
		}
		before := stats()
		for id, days := range want {
			for _, d := range before[id].Days {
				if d.UniqueViewers != days[d.Date] {
					t.Fatalf("ad %s before compaction: %+v, want %d unique viewers", id, d, days[d.Date])
				}
			}
		}

		// Today is day 4: days 0 to 2 are closed, 3 (yesterday) and 4 are not.
		f.setClock(day0.AddDate(0, 0, 4).Truncate(24 * time.Hour).Add(24*time.Hour - time.Second))
		if n, err := f.svc.CompactViewers(ctx); err != nil || n != 6 {
			t.Fatalf("compacted %d ad days, %v; want 6", n, err)
		}
		if got := stats(); !reflect.DeepEqual(got, before) {
			t.Fatalf("stats changed:\n got %+v\nwant %+v", got, before)
		}
		for id, days := range want {
			if rows, wantRows := f.viewerRows(id), map[string]int64{dayOf(3): days[dayOf(3)], dayOf(4): days[dayOf(4)]}; !reflect.DeepEqual(rows, wantRows) {
				t.Fatalf("ad %s viewer rows by day %v, want %v", id, rows, wantRows)
			}
			if got, wantFolded := f.folded(id), map[string]int64{dayOf(0): days[dayOf(0)], dayOf(1): days[dayOf(1)], dayOf(2): days[dayOf(2)]}; !reflect.DeepEqual(got, wantFolded) {
				t.Fatalf("ad %s folded %v, want %v", id, got, wantFolded)
			}
		}
		if n, err := f.svc.CompactViewers(ctx); err != nil || n != 0 {
			t.Fatalf("second run compacted %d, %v", n, err)
		}

		// Midnight: day 3 closes. Today's impressions are counted as usual meanwhile.
		f.clock.Advance(time.Second)
		serve(PlacementCatalogueTop, 2)
		for _, p := range []*Placer{f.a, f.b} {
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := f.svc.CompactViewers(ctx); err != nil || n != 2 {
			t.Fatalf("compacted %d ad days at midnight, %v; want 2", n, err)
		}
		after := stats()
		if d := after[top.ID].Days[5]; d.Date != dayOf(5) || d.UniqueViewers != 2 {
			t.Fatalf("today %+v", d)
		}
		after[top.ID].Days, after[top.ID].To = after[top.ID].Days[:5], before[top.ID].To
		after[top.ID].Impressions -= 4
		after[top.ID].BotImpressions--
		after[search.ID].Days, after[search.ID].To = after[search.ID].Days[:5], before[search.ID].To
		if !reflect.DeepEqual(after, before) {
			t.Fatalf("stats of days 0 to 4 changed:\n got %+v\nwant %+v", after, before)
		}
		if rows := f.viewerRows(top.ID); len(rows) != 2 || rows[dayOf(4)] != 7 || rows[dayOf(5)] != 2 {
			t.Fatalf("viewer rows left %v", rows)
		}
	})
}

// TestCompactViewersBounded: one run folds at most jobBatch ad days, oldest first; the next
// runs fold the rest, into daily rows the compaction creates where flushes left none.
func TestCompactViewersBounded(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.setClock(day0.AddDate(0, 0, 10))
		const extra = 7
		var rows []viewer
		for i := range jobBatch + extra {
			day := dayOf(0)
			if i >= jobBatch {
				day = dayOf(1) // the newer day comes last
			}
			for v := range 1 + i%3 {
				rows = append(rows, viewer{AdID: fmt.Sprintf("ad-%04d", i), Day: day, Viewer: fmt.Sprint("v", v)})
			}
		}
		if err := f.gdb.CreateInBatches(rows, 300).Error; err != nil {
			t.Fatal(err)
		}
		for _, want := range []int{jobBatch, extra, 0} {
			if n, err := f.svc.CompactViewers(ctx); err != nil || n != want {
				t.Fatalf("compacted %d, %v; want %d", n, err, want)
			}
			if want == jobBatch {
				var left []string
				if err := f.gdb.Model(&viewer{}).Distinct("day").Pluck("day", &left).Error; err != nil || len(left) != 1 || left[0] != dayOf(1) {
					t.Fatalf("days left after the first run: %v", left)
				}
			}
		}
		var folded []dailyStat
		if err := f.gdb.Order("ad_id").Find(&folded).Error; err != nil {
			t.Fatal(err)
		}
		if len(folded) != jobBatch+extra {
			t.Fatalf("%d daily rows, want %d", len(folded), jobBatch+extra)
		}
		for i, r := range folded {
			if r.UniqueViewers != int64(1+i%3) || r.Impressions != 0 {
				t.Fatalf("row %d: %+v", i, r)
			}
		}
	})
}

// TestConcurrentCompaction runs the compaction of the same closed days on several nodes at
// once, while the stats are read: every viewer is counted exactly once, and every read of the
// stats, before, during and after, gives the same figures.
func TestConcurrentCompaction(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.setClock(day0)
		type adOf struct {
			id    string
			owner authn.Identity
		}
		var ads []adOf
		want := map[string]int64{} // ad/day → viewers
		var rows []viewer
		for i := range 3 {
			a, owner := f.liveAd(f.pkg(PlacementLobby, 30))
			ads = append(ads, adOf{a.ID, owner})
			for d := range 4 {
				n := 5 + 7*i + 3*d
				want[a.ID+"/"+dayOf(d)] = int64(n)
				for v := range n {
					rows = append(rows, viewer{AdID: a.ID, Day: dayOf(d), Viewer: fmt.Sprintf("v%03d", v)})
				}
			}
		}
		if err := f.gdb.CreateInBatches(rows, 200).Error; err != nil {
			t.Fatal(err)
		}
		f.setClock(day0.AddDate(0, 0, 5)) // days 0 to 3 are closed
		read := func() []*Stats {
			var out []*Stats
			for _, a := range ads {
				st, err := f.svc.Stats(ctx, a.owner, a.id, "", "")
				if err != nil {
					t.Error(err)
					return nil
				}
				out = append(out, st)
			}
			return out
		}
		before := read()
		for i, st := range before {
			for _, d := range st.Days[:4] {
				if d.UniqueViewers != want[ads[i].id+"/"+d.Date] {
					t.Fatalf("before: %+v", d)
				}
			}
		}

		const nodes = 6
		var wg sync.WaitGroup
		errs := make(chan error, nodes)
		done := make(chan struct{})
		for range nodes {
			node := NewService(ServiceParams{DB: f.gdb, Accounts: f.users, Authz: f.az, Now: f.clock.Now})
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := node.CompactViewers(ctx); err != nil {
					errs <- err
				}
			}()
		}
		var reads sync.WaitGroup
		reads.Add(1)
		go func() {
			defer reads.Done()
			for {
				if got := read(); !reflect.DeepEqual(got, before) {
					t.Errorf("stats read during compaction differ:\n got %+v\nwant %+v", got, before)
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		}()
		wg.Wait()
		close(done)
		reads.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("compact: %v", err)
		}
		if got := read(); !reflect.DeepEqual(got, before) {
			t.Fatalf("stats after compaction:\n got %+v\nwant %+v", got, before)
		}
		for _, a := range ads {
			if rows := f.viewerRows(a.id); len(rows) != 0 {
				t.Fatalf("viewer rows left: %v", rows)
			}
			got := f.folded(a.id)
			for d := range 4 {
				if got[dayOf(d)] != want[a.id+"/"+dayOf(d)] {
					t.Fatalf("ad %s folded %v", a.id, got)
				}
			}
		}
	})
}

// TestCompactDayOnce: a day's viewers are added to its stats only by the transaction that
// deleted them; a second fold of the same day finds nothing and adds nothing.
func TestCompactDayOnce(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if err := f.gdb.Create(&[]viewer{{AdID: "a", Day: dayOf(0), Viewer: "x"}, {AdID: "a", Day: dayOf(0), Viewer: "y"}}).Error; err != nil {
			t.Fatal(err)
		}
		if err := f.gdb.Create(&dailyStat{AdID: "a", Day: dayOf(0), Impressions: 9, UniqueViewers: 4}).Error; err != nil {
			t.Fatal(err)
		}
		for _, want := range []int64{2, 0} {
			if n, err := f.svc.compactDay(ctx, "a", dayOf(0)); err != nil || n != want {
				t.Fatalf("folded %d, %v; want %d", n, err, want)
			}
		}
		var row dailyStat
		if err := f.gdb.Take(&row, "ad_id = ? AND day = ?", "a", dayOf(0)).Error; err != nil {
			t.Fatal(err)
		}
		if row.UniqueViewers != 6 || row.Impressions != 9 {
			t.Fatalf("row %+v", row)
		}
		// A failed fold deletes nothing: the delete and the addition commit together or not at all.
		if err := f.gdb.Create(&viewer{AdID: "a", Day: dayOf(0), Viewer: "z"}).Error; err != nil {
			t.Fatal(err)
		}
		if err := f.gdb.Migrator().RenameTable("ad_daily_stats", "ad_daily_stats_away"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.compactDay(ctx, "a", dayOf(0)); err == nil {
			t.Fatal("folded into a missing table")
		}
		if err := f.gdb.Migrator().RenameTable("ad_daily_stats_away", "ad_daily_stats"); err != nil {
			t.Fatal(err)
		}
		if rows := f.viewerRows("a"); rows[dayOf(0)] != 1 {
			t.Fatalf("rows after a failed fold: %v", rows)
		}
	})
}
