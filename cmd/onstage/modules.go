package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/api"
	"github.com/onstagehq/onstage/api/admin"
	"github.com/onstagehq/onstage/api/ads"
	"github.com/onstagehq/onstage/api/auth"
	"github.com/onstagehq/onstage/api/booking"
	"github.com/onstagehq/onstage/api/cards"
	"github.com/onstagehq/onstage/api/meetings"
	"github.com/onstagehq/onstage/api/nodes"
	"github.com/onstagehq/onstage/internal/audit"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/idempotency"
	"github.com/onstagehq/onstage/internal/mail"
	"github.com/onstagehq/onstage/internal/payments"
	"github.com/onstagehq/onstage/rooms"
	"github.com/onstagehq/onstage/sfu"
	"github.com/onstagehq/onstage/signaling"
	"github.com/onstagehq/onstage/web"
)

// allMigrations is every module's schema, applied in ID order.
func allMigrations() []db.Migration {
	var migs []db.Migration
	migs = append(migs, auth.Migrations()...)
	migs = append(migs, mail.Migrations()...)
	migs = append(migs, rooms.Migrations()...)
	migs = append(migs, authz.Migrations()...)
	migs = append(migs, audit.Migrations()...)
	migs = append(migs, payments.Migrations()...)
	migs = append(migs, idempotency.Migrations()...)
	migs = append(migs, booking.Migrations()...)
	migs = append(migs, cards.Migrations()...)
	migs = append(migs, ads.Migrations()...)
	return migs
}

// provideAuthz returns the permission service after seeding the permissions and roles (every
// node does it at start; it is idempotent).
func provideAuthz(ctx context.Context, gdb *gorm.DB, c cache.Cache, log *slog.Logger) (*authz.Service, error) {
	az := authz.NewService(authz.ServiceParams{Store: authz.NewStore(gdb), Cache: c, Log: log})
	if err := az.Seed(ctx); err != nil {
		return nil, fmt.Errorf("seed roles: %w", err)
	}
	return az, nil
}

// provideAudit returns the audit log with its archiving job running.
func provideAudit(cfg config.Config, gdb *gorm.DB, az *authz.Service, log *slog.Logger) (*audit.Log, func()) {
	dir := cfg.Audit.ArchiveDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "audit")
	}
	l := audit.New(audit.Params{DB: gdb, Authz: az, Log: log, Retention: cfg.Audit.Retention, ArchiveDir: dir})
	l.Start()
	return l, l.Close
}

// captchaWidget names the login's verification widget, "" when none is configured.
func captchaWidget(cfg config.Config) string {
	if cfg.Auth.Captcha.VerifyURL == "" {
		return ""
	}
	return cfg.Auth.Captcha.Provider
}

// provideVerifier returns the login's human verification, or nil when none is configured.
func provideVerifier(cfg config.Config) auth.Verifier {
	c := cfg.Auth.Captcha
	if c.VerifyURL == "" {
		return nil
	}
	return &auth.HTTPVerifier{URL: c.VerifyURL, Secret: c.Secret, Site: c.SiteKey, Provider: c.Provider}
}

func provideMailer(cfg config.Config, gdb *gorm.DB, log *slog.Logger) mail.Mailer {
	return mail.New(cfg.Mail, gdb, log)
}

func provideAuthService(cfg config.Config, store *auth.Store, c cache.Cache, iss *authn.Issuer, m mail.Mailer, az *authz.Service, log *slog.Logger) *auth.Service {
	svc := auth.NewService(auth.ServiceParams{
		Store: store, Cache: c, Issuer: iss, Mailer: m, Config: cfg.Auth, PublicURL: cfg.HTTP.PublicURL, Log: log,
		Authz: az, Verifier: provideVerifier(cfg),
	})
	az.OnLock(svc.RevokeSessions)
	return svc
}

