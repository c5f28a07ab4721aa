package ads

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/cache"
)

// activeTTL is how long a node serves its list of live ads before reading it again: an ad
// paid, paused or expired shows (or stops showing) within this time on every node.
const activeTTL = time.Second

// maxTries bounds how many live ads a placement looks at for one eligible for the page.
const maxTries = 20

// botAgents are lower-case fragments of the user agents of known crawlers and link
// previewers. Their impressions and clicks are counted apart (bot_impressions, bot_clicks)
// and not as unique viewers.
var botAgents = []string{
	"googlebot", "bingbot", "yandexbot", "baiduspider", "duckduckbot", "slurp", "applebot",
	"facebookexternalhit", "twitterbot", "linkedinbot", "slackbot", "discordbot", "telegrambot",
	"ahrefsbot", "semrushbot", "mj12bot", "petalbot", "gptbot", "ccbot", "headlesschrome",
	"crawler", "spider",
}

// IsBot reports whether a user agent is a known bot's.
func IsBot(userAgent string) bool {
	ua := strings.ToLower(userAgent)
	return slices.ContainsFunc(botAgents, func(b string) bool { return strings.Contains(ua, b) })
}

// PlacerParams configure a Placer.
type PlacerParams struct {
	DB *gorm.DB
	// Cache remembers clicked tokens (set-if-absent): Redis makes a replay fail on every node.
	Cache cache.Cache
	// Key signs ad tokens; every node of a cluster must share it.
	Key []byte
	// TokenTTL is how long a served token may be clicked (default 1 h).
	TokenTTL time.Duration
	// FlushInterval is how often counts go to the database (default 2 s).
	FlushInterval time.Duration
	Log           *slog.Logger
	Now           func() time.Time
}

// Placer puts active ads into the pages other domains serve (the streamer catalogue, search)
// and counts what it served. Impressions and clicks are counted in memory and flushed every
// FlushInterval; no request writes to the database.
type Placer struct {
	db     *gorm.DB
	cache  cache.Cache
	key    []byte
	ttl    time.Duration
	every  time.Duration
	log    *slog.Logger
	now    func() time.Time
	counts *counter
	rot    map[string]*atomic.Uint64

	mu   sync.Mutex
	live map[string]liveSet // by placement

	stop      chan struct{}
	done      chan struct{}
	startOnce sync.Once
	closeOnce sync.Once
}

type liveAd struct{ ID, OwnerID string }

type liveSet struct {
	ads []liveAd
	at  time.Time
}

