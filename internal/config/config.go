// Package config owns onstage's configuration: one struct with its defaults in code, a YAML
// file that may override them, and ONSTAGE_* environment variables that override both.
//
// Every key of the YAML file maps to an environment variable by joining its path with "_" and
// upper-casing it: database.dsn is ONSTAGE_DATABASE_DSN, http.addr is ONSTAGE_HTTP_ADDR.
package config

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of one onstage node.
type Config struct {
	// NodeID names this node in logs, in the cluster registry and in its NATS subjects: letters,
	// digits, '-' and '_'. Empty means DefaultNodeID: the host name and the HTTP port. Two live
	// nodes never share one (the second refuses to start).
	NodeID string `yaml:"node_id"`
	// DataDir holds the SQLite database, the embedded NATS store and the generated secret.
	DataDir string `yaml:"data_dir"`
	// GCPercent is the Go garbage collector's target (the GOGC environment variable, when
	// set, wins): the heap may grow this many percent over the live heap before the next
	// collection. 0 leaves the Go runtime's default (100).
	GCPercent int      `yaml:"gc_percent"`
	HTTP      HTTP     `yaml:"http"`
	Database  Database `yaml:"database"`
	Redis     Redis    `yaml:"redis"`
	NATS      NATS     `yaml:"nats"`
	Auth      Auth     `yaml:"auth"`
	Mail      Mail     `yaml:"mail"`
	Media     Media    `yaml:"media"`
	Meetings  Meetings `yaml:"meetings"`
	Cluster   Cluster  `yaml:"cluster"`
	Log       Log      `yaml:"log"`
	Payments  Payments `yaml:"payments"`
	// Idempotency configures the Idempotency-Key store of retried writes.
	Idempotency Idempotency `yaml:"idempotency"`
	Audit       Audit       `yaml:"audit"`
	Booking     Booking     `yaml:"booking"`
	Storage     Storage     `yaml:"storage"`

	Signaling Signaling `yaml:"signaling"`
	// Cards configures card keys, the quota ledger and the signed verify API.
	Cards Cards `yaml:"cards"`
	// Ads configures the ads domain's background work.
	Ads Ads `yaml:"ads"`
}

// Cards configures the card-key domain. Zero fields take the defaults.
type Cards struct {
	// UnbindsPer30Days bounds how often one key's device may be cleared in 30 days.
	UnbindsPer30Days int `yaml:"unbinds_per_30_days"`
	// SecretGrace is how long a rotated project secret keeps signing valid requests.
	SecretGrace time.Duration `yaml:"secret_grace"`
	// VerifyRatePerProject and VerifyRatePerKey bound signed requests per minute.
	VerifyRatePerProject int `yaml:"verify_rate_per_project"`
	VerifyRatePerKey     int `yaml:"verify_rate_per_key"`
	// MinAmount is the smallest recharge, transfer or withdrawal, in quota units.
	MinAmount int64 `yaml:"min_amount"`
	// CallbackAttempts bounds the deliveries of one activation notification.
	CallbackAttempts int `yaml:"callback_attempts"`
	// VerificationRetention is how long a row of the verification log (one per signed verify
	// or query) stays before the background job deletes it.
	VerificationRetention time.Duration `yaml:"verification_retention"`
}

// Ads configures the ads domain's background work.
type Ads struct {
	// FlushInterval is how often a node adds its in-memory impression and click counts to
	// the database; stats are at most this (plus a flush) old, so it must stay under 10 s.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// ExpireInterval is how often ads whose paid time is over are expired; the same job cancels
	// unpaid ads and compacts the unique viewers of closed days.
	ExpireInterval time.Duration `yaml:"expire_interval"`
	// TokenTTL is how long a served ad_token may be clicked.
	TokenTTL time.Duration `yaml:"token_ttl"`
	// PendingTTL is how long a purchased ad waits for its payment before it is canceled. It
	// must be at least payments.intent_ttl, so that an ad is not canceled before an intent
	// opened at its purchase is; the default, a day, leaves the buyer time to try again and is
	// how long a Stripe Checkout session stays open by default. A payment that succeeds for an
	// ad already canceled is refunded.
	PendingTTL time.Duration `yaml:"pending_ttl"`
}

