package ads

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/cache/cachetest"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// TestPlacement: without live ads nothing is sponsored; with some, catalogue_top rotates
// evenly among exactly the active ones of that placement, skips streamers the page cannot
// show, and drops an ad as soon as its paid time is over.
func TestPlacement(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		sid, aid, tok, err := f.a.Sponsor(ctx, PlacementCatalogueTop, "v", "Mozilla/5.0", nil)
		if err != nil || sid != "" || aid != "" || tok != "" {
			t.Fatalf("no ads: %q %q %q %v", sid, aid, tok, err)
		}
		if _, _, _, err := f.a.Sponsor(ctx, "banner", "v", "", nil); err == nil {
			t.Fatal("unknown placement accepted")
		}

		top := f.pkg(PlacementCatalogueTop, 2)
		live := map[string]string{} // ad → owner
		for range 3 {
			a, _ := f.liveAd(top)
			live[a.ID] = a.OwnerID
		}
		search, _ := f.liveAd(f.pkg(PlacementSearch, 2))
		paused, owner := f.liveAd(top)
		if _, err := f.svc.Toggle(ctx, owner, paused.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Purchase(ctx, f.user("unpaid", authn.RoleStreamer), top.ID); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(2 * activeTTL) // a fresh read of the live ads

		seen := map[string]int{}
		for range 30 {
			sid, aid, tok, err := f.a.Sponsor(ctx, PlacementCatalogueTop, "v", "Mozilla/5.0", nil)
			if err != nil || tok == "" || live[aid] != sid {
				t.Fatalf("sponsor: %q %q %v", sid, aid, err)
			}
			seen[aid]++
		}
		for id := range live {
			if seen[id] != 10 {
				t.Fatalf("rotation not even: %v", seen)
			}
		}
		if _, aid, _, _ := f.a.Sponsor(ctx, PlacementSearch, "v", "", nil); aid != search.ID {
			t.Fatalf("search placed %q", aid)
		}

		var skip string
		for _, o := range live {
			skip = o
			break
		}
		for range 10 {
			sid, _, _, _ := f.a.Sponsor(ctx, PlacementCatalogueTop, "v", "", func(s string) bool { return s != skip })
			if sid == skip || sid == "" {
				t.Fatalf("ineligible or none placed: %q", sid)
			}
		}
		if sid, _, _, _ := f.a.Sponsor(ctx, PlacementCatalogueTop, "v", "", func(string) bool { return false }); sid != "" {
			t.Fatalf("placed %q with nobody eligible", sid)
		}

		f.clock.Advance(2*24*time.Hour + time.Second) // paid time over, expiry job not yet run
		if _, aid, _, _ := f.a.Sponsor(ctx, PlacementCatalogueTop, "v", "", nil); aid != "" {
			t.Fatalf("placed %s after its time", aid)
		}
	})
}

// TestCountsTwoNodes serves and clicks one ad on two nodes at once, clicking tokens on the
// node that did not serve them and replaying some: after both flush, the totals are exactly
// what was served and clicked once, a viewer seen on both nodes is one unique viewer, and
// bots are counted apart.
func TestCountsTwoNodes(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ad, owner := f.liveAd(f.pkg(PlacementCatalogueTop, 1))
		const perNode, viewers = 200, 7
		var wg sync.WaitGroup
		tokens := make(chan string, 2*perNode)
		for _, p := range []*Placer{f.a, f.b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perNode {
					ua := "Mozilla/5.0"
					if i%10 == 0 {
						ua = "Googlebot/2.1"
					}
					_, _, tok, err := p.Sponsor(ctx, PlacementCatalogueTop, fmt.Sprint("viewer-", i%viewers), ua, nil)
					if err != nil {
						t.Error(err)
						return
					}
					if i%4 == 0 {
						tokens <- tok
					}
					if i%50 == 0 {
						if err := p.Flush(ctx); err != nil {
							t.Error(err)
						}
					}
				}
			}()
		}
		wg.Wait()
		close(tokens)
		clicked, replayed := 0, 0
		i := 0
		for tok := range tokens {
			nodes := []*Placer{f.b, f.a}
			if _, err := nodes[i%2].Click(ctx, tok, "Mozilla/5.0"); err != nil {
				t.Fatal(err)
			}
			clicked++
			if _, err := nodes[(i+1)%2].Click(ctx, tok, "Mozilla/5.0"); !errors.Is(err, ErrClickReplayed) {
				t.Fatalf("replay: %v", err)
			}
			replayed++
			i++
		}
		for _, p := range []*Placer{f.a, f.b} {
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		st, err := f.svc.Stats(ctx, owner, ad.ID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		bots := int64(2 * perNode / 10)
		if st.Impressions != 2*perNode-bots || st.BotImpressions != bots || st.Clicks != int64(clicked) || st.BotClicks != 0 {
			t.Fatalf("stats %+v, clicked %d, replayed %d", st, clicked, replayed)
		}
		today := st.Days[len(st.Days)-1]
		if today.UniqueViewers != viewers || today.Impressions != st.Impressions {
			t.Fatalf("today %+v", today)
		}
	})
}