func provideRooms(cfg config.Config, store *rooms.Store, c cache.Cache, b *bus.Bus, users *auth.Service, hooks *clusterHooks,
	pl *rooms.Placer, gate rooms.CardGate, log *slog.Logger) (*rooms.Service, func()) {
	svc := rooms.NewService(rooms.ServiceParams{
		Store: store, Cache: c, Bus: b, Users: users, Config: cfg.Meetings, NodeID: nodeID(cfg), Log: log,
		OnEvent: hooks.event, ChatOwners: pl, Cards: gate,
	})
	svc.Start()
	return svc, svc.Close
}

func provideEngine(cfg config.Config, log *slog.Logger) (*sfu.Engine, func(), error) {
	e, err := sfu.NewEngine(sfuConfig(cfg.Media), log)
	if err != nil {
		return nil, nil, err
	}
	return e, func() { _ = e.Close() }, nil
}

func provideHub(cfg config.Config, svc *rooms.Service, e *sfu.Engine, iss *authn.Issuer, b *bus.Bus, pl *rooms.Placer,
	hooks *clusterHooks, users *auth.Service, log *slog.Logger) (*signaling.Hub, func()) {
	h := signaling.NewHub(signaling.HubParams{
		Rooms: svc, Engine: e, Issuer: iss, Bus: b, ICEServers: iceServers(cfg.Media.ICEServers),
		NodeID: nodeID(cfg), Log: log, Placement: pl, Sessions: users,
		MaxConnsPerUser: cfg.Signaling.MaxConnsPerUser, MaxConnsPerAddress: cfg.Signaling.MaxConnsPerAddress,
	})
	hooks.hub.Store(h)
	return h, func() { _ = h.Shutdown(context.Background()) }
}

// provideNodeRegistry publishes this node in the cluster's registry (a no-op without Redis),
// after claiming its node id: a node whose id a live node holds does not start.
func provideNodeRegistry(ctx context.Context, cfg config.Config, c cache.Cache, log *slog.Logger) (*rooms.Registry, func(), error) {
	adv := cfg.Cluster.Advertise
	if len(adv) == 0 {
		adv = cfg.Media.NAT1To1IPs
	}
	httpAddr := cfg.Cluster.HTTPAddr
	if httpAddr == "" {
		httpAddr = cfg.HTTP.Addr
	}
	reg := rooms.NewRegistry(rooms.RegistryParams{Redis: rooms.RedisClient(c), NodeID: nodeID(cfg), Advertise: adv,
		HTTPAddr: httpAddr, Interval: cfg.Cluster.RegistryInterval, TTL: cfg.Cluster.RegistryTTL, Log: log})
	if err := reg.Claim(ctx); err != nil {
		return nil, nil, err
	}
	reg.Start()
	return reg, reg.Close, nil
}

// nodeLoad is what this node reports to the registry: its rooms, members, forwarded bitrate
// and CPU. The same figures are exported as Prometheus metrics.
type nodeLoad struct{}