// Audit configures the admin audit log.
type Audit struct {
	// Retention is how long rows stay in the database before the background job archives
	// them (seed: three months).
	Retention time.Duration `yaml:"retention"`
	// ArchiveDir receives the archived rows as JSON lines; empty is DataDir/audit.
	ArchiveDir string `yaml:"archive_dir"`
}

// HTTP configures the listener that serves REST, WebSocket, the web client and operations.
type HTTP struct {
	Addr string `yaml:"addr"`
	// PublicURL is the address users reach this service at; links in emails use it.
	PublicURL       string        `yaml:"public_url"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MetricsAddr, when set, serves /metrics on its own listener (an address that only the
	// monitoring network reaches) instead of on Addr. Empty keeps /metrics on Addr.
	MetricsAddr string `yaml:"metrics_addr"`
	// Pprof exposes /debug/pprof on the main listener (admin token required).
	Pprof bool `yaml:"pprof"`
	// TrustedProxies are the load balancers (addresses or CIDRs) whose X-Forwarded-For names
	// the real client, for per-client rate limits.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// WriteRatePerIP and WriteRatePerUser bound write requests (POST, PUT, PATCH, DELETE)
	// to /api/v1 per minute, per client address and per signed-in user.
	WriteRatePerIP   int `yaml:"write_rate_per_ip"`
	WriteRatePerUser int `yaml:"write_rate_per_user"`
}

// Database selects the SQL database: empty is SQLite under DataDir.
type Database struct {
	DSN string `yaml:"dsn" secret:"dsn"`
}

// Redis selects the shared cache: empty is an in-process cache.
type Redis struct {
	URL string `yaml:"url" secret:"dsn"`
}

// NATS selects the bus: empty starts a NATS server inside the process. The bus is a trust
// boundary (docs/cluster.md): a shared server should authenticate the nodes (credentials or
// an NKey) and encrypt their traffic (TLS).
type NATS struct {
	URL string `yaml:"url" secret:"dsn"`
	// CredsFile is a NATS credentials file (user JWT and NKey seed), for servers using
	// decentralized (operator) authentication.
	CredsFile string `yaml:"creds_file"`
	// NKeySeedFile is a file holding the NKey seed ("SU…") of a server's nkey user.
	NKeySeedFile string `yaml:"nkey_seed_file"`
	TLS          TLS    `yaml:"tls"`
}

// TLS configures a client's TLS: the CA to trust (empty: the system's roots) and a client
// certificate for servers that verify clients.
type TLS struct {
	// Enabled requires TLS even when the URL says nats://; setting any file enables it too.
	Enabled  bool   `yaml:"enabled"`
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Auth configures tokens and login protection.
type Auth struct {
	// JWTSecret signs access and resume tokens. Empty: a random one is generated on first start
	// and kept in DataDir/jwt.secret. Every node of a cluster must share one.
	JWTSecret      string        `yaml:"jwt_secret" secret:"true"`
	AccessTTL      time.Duration `yaml:"access_ttl"`
	RefreshTTL     time.Duration `yaml:"refresh_ttl"`
	GuestTTL       time.Duration `yaml:"guest_ttl"`
	MaxFailedLogin int           `yaml:"max_failed_logins"`
	LockoutFor     time.Duration `yaml:"lockout"`
	// RatePerMinute bounds auth requests per client address per minute.
	RatePerMinute int `yaml:"rate_per_minute"`
	// Captcha, when its VerifyURL is set, demands a human verification token on logins
	// after three failures for the account (reCAPTCHA, hCaptcha and Turnstile all speak
	// this siteverify protocol).
	Captcha Captcha `yaml:"captcha"`
}

// Captcha configures human verification on login.
type Captcha struct {
	// Provider names the browser widget: recaptcha, hcaptcha or turnstile.
	Provider  string `yaml:"provider"`
	VerifyURL string `yaml:"verify_url"`
	SiteKey   string `yaml:"site_key"`
	Secret    string `yaml:"secret" secret:"true"`
}

// Mail configures outgoing mail. Empty SMTPHost keeps mail in the outbox table, read with
// `onstage mail outbox`; the log only notes each message, never its links.
type Mail struct {
	SMTPHost string `yaml:"smtp_host"`
	SMTPPort int    `yaml:"smtp_port"`
	Username string `yaml:"username"`
	Password string `yaml:"password" secret:"true"`
	From     string `yaml:"from"`
}

// Media configures the SFU's ICE transport.
type Media struct {
	UDPPortMin      int      `yaml:"udp_port_min"`
	UDPPortMax      int      `yaml:"udp_port_max"`
	UDPMuxPort      int      `yaml:"udp_mux_port"`
	NAT1To1IPs      []string `yaml:"nat_1to1_ips"`
	IncludeLoopback bool     `yaml:"include_loopback"`
	// SubscriberTransport carries the media the server sends: "lite" (onstage's own ICE-lite,
	// DTLS and SRTP; needs the shared port, no udp_port_min/max) or "pion" (a Pion peer
	// connection per subscriber).
	SubscriberTransport string `yaml:"subscriber_transport"`
	// ICEServers are handed to clients in `joined`: "stun:host:3478" or "turn:user:pass@host:3478".
	ICEServers []string `yaml:"ice_servers" secret:"list"`
}

// Meetings configures the meeting domain's background work.
type Meetings struct {
	ExpiryGrace   time.Duration `yaml:"expiry_grace"`
	SweepInterval time.Duration `yaml:"sweep_interval"`
}

// Signaling configures the WebSocket hub.
type Signaling struct {
	// MaxConnsPerUser bounds the open sockets of one user on this node, and
	// MaxConnsPerAddress those of one client address; a socket over either is closed with 1008.
	MaxConnsPerUser    int `yaml:"max_conns_per_user"`
	MaxConnsPerAddress int `yaml:"max_conns_per_address"`
}

// Cluster configures this node's place in a cluster. It matters only when redis.url is set:
// without Redis every room is placed on this node.
type Cluster struct {
	// Advertise are the media addresses published in the node registry; empty means
	// media.nat_1to1_ips.
	Advertise []string `yaml:"advertise"`
	// HTTPAddr is this node's HTTP address published in the registry; empty means http.addr.
	HTTPAddr string `yaml:"http_addr"`
	// Placement picks the node for a new room: lowest (least loaded) or twochoice (the less
	// loaded of two random nodes).
	Placement string `yaml:"placement"`
	// LeaseTTL is how long a room's lease lives; the owner renews it every lease_ttl/3.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// RegistryInterval is how often this node publishes its registry entry.
	RegistryInterval time.Duration `yaml:"registry_interval"`
	// RegistryTTL is when an unrefreshed registry entry expires.
	RegistryTTL time.Duration `yaml:"registry_ttl"`
	// DrainTimeout is how long a node told to stop (SIGTERM) keeps its rooms, taking no new
	// ones, before it asks their clients to reconnect elsewhere and exits.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// MinPaymentEventRetention is the shortest payments.event_retention: a week, over Stripe's
// three days of redelivery.
const MinPaymentEventRetention = 7 * 24 * time.Hour

// Payments configures the payment platform.
type Payments struct {
	// Provider takes new payment intents: sandbox (built in, no money moves) or stripe.
	Provider string `yaml:"provider"`
	// ReconcileAfter is how long a payment may stay open before its provider is asked.
	ReconcileAfter time.Duration `yaml:"reconcile_after"`
	// IntentTTL is when an intent nobody paid is canceled (and what it held released).
	IntentTTL time.Duration `yaml:"intent_ttl"`
	// ReconcileInterval is how often the reconciler runs.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// EventRetention is how long a received provider event stays in the inbox (payment_events)
	// before the reconciler deletes it. The inbox is what makes a redelivered event a no-op, so
	// it must outlast the providers' redelivery (Stripe retries for up to three days).
	EventRetention time.Duration `yaml:"event_retention"`
	// WebhookRatePerMinute bounds webhook and sandbox requests per client address.
	WebhookRatePerMinute int             `yaml:"webhook_rate_per_minute"`
	Sandbox              PaymentsSandbox `yaml:"sandbox"`
	Stripe               PaymentsStripe  `yaml:"stripe"`
}

// PaymentsSandbox configures the built-in sandbox provider.
type PaymentsSandbox struct {
	// WebhookSecret signs the sandbox's webhooks. Empty: derived from the JWT secret, so every
	// node of a cluster shares it.
	WebhookSecret string `yaml:"webhook_secret" secret:"true"`
	// WebhookURL is where the sandbox delivers webhooks. Empty: http.public_url +
	// /api/v1/payments/webhook/sandbox.
	WebhookURL string `yaml:"webhook_url"`
	// DuplicatePercent is the share of webhooks the sandbox delivers twice.
	DuplicatePercent int `yaml:"duplicate_percent"`
}

// PaymentsStripe configures the Stripe provider.
type PaymentsStripe struct {
	SecretKey string `yaml:"secret_key" secret:"true"`
	// BaseURL replaces https://api.stripe.com (a local mock, a proxy). Empty: Stripe itself.
	BaseURL string `yaml:"base_url"`
	// WebhookSecret is the webhook endpoint's signing secret (whsec_…).
	WebhookSecret string `yaml:"webhook_secret" secret:"true"`
	// PreviousWebhookSecret is accepted as well while the endpoint's secret is rotated.
	PreviousWebhookSecret string `yaml:"previous_webhook_secret" secret:"true"`
}

// Idempotency configures how long answers to Idempotency-Key requests are replayed.
type Idempotency struct {
	TTL time.Duration `yaml:"ttl"`
}

// Booking configures streamer bookings.
type Booking struct {
	// HoldTTL is how long an unpaid order holds its time.
	HoldTTL time.Duration `yaml:"hold_ttl"`
	// CatalogTTL bounds how long a cached catalogue page lives (changes invalidate it at once).
	CatalogTTL time.Duration `yaml:"catalog_ttl"`
	// SweepInterval is how often expired holds and ended sessions are swept.
	SweepInterval time.Duration `yaml:"sweep_interval"`
}

// Storage configures where uploaded files are kept.
type Storage struct {
	// Driver is "local" (the default: a directory) or "s3" (an S3-compatible store).
	Driver string `yaml:"driver"`
	// Dir is the local directory of uploads; empty is <data_dir>/uploads.
	Dir string    `yaml:"dir"`
	S3  StorageS3 `yaml:"s3"`
}

// StorageS3 is an S3-compatible bucket (AWS S3, MinIO), addressed path-style.
type StorageS3 struct {
	Endpoint  string `yaml:"endpoint"`
	Bucket    string `yaml:"bucket"`
	Region    string `yaml:"region"`
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key" secret:"true"`
}