// TestClickTokens refuses tokens that were altered, signed with another key, or are too old.
func TestClickTokens(t *testing.T) {
	f := newFixture(t, dbtest.Open(t, migrations()...), cachetest.Memory(t))
	ctx := context.Background()
	f.liveAd(f.pkg(PlacementCatalogueTop, 1))
	_, _, tok, _ := f.a.Sponsor(ctx, PlacementCatalogueTop, "v", "", nil)
	// flip changes the character at i to another one, so the token really is altered.
	flip := func(i int) string {
		c := byte('0')
		if tok[i] == c {
			c = '1'
		}
		return tok[:i] + string(c) + tok[i+1:]
	}
	other, _ := NewPlacer(PlacerParams{DB: f.gdb, Cache: cachetest.Memory(t), Key: []byte("another key, also sixteen bytes+"), Now: f.clock.Now})
	for name, bad := range map[string]string{
		"empty": "", "garbage": "x.y", "altered ad": flip(4), "altered mac": flip(len(tok) - 3),
		"long": tok + string(make([]byte, 300)),
	} {
		if _, err := f.a.Click(ctx, bad, ""); !errors.Is(err, ErrBadToken) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := other.Click(ctx, tok, ""); !errors.Is(err, ErrBadToken) {
		t.Fatalf("another key: %v", err)
	}
	f.clock.Advance(time.Hour + time.Second)
	if _, err := f.a.Click(ctx, tok, ""); !errors.Is(err, ErrBadToken) {
		t.Fatalf("expired: %v", err)
	}
}

// TestFlushKeepsCountsOnFailure: counts that cannot be written stay for the next flush.
func TestFlushKeepsCountsOnFailure(t *testing.T) {
	f := newFixture(t, dbtest.Open(t, migrations()...), cachetest.Memory(t))
	ctx := context.Background()
	ad, owner := f.liveAd(f.pkg(PlacementCatalogueTop, 1))
	for i := range 5 {
		_, _, _, _ = f.a.Sponsor(ctx, PlacementCatalogueTop, fmt.Sprint(i), "", nil)
	}
	if err := f.gdb.Migrator().RenameTable("ad_daily_stats", "ad_daily_stats_away"); err != nil {
		t.Fatal(err)
	}
	if err := f.a.Flush(ctx); err == nil {
		t.Fatal("flush into a missing table succeeded")
	}
	if err := f.gdb.Migrator().RenameTable("ad_daily_stats_away", "ad_daily_stats"); err != nil {
		t.Fatal(err)
	}
	_, _, _, _ = f.a.Sponsor(ctx, PlacementCatalogueTop, "0", "", nil)
	if err := f.a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := f.svc.Stats(ctx, owner, ad.ID, "", "")
	if st.Impressions != 6 || st.Days[len(st.Days)-1].UniqueViewers != 5 {
		t.Fatalf("stats %+v", st)
	}
}

// TestIsBot names the listed crawlers and leaves browsers and command-line clients alone.
func TestIsBot(t *testing.T) {
	for ua, want := range map[string]bool{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": true,
		"Mozilla/5.0 (compatible; bingbot/2.0)":                                    true,
		"facebookexternalhit/1.1":                                                  true,
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120":    true,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0":                  false,
		"curl/8.5.0": false,
		"":           false,
	} {
		if IsBot(ua) != want {
			t.Errorf("IsBot(%q) = %v", ua, !want)
		}
	}
}

// BenchmarkSponsor is the per-request cost of placing a sponsored card (live ads cached).
func BenchmarkSponsor(b *testing.B) {
	f := newFixture(b, dbtest.Open(b, migrations()...), cachetest.Memory(b))
	ctx := context.Background()
	top := f.pkg(PlacementCatalogueTop, 1)
	for range 5 {
		s := f.user("s", authn.RoleStreamer)
		a, _ := f.svc.Purchase(ctx, s, top.ID)
		_ = f.pay(a.ID)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := f.a.Sponsor(ctx, PlacementCatalogueTop, "viewer", "Mozilla/5.0", nil); err != nil {
			b.Fatal(err)
		}
	}
}