// NewPlacer returns a Placer; Start runs its flusher.
func NewPlacer(p PlacerParams) (*Placer, error) {
	if len(p.Key) < 16 {
		return nil, errors.New("ads: the token key must be at least 16 bytes")
	}
	pl := &Placer{db: p.DB, cache: p.Cache, key: p.Key, ttl: p.TokenTTL, every: p.FlushInterval, log: p.Log, now: p.Now,
		counts: newCounter(), rot: map[string]*atomic.Uint64{}, live: map[string]liveSet{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if pl.ttl <= 0 {
		pl.ttl = time.Hour
	}
	if pl.every <= 0 {
		pl.every = 2 * time.Second
	}
	if pl.log == nil {
		pl.log = slog.New(slog.DiscardHandler)
	}
	if pl.now == nil {
		pl.now = time.Now
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	for i, pc := range Placements {
		// Nodes start their rotations at different points, so together they stay fair too.
		c := &atomic.Uint64{}
		c.Store(uint64(seed[i]))
		pl.rot[pc] = c
	}
	return pl, nil
}

// Sponsor picks the sponsored streamer of one page of placement, rotating fairly among the
// live ads of that placement: each call takes the next ad in turn. eligible, when not nil,
// says whether a streamer may be shown on this page (it is listed, it matches the search);
// ineligible ads are skipped. The returned token goes into the served card as ad_token; the
// impression is counted now, for viewer (the signed-in user id, or the client address and user
// agent) and, apart, for a bot user agent. No live ad gives empty strings and no error.
//
// The signature uses only built-in types so that the catalogue can declare the interface it
// needs without importing this package.
func (p *Placer) Sponsor(ctx context.Context, placement, viewer, userAgent string, eligible func(streamerID string) bool) (streamerID, adID, token string, err error) {
	rot, ok := p.rot[placement]
	if !ok {
		return "", "", "", apperr.Invalidf(map[string]string{"placement": "unknown placement"})
	}
	ads, err := p.liveAds(ctx, placement)
	if err != nil || len(ads) == 0 {
		return "", "", "", err
	}
	start := rot.Add(1) - 1
	for i := range min(len(ads), maxTries) {
		a := ads[(start+uint64(i))%uint64(len(ads))]
		if eligible != nil && !eligible(a.OwnerID) {
			continue
		}
		now := p.now().UTC()
		p.counts.impression(a.ID, now.Format(time.DateOnly), viewer, IsBot(userAgent))
		return a.OwnerID, a.ID, p.mint(a.ID, now), nil
	}
	return "", "", "", nil
}

// liveAds returns the placement's active ads whose paid time is not over, sorted by id; read
// at most once per activeTTL per node.
func (p *Placer) liveAds(ctx context.Context, placement string) ([]liveAd, error) {
	now := p.now()
	p.mu.Lock()
	set, ok := p.live[placement]
	p.mu.Unlock()
	if ok && now.Sub(set.at) < activeTTL {
		return set.ads, nil
	}
	var ads []liveAd
	err := p.db.WithContext(ctx).Model(&Ad{}).Select("id", "owner_id").
		Where("status = ? AND placement = ? AND ends_at > ?", StatusActive, placement, now.UTC()).Order("id").Scan(&ads).Error
	if err != nil {
		if ok {
			p.log.WarnContext(ctx, "ads: reading live ads; serving the last list", "err", err)
			return set.ads, nil
		}
		return nil, fmt.Errorf("read live ads: %w", err)
	}
	p.mu.Lock()
	p.live[placement] = liveSet{ads: ads, at: now}
	p.mu.Unlock()
	return ads, nil
}

// tokenPrefix versions the token format.
const tokenPrefix = "v1"

// mint returns a signed token for one impression of ad: v1.<ad>.<unix seconds>.<nonce>.<mac>.
func (p *Placer) mint(ad string, now time.Time) string {
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	body := tokenPrefix + "." + ad + "." + strconv.FormatInt(now.Unix(), 10) + "." + hex.EncodeToString(nonce[:])
	return body + "." + p.mac(body)
}

func (p *Placer) mac(body string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// verify checks a token's signature and age and returns its ad and nonce.
func (p *Placer) verify(token string) (ad, nonce string, err error) {
	if len(token) > 200 {
		return "", "", ErrBadToken
	}
	parts := strings.Split(token, ".")
	if len(parts) != 5 || parts[0] != tokenPrefix {
		return "", "", ErrBadToken
	}
	body := strings.Join(parts[:4], ".")
	if !hmac.Equal([]byte(p.mac(body)), []byte(parts[4])) {
		return "", "", ErrBadToken
	}
	served, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return "", "", ErrBadToken
	}
	age := p.now().Sub(time.Unix(served, 0))
	if age > p.ttl || age < -time.Minute {
		return "", "", ErrBadToken
	}
	return parts[1], parts[3], nil
}

// Click counts one click of a served token and returns its ad. A token that onstage did not
// sign or that expired is ErrBadToken; a token clicked before, on any node, is
// ErrClickReplayed and counts nothing. Since every click needs its own served token, and
// every served token was counted as an impression, clicks never outnumber impressions.
func (p *Placer) Click(ctx context.Context, token, userAgent string) (string, error) {
	ad, nonce, err := p.verify(token)
	if err != nil {
		return "", err
	}
	fresh, err := p.cache.SetNX(ctx, "ads:click:"+nonce, []byte{1}, p.ttl+time.Hour)
	if err != nil {
		p.log.ErrorContext(ctx, "ads: click store", "err", err)
		return "", apperr.ErrUnavailable // counting it could count it twice: refuse instead
	}
	if !fresh {
		return "", ErrClickReplayed
	}
	p.counts.click(ad, p.now().UTC().Format(time.DateOnly), IsBot(userAgent))
	return ad, nil
}

// Flush adds the counts gathered since the last flush to the database now.
func (p *Placer) Flush(ctx context.Context) error { return p.counts.flush(ctx, p.db, p.log) }

// Start runs the flusher until Close.
func (p *Placer) Start() {
	p.startOnce.Do(func() {
		go func() {
			defer close(p.done)
			t := time.NewTicker(p.every)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					if err := p.Flush(ctx); err != nil {
						p.log.Warn("ads: flush counts; kept for the next flush", "err", err)
					}
					cancel()
				}
			}
		}()
	})
}

// Close stops the flusher and writes what is left.
func (p *Placer) Close() {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.startOnce.Do(func() { close(p.done) })
		<-p.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Flush(ctx); err != nil {
			p.log.Error("ads: final flush; counts lost", "err", err)
		}
	})
}