// DefaultGCPercent is half the Go runtime's default. The media path allocates little
// (about 1.5 MB/s at livestream 1→50) while every subscriber holds about 250 KB of buffers
// and goroutine stacks, so a collector that lets the heap double costs memory per
// subscriber for almost no CPU saved: measured on two cores, 50 instead of 100 takes the
// RSS per subscriber from about 600 to about 460 KB for one more collection per 15 s
// (about 15 ms of CPU). Below about 30 the collections start to show in the cost per
// forwarded packet. docs/benchmarks.md has the figures.
const DefaultGCPercent = 50

// Default returns the configuration of a single node that needs nothing installed.
func Default() Config {
	return Config{
		DataDir:   "./data",
		GCPercent: DefaultGCPercent,
		HTTP: HTTP{Addr: ":8080", PublicURL: "http://localhost:8080", ShutdownTimeout: 15 * time.Second,
			WriteRatePerIP: 600, WriteRatePerUser: 300},
		Auth: Auth{
			AccessTTL: 15 * time.Minute, RefreshTTL: 30 * 24 * time.Hour, GuestTTL: 12 * time.Hour,
			MaxFailedLogin: 5, LockoutFor: 15 * time.Minute, RatePerMinute: 60,
		},
		Mail:     Mail{SMTPPort: 587, From: "onstage <no-reply@localhost>"},
		Media:    Media{IncludeLoopback: true, SubscriberTransport: "lite"},
		Meetings: Meetings{ExpiryGrace: 15 * time.Minute, SweepInterval: 30 * time.Second},
		Cluster: Cluster{Placement: "lowest", LeaseTTL: 6 * time.Second, RegistryInterval: 2 * time.Second,
			RegistryTTL: 6 * time.Second, DrainTimeout: 30 * time.Second},
		Log: Log{Level: "info", Format: "text"},
		Payments: Payments{Provider: "sandbox", ReconcileAfter: 10 * time.Minute, IntentTTL: time.Hour,
			ReconcileInterval: time.Minute, EventRetention: 90 * 24 * time.Hour, WebhookRatePerMinute: 600, Sandbox: PaymentsSandbox{DuplicatePercent: 20}},
		Idempotency: Idempotency{TTL: 24 * time.Hour},
		Audit:       Audit{Retention: 90 * 24 * time.Hour},
		Ads:         Ads{FlushInterval: 2 * time.Second, ExpireInterval: 10 * time.Second, TokenTTL: time.Hour, PendingTTL: 24 * time.Hour},
		Booking:     Booking{HoldTTL: 15 * time.Minute, CatalogTTL: time.Minute, SweepInterval: 30 * time.Second},
		Storage:     Storage{Driver: "local", S3: StorageS3{Region: "us-east-1"}},

		Signaling: Signaling{MaxConnsPerUser: 8, MaxConnsPerAddress: 32},
		Cards: Cards{UnbindsPer30Days: 3, SecretGrace: 24 * time.Hour, VerifyRatePerProject: 6000, VerifyRatePerKey: 60,
			MinAmount: 1, CallbackAttempts: 8, VerificationRetention: 90 * 24 * time.Hour},
	}
}