func provideNodeLoad(reg *rooms.Registry, hub *signaling.Hub, engine *sfu.Engine, prom *prometheus.Registry) nodeLoad {
	cpu := rooms.NewCPUSampler()
	var (
		mu        sync.Mutex
		lastBytes uint64
		lastAt    = time.Now()
	)
	reg.SetLoad(func() rooms.NodeInfo {
		s, media := hub.Stats(), engine.Stats()
		mu.Lock()
		now := time.Now()
		var bps int64
		if dt := now.Sub(lastAt).Seconds(); dt > 0 && media.ForwardedBytes >= lastBytes {
			bps = int64(float64(media.ForwardedBytes-lastBytes) * 8 / dt)
		}
		lastBytes, lastAt = media.ForwardedBytes, now
		mu.Unlock()
		return rooms.NodeInfo{Rooms: s.Rooms, Participants: s.Members, BitrateBps: bps, CPULoad: cpu.Load(),
			Draining: hub.Draining()}
	})
	prom.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "onstage", Name: "sfu_forwarded_packets_total",
			Help: "RTP packets forwarded to subscribers."}, func() float64 { return float64(engine.Stats().ForwardedPackets) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "onstage", Name: "sfu_forwarded_bytes_total",
			Help: "RTP payload bytes forwarded to subscribers."}, func() float64 { return float64(engine.Stats().ForwardedBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "onstage", Name: "sfu_fanout_queue_dropped_total",
			Help: "Packets a full fan-out shard queue refused (one per shard and packet)."},
			func() float64 { return float64(engine.Stats().QueueDropped) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "onstage", Name: "sfu_fanout_stale_dropped_total",
			Help: "Packets dropped after waiting too long in a fan-out shard queue."},
			func() float64 { return float64(engine.Stats().StaleDropped) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "onstage", Name: "sfu_retransmitted_packets_total",
			Help: "Packets resent from a track's cache in answer to subscribers' NACKs."},
			func() float64 { return float64(engine.Stats().Retransmitted) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "onstage", Name: "rooms",
			Help: "Live meetings served by this node."}, func() float64 { return float64(hub.Stats().Rooms) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "onstage", Name: "participants",
			Help: "Participants on this node, including those within their reconnect grace."},
			func() float64 { return float64(hub.Stats().Members) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "onstage", Name: "ws_connections",
			Help: "Open WebSocket connections."}, func() float64 { return float64(hub.Stats().Connections) }),
	)
	return nodeLoad{}
}

func provideRouter(cfg config.Config, mw authn.Middleware, ah *auth.Handler, mh *meetings.Handler, nh *nodes.Handler,
	ph *payments.Handler, adm *admin.Handler, bh *booking.Handler, ch *cards.Handler, adh *ads.Handler, az *authz.Service, al *audit.Log, c cache.Cache, log *slog.Logger,
	hub *signaling.Hub, _ nodeLoad, checks map[string]api.Check, reg *prometheus.Registry) (http.Handler, error) {
	trusted, err := api.ParseTrustedProxies(cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	return api.NewRouter(api.RouterParams{
		TrustedProxies: trusted,
		Auth:           mw, Modules: []api.Module{ah, mh, nh, ph, adm, bh, ch, adh}, Checks: checks, Registry: reg,
		Pages:     map[string]http.Handler{"/pay/*": ph.Page()},
		WebSocket: hub, Web: web.WithCaptcha(captchaWidget(cfg)), OpenAPI: api.OpenAPI(), Pprof: cfg.HTTP.Pprof,
		SeparateMetrics: cfg.HTTP.MetricsAddr != "",
		Authz:           az, Audit: al.Middleware("/api/v1/admin/", "/api/v1/admin/audit", adminOperations()),
		WriteLimit: api.WriteLimit(c, cfg.HTTP.WriteRatePerIP, cfg.HTTP.WriteRatePerUser, log),
	}), nil
}

func provideApp(cfg config.Config, srv *http.Server, ms metricsServer, hub *signaling.Hub, reg *rooms.Registry, pl *rooms.Placer,
	pay *payments.Service, placer *ads.Placer, log *slog.Logger) *App {
	drain := func(ctx context.Context) {
		if err := hub.Shutdown(ctx); err != nil {
			slog.Warn("signaling shutdown", "err", err)
		}
	}
	return &App{NodeID: nodeID(cfg), Server: srv, Metrics: ms.Server, hub: hub, drain: drainNode(cfg, reg, pl, hub, log), drainers: []func(context.Context){drain},
		Payments: pay, Ads: placer}
}

func sfuConfig(m config.Media) sfu.Config {
	return sfu.Config{
		UDPPortMin: uint16(m.UDPPortMin), UDPPortMax: uint16(m.UDPPortMax), UDPMuxPort: m.UDPMuxPort,
		NAT1To1IPs: m.NAT1To1IPs, IncludeLoopback: m.IncludeLoopback, ICEServers: iceServers(m.ICEServers),
		SubscriberTransport: m.SubscriberTransport,
	}
}
