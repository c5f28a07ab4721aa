package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/api/ads"
	"github.com/onstagehq/onstage/api/auth"
	"github.com/onstagehq/onstage/api/booking"
	"github.com/onstagehq/onstage/internal/audit"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/idempotency"
	"github.com/onstagehq/onstage/internal/payments"
)

// clickRatePerMinute bounds POST /ads/click per client address.
const clickRatePerMinute = 120

// provideAds returns the ads service with its payment purpose registered and its background
// job (expiry, unpaid ads, viewer compaction) running.
func provideAds(cfg config.Config, gdb *gorm.DB, users *auth.Service, az *authz.Service, al *audit.Log,
	pay *payments.Service, log *slog.Logger) (*ads.Service, func(), error) {
	svc := ads.NewService(ads.ServiceParams{DB: gdb, Accounts: users, Authz: az, Audit: al, Log: log,
		ExpireInterval: cfg.Ads.ExpireInterval, PendingTTL: cfg.Ads.PendingTTL})
	if err := pay.Register(svc.Purpose()); err != nil {
		return nil, nil, fmt.Errorf("ads: %w", err)
	}
	svc.Start()
	return svc, svc.Close, nil
}

// adsTokenKey signs sponsored cards' click tokens: derived from the JWT secret, which every
// node of a cluster shares, so a token served by one node is accepted by all.
func adsTokenKey(cfg config.Config) ([]byte, error) {
	jwt, err := cfg.JWTSecret()
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, jwt)
	m.Write([]byte("onstage/ads-click-token"))
	return m.Sum(nil), nil
}

// provideAdsPlacer returns the sponsored placement with its count flusher running.
func provideAdsPlacer(cfg config.Config, gdb *gorm.DB, c cache.Cache, log *slog.Logger) (*ads.Placer, func(), error) {
	key, err := adsTokenKey(cfg)
	if err != nil {
		return nil, nil, err
	}
	p, err := ads.NewPlacer(ads.PlacerParams{DB: gdb, Cache: c, Key: key, TokenTTL: cfg.Ads.TokenTTL,
		FlushInterval: cfg.Ads.FlushInterval, Log: log})
	if err != nil {
		return nil, nil, err
	}
	p.Start()
	return p, p.Close, nil
}

// The catalogue's sponsored cards come from the ads placer.
var _ booking.Sponsors = (*ads.Placer)(nil)

// provideAdsHandler returns the ads routes and lets the streamer catalogue place sponsored
// cards through placer.
func provideAdsHandler(svc *ads.Service, placer *ads.Placer, mw authn.Middleware, c cache.Cache, keeper *idempotency.Keeper,
	catalogue *booking.Handler) *ads.Handler {
	catalogue.SetSponsors(placer)
	return ads.NewHandler(ads.HandlerParams{Service: svc, Placer: placer, Middleware: mw, Idempotent: keeper.Middleware,
		Clicks: cache.NewLimiter(c, "ads:click-rate:", clickRatePerMinute, time.Minute)})
}