// ErrInvalid wraps every configuration error, so callers can tell a bad config from an I/O fault.
var ErrInvalid = errors.New("invalid config")

// Load builds the effective configuration: defaults, then the file at path (if not empty), then
// the environment (lookup is os.LookupEnv in production).
func Load(path string, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, errEOF) {
			return cfg, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
		}
	}
	if lookup != nil {
		if err := applyEnv(reflect.ValueOf(&cfg).Elem(), "ONSTAGE", lookup); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}

var errEOF = io.EOF

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.NodeID != "" && !validNodeID(c.NodeID):
		return fmt.Errorf("%w: node_id may hold only letters, digits, '-' and '_' (at most 64)", ErrInvalid)
	case c.HTTP.Addr == "":
		return fmt.Errorf("%w: http.addr is empty", ErrInvalid)
	case c.HTTP.MetricsAddr != "" && c.HTTP.MetricsAddr == c.HTTP.Addr && !strings.HasSuffix(c.HTTP.Addr, ":0"):
		return fmt.Errorf("%w: http.metrics_addr must differ from http.addr (leave it empty to serve /metrics there)", ErrInvalid)
	case c.DataDir == "":
		return fmt.Errorf("%w: data_dir is empty", ErrInvalid)
	case c.GCPercent != 0 && (c.GCPercent < 10 || c.GCPercent > 1000):
		return fmt.Errorf("%w: gc_percent must be 0 (the Go default) or within 10-1000", ErrInvalid)
	case c.Auth.AccessTTL <= 0 || c.Auth.RefreshTTL <= 0 || c.Auth.GuestTTL <= 0:
		return fmt.Errorf("%w: auth token lifetimes must be positive", ErrInvalid)
	case c.Auth.JWTSecret != "" && len(c.Auth.JWTSecret) < 32:
		return fmt.Errorf("%w: auth.jwt_secret must be at least 32 characters", ErrInvalid)
	case c.Media.UDPPortMin < 0 || c.Media.UDPPortMax > 65535 || c.Media.UDPPortMin > c.Media.UDPPortMax:
		return fmt.Errorf("%w: media.udp_port_min/max must be a range within 0-65535", ErrInvalid)
	case c.Media.UDPMuxPort < 0 || c.Media.UDPMuxPort > 65535:
		return fmt.Errorf("%w: media.udp_mux_port out of range", ErrInvalid)
	case c.Media.SubscriberTransport != "lite" && c.Media.SubscriberTransport != "pion":
		return fmt.Errorf("%w: media.subscriber_transport must be lite or pion", ErrInvalid)
	case c.Media.SubscriberTransport == "lite" && c.Media.UDPMuxPort == 0 && c.Media.UDPPortMax != 0:
		return fmt.Errorf("%w: media.subscriber_transport lite needs the shared port: set udp_mux_port, or leave udp_port_min/max at 0", ErrInvalid)
	case c.HTTP.WriteRatePerIP < 1 || c.HTTP.WriteRatePerUser < 1:
		return fmt.Errorf("%w: http.write_rate_per_ip and write_rate_per_user must be at least 1", ErrInvalid)
	case c.Auth.Captcha.VerifyURL != "" && c.Auth.Captcha.Provider != "turnstile" && c.Auth.Captcha.Provider != "hcaptcha" &&
		c.Auth.Captcha.Provider != "recaptcha":
		return fmt.Errorf("%w: auth.captcha.provider must be turnstile, hcaptcha or recaptcha", ErrInvalid)
	case c.Audit.Retention <= 0:
		return fmt.Errorf("%w: audit.retention must be positive", ErrInvalid)
	case c.Meetings.SweepInterval <= 0:
		return fmt.Errorf("%w: meetings.sweep_interval must be positive", ErrInvalid)
	case c.Signaling.MaxConnsPerUser <= 0 || c.Signaling.MaxConnsPerAddress <= 0:
		return fmt.Errorf("%w: signaling.max_conns_per_user and max_conns_per_address must be positive", ErrInvalid)
	}
	n := c.NATS
	switch {
	case n.URL == "" && (n.CredsFile != "" || n.NKeySeedFile != "" || n.TLS != TLS{}):
		return fmt.Errorf("%w: nats.creds_file, nats.nkey_seed_file and nats.tls need nats.url (the embedded server takes none)", ErrInvalid)
	case n.CredsFile != "" && n.NKeySeedFile != "":
		return fmt.Errorf("%w: set nats.creds_file or nats.nkey_seed_file, not both", ErrInvalid)
	case (n.TLS.CertFile == "") != (n.TLS.KeyFile == ""):
		return fmt.Errorf("%w: nats.tls.cert_file and nats.tls.key_file go together", ErrInvalid)
	}
	switch {
	case c.Cluster.Placement != "lowest" && c.Cluster.Placement != "twochoice":
		return fmt.Errorf("%w: cluster.placement must be lowest or twochoice", ErrInvalid)
	case c.Cluster.LeaseTTL <= 0 || c.Cluster.RegistryInterval <= 0:
		return fmt.Errorf("%w: cluster.lease_ttl and cluster.registry_interval must be positive", ErrInvalid)
	case c.Cluster.DrainTimeout < 0:
		return fmt.Errorf("%w: cluster.drain_timeout must not be negative", ErrInvalid)
	case c.Cluster.RegistryTTL <= c.Cluster.RegistryInterval:
		return fmt.Errorf("%w: cluster.registry_ttl must be longer than cluster.registry_interval", ErrInvalid)
	}
	if err := c.Payments.validate(); err != nil {
		return err
	}
	switch c.Storage.Driver {
	case "", "local":
	case "s3":
		if c.Storage.S3.Endpoint == "" || c.Storage.S3.Bucket == "" || c.Storage.S3.AccessKey == "" || c.Storage.S3.SecretKey == "" {
			return fmt.Errorf("%w: storage.s3 needs endpoint, bucket, access_key and secret_key", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: storage.driver must be local or s3", ErrInvalid)
	}
	if c.Booking.HoldTTL <= 0 || c.Booking.CatalogTTL <= 0 || c.Booking.SweepInterval <= 0 {
		return fmt.Errorf("%w: booking.hold_ttl, catalog_ttl and sweep_interval must be positive", ErrInvalid)
	}
	if c.Idempotency.TTL <= 0 {
		return fmt.Errorf("%w: idempotency.ttl must be positive", ErrInvalid)
	}
	if c.Ads.FlushInterval <= 0 || c.Ads.FlushInterval > 8*time.Second || c.Ads.ExpireInterval <= 0 || c.Ads.TokenTTL <= 0 {
		return fmt.Errorf("%w: ads.flush_interval must be within (0, 8s], ads.expire_interval and ads.token_ttl positive", ErrInvalid)
	}
	if c.Ads.PendingTTL < c.Payments.IntentTTL {
		return fmt.Errorf("%w: ads.pending_ttl must be at least payments.intent_ttl", ErrInvalid)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("%w: log.format must be text or json", ErrInvalid)
	}
	return nil
}

func (p Payments) validate() error {
	switch {
	case p.Provider != "sandbox" && p.Provider != "stripe":
		return fmt.Errorf("%w: payments.provider must be sandbox or stripe", ErrInvalid)
	case p.Provider == "stripe" && (p.Stripe.SecretKey == "" || p.Stripe.WebhookSecret == ""):
		return fmt.Errorf("%w: payments.stripe.secret_key and payments.stripe.webhook_secret are required with provider stripe", ErrInvalid)
	case p.ReconcileAfter <= 0 || p.IntentTTL < p.ReconcileAfter || p.ReconcileInterval <= 0:
		return fmt.Errorf("%w: payments.reconcile_after and reconcile_interval must be positive, intent_ttl at least reconcile_after", ErrInvalid)
	case p.EventRetention < MinPaymentEventRetention:
		return fmt.Errorf("%w: payments.event_retention must be at least %v (providers redeliver events for days)", ErrInvalid, MinPaymentEventRetention)
	case p.WebhookRatePerMinute < 1:
		return fmt.Errorf("%w: payments.webhook_rate_per_minute must be at least 1", ErrInvalid)
	case p.Sandbox.DuplicatePercent < 0 || p.Sandbox.DuplicatePercent > 100:
		return fmt.Errorf("%w: payments.sandbox.duplicate_percent must be 0 to 100", ErrInvalid)
	case p.Sandbox.WebhookSecret != "" && len(p.Sandbox.WebhookSecret) < 16:
		return fmt.Errorf("%w: payments.sandbox.webhook_secret must be at least 16 characters", ErrInvalid)
	}
	return nil
}

// validNodeID reports whether id is usable as a node id: it is one token of NATS subjects and
// part of Redis keys.
func validNodeID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// DefaultNodeID is the node id of a node whose node_id is empty: its host name and its HTTP
// port ("web1-8080"), so two processes on one host (which cannot listen on one port) differ.
// With no fixed port (":0") the port is replaced by a hash of the data dir. Characters a node
// id may not hold become '-'. Containers that share a host name and a port still collide: the
// registry then refuses the second one, and they need explicit ids.
func DefaultNodeID(httpAddr, dataDir string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "onstage"
	}
	if len(host) > 40 {
		host = host[:40]
	}
	suffix := ""
	if _, port, err := net.SplitHostPort(httpAddr); err == nil && port != "" && port != "0" {
		suffix = port
	} else {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			abs = dataDir
		}
		sum := sha256.Sum256([]byte(abs))
		suffix = hex.EncodeToString(sum[:4])
	}
	id := []rune(host + "-" + suffix)
	for i, r := range id {
		if !validNodeID(string(r)) {
			id[i] = '-'
		}
	}
	return string(id)
}

