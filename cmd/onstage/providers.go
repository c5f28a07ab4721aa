package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/api"
	"github.com/onstagehq/onstage/api/ads"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/bus"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/payments"
	"github.com/onstagehq/onstage/signaling"
)

// App is a running node's object graph, as assembled by wire.
type App struct {
	NodeID string
	Server *http.Server
	// Metrics serves /metrics on http.metrics_addr; nil when /metrics is on Server.
	Metrics *http.Server
	// drainers run, in order, before the HTTP server shuts down (the signaling hub closes its
	// sockets with "going away" so that clients reconnect elsewhere).
	drainers []func(ctx context.Context)
	hub      *signaling.Hub
	// drain runs first, unbounded by the shutdown timeout: a clustered node keeps its rooms
	// for up to cluster.drain_timeout while taking no new ones.
	drain func()
	// Payments is the payment service; selling domains register their purposes with it.
	Payments *payments.Service
	// Ads places sponsored streamers into pages and counts their impressions and clicks.
	Ads *ads.Placer
}

// Drain runs the cluster drain step, if any.
func (a *App) Drain() {
	if a.drain != nil {
		a.drain()
	}
}

// Shutdown runs the drainers.
func (a *App) Shutdown(ctx context.Context) {
	for _, d := range a.drainers {
		d(ctx)
	}
}

// nodeID is this node's id: node_id, or the host name and HTTP port (config.DefaultNodeID).
func nodeID(cfg config.Config) string {
	if cfg.NodeID != "" {
		return cfg.NodeID
	}
	return config.DefaultNodeID(cfg.HTTP.Addr, cfg.DataDir)
}

func openDatabase(ctx context.Context, cfg config.Config, log *slog.Logger) (*gorm.DB, func(), error) {
	gdb, err := db.Open(cfg.Database.DSN, cfg.DataDir, log)
	if err != nil {
		return nil, nil, err
	}
	return gdb, func() { _ = db.Close(gdb) }, nil
}

// provideDatabase opens the database and applies pending migrations, so a fresh node starts
// with a current schema.
func provideDatabase(ctx context.Context, cfg config.Config, log *slog.Logger) (*gorm.DB, func(), error) {
	gdb, cleanup, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	applied, err := db.Migrate(ctx, gdb, allMigrations())
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "ids", applied)
	}
	return gdb, cleanup, nil
}

func provideCache(cfg config.Config) (cache.Cache, func(), error) {
	c, err := cache.Open(cfg.Redis.URL)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { _ = c.Close() }, nil
}

func provideBus(ctx context.Context, cfg config.Config, log *slog.Logger) (*bus.Bus, func(), error) {
	n := cfg.NATS
	b, err := bus.Open(ctx, bus.Params{URL: n.URL, DataDir: cfg.DataDir, Name: "onstage-" + nodeID(cfg), Log: log,
		CredsFile: n.CredsFile, NKeySeedFile: n.NKeySeedFile, TLS: n.TLS.Enabled, TLSCAFile: n.TLS.CAFile,
		TLSCertFile: n.TLS.CertFile, TLSKeyFile: n.TLS.KeyFile})
	if err != nil {
		return nil, nil, err
	}
	return b, b.Close, nil
}

func provideIssuer(cfg config.Config) (*authn.Issuer, error) {
	secret, err := cfg.JWTSecret()
	if err != nil {
		return nil, err
	}
	return authn.NewIssuer(secret)
}

func provideMiddleware(iss *authn.Issuer) authn.Middleware {
	return authn.Middleware{Issuer: iss, Reject: api.Reject}
}

func provideRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func provideChecks(gdb *gorm.DB, c cache.Cache, b *bus.Bus) map[string]api.Check {
	return map[string]api.Check{
		"database": func(ctx context.Context) error { return db.Ping(ctx, gdb) },
		"cache":    c.Ping,
		"bus":      b.Ping,
	}
}

func provideServer(cfg config.Config, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              cfg.HTTP.Addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// metricsServer is the /metrics listener's server, nil inside unless http.metrics_addr is set.
type metricsServer struct{ *http.Server }

func provideMetricsServer(cfg config.Config, reg *prometheus.Registry) metricsServer {
	if cfg.HTTP.MetricsAddr == "" {
		return metricsServer{}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", api.MetricsHandler(reg))
	return metricsServer{&http.Server{
		Addr:              cfg.HTTP.MetricsAddr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}}
}