func applyEnv(v reflect.Value, prefix string, lookup func(string) (string, bool)) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			if err := applyEnv(fv, name, lookup); err != nil {
				return err
			}
			continue
		}
		raw, ok := lookup(name)
		if !ok {
			continue
		}
		if err := setValue(fv, raw); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
		}
	}
	return nil
}

func setValue(fv reflect.Value, raw string) error {
	switch fv.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
		return nil
	case []string:
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		fv.Set(reflect.ValueOf(items))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("not an integer: %q", raw)
		}
		fv.SetInt(int64(n))
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", raw)
		}
		fv.SetBool(b)
	default:
		return fmt.Errorf("unsupported kind %s", fv.Kind())
	}
	return nil
}

// Masked returns a flat key → value view of the config with every secret hidden, for logging.
func (c Config) Masked() map[string]string {
	out := map[string]string{}
	maskInto(reflect.ValueOf(c), "", out)
	return out
}

func maskInto(v reflect.Value, prefix string, out map[string]string) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Duration(0)) {
			maskInto(fv, key, out)
			continue
		}
		val := fmt.Sprint(fv.Interface())
		switch f.Tag.Get("secret") {
		case "true":
			if val != "" {
				val = "***"
			}
		case "dsn":
			val = MaskDSN(val)
		case "list":
			items := fv.Interface().([]string)
			masked := make([]string, len(items))
			for j, s := range items {
				masked[j] = MaskDSN(s)
			}
			val = fmt.Sprint(masked)
		}
		out[key] = val
	}
}

// MaskDSN hides the password of a connection string: URL-shaped ones (postgres://, redis://)
// and the MySQL driver's shape (mysql://user:pass@tcp(host:3306)/db), which url.Parse refuses.
func MaskDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	rest, scheme := dsn, ""
	if i := strings.Index(dsn, "://"); i >= 0 {
		scheme, rest = dsn[:i+3], dsn[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return dsn
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return dsn
	}
	return scheme + user + ":xxxxx" + rest[at:]
}

// JWTSecret returns the configured signing secret, or the one kept in the data dir, creating
// it on first start. There is never a constant default.
func (c Config) JWTSecret() ([]byte, error) {
	if c.Auth.JWTSecret != "" {
		return []byte(c.Auth.JWTSecret), nil
	}
	path := filepath.Join(c.DataDir, "jwt.secret")
	if raw, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(raw))
		if len(s) < 32 {
			return nil, fmt.Errorf("%w: %s is shorter than 32 characters", ErrInvalid, path)
		}
		return []byte(s), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read jwt secret: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(buf)
	// O_EXCL: two processes starting on one data dir agree on whichever secret was written first.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return c.JWTSecret()
	}
	if err != nil {
		return nil, fmt.Errorf("write jwt secret: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(secret + "\n"); err != nil {
		return nil, fmt.Errorf("write jwt secret: %w", err)
	}
	return []byte(secret), nil
}
