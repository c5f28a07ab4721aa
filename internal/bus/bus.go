// Package bus owns the connection to NATS, the cluster's message bus for room events and
// relayed signaling. A single node runs a NATS server inside its own process and talks to
// it over loopback exactly as it would to an external cluster, so the code above never
// knows the difference.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ErrNotConnected is returned by Ping while the connection to NATS is down.
var ErrNotConnected = errors.New("bus: not connected")

// How long the embedded server may take to accept connections, and how long Close waits
// for in-flight messages to drain.
const (
	startTimeout = 10 * time.Second
	drainTimeout = 5 * time.Second
)

// Reconnect backoff: doubling from minBackoff up to maxBackoff, so a restarted NATS is
// found quickly and a long outage is not hammered.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Params configures Open.
type Params struct {
	// URL of an external NATS server or cluster ("nats://host:4222,..."); empty starts
	// an embedded server.
	URL string
	// DataDir holds the embedded server's JetStream store, in <DataDir>/nats. Empty uses
	// a temporary directory removed by Close.
	DataDir string
	// Name identifies this node's connection (and embedded server) in NATS monitoring.
	Name string
	// Log receives connection state changes and the embedded server's messages.
	Log *slog.Logger
	// Authentication and TLS toward an external server (ignored by the embedded one):
	// CredsFile is a credentials file (user JWT + NKey seed), NKeySeedFile an NKey seed file;
	// TLS is used when TLS is set, when any TLS file is given, or for a tls:// URL.
	CredsFile    string
	NKeySeedFile string
	TLS          bool
	TLSCAFile    string
	TLSCertFile  string
	TLSKeyFile   string
}

// authOptions turns p's credentials and TLS settings into nats.go options.
func authOptions(p Params) ([]nats.Option, error) {
	var opts []nats.Option
	if p.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(p.CredsFile))
	}
	if p.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(p.NKeySeedFile)
		if err != nil {
			// The error names the file, never the seed.
			return nil, fmt.Errorf("bus: nkey seed: %w", err)
		}
		opts = append(opts, o)
	}
	if p.TLS || p.TLSCAFile != "" || p.TLSCertFile != "" {
		opts = append(opts, nats.Secure())
	}
	if p.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(p.TLSCAFile))
	}
	if p.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(p.TLSCertFile, p.TLSKeyFile))
	}
	return opts, nil
}

// Bus is a NATS connection, plus the embedded server when there is one.
type Bus struct {
	nc     *nats.Conn
	ns     *server.Server // nil when connected to an external server
	log    *slog.Logger
	tmpDir string // JetStream store to remove on Close, when Open created it
	closed chan struct{}

	closeOnce sync.Once
}

// Open connects to the NATS server at p.URL, or starts an embedded one (loopback only,
// random port, JetStream enabled) when p.URL is empty and connects to that. The
// connection reconnects forever with backoff and logs every disconnect and reconnect.
func Open(ctx context.Context, p Params) (*Bus, error) {
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{log: log, closed: make(chan struct{})}
	url := p.URL
	if url == "" {
		if err := b.startEmbedded(p); err != nil {
			return nil, err
		}
		url = b.ns.ClientURL()
	}

	opts := []nats.Option{
		nats.Name(p.Name),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(backoff),
		// Keep publishing through a short outage: messages are buffered and flushed on
		// reconnect instead of failing the caller.
		nats.ReconnectBufSize(8 << 20),
		nats.DrainTimeout(drainTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("bus: disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("bus: reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("bus: async error", "subject", subject, "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	}
	if deadline, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(time.Until(deadline)))
	}
	if p.URL != "" {
		auth, err := authOptions(p)
		if err != nil {
			return nil, err
		}
		opts = append(opts, auth...)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.shutdownServer()
		// nats.go's errors name no credentials, but the URL may hold some; do not add it.
		return nil, fmt.Errorf("bus: connect: %w", err)
	}
	b.nc = nc
	if err := flush(ctx, nc); err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: connect: %w", err)
	}
	log.Info("bus: connected", "server", nc.ConnectedUrlRedacted(), "embedded", b.ns != nil)
	return b, nil
}

func (b *Bus) startEmbedded(p Params) error {
	storeDir := filepath.Join(p.DataDir, "nats")
	if p.DataDir == "" {
		dir, err := os.MkdirTemp("", "onstage-nats-")
		if err != nil {
			return fmt.Errorf("bus: embedded store: %w", err)
		}
		b.tmpDir, storeDir = dir, dir
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: p.Name,
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   storeDir,
		// The process owns its signals; the embedded server must not react to them.
		NoSigs: true,
		// No HTTP monitoring port: the node's own endpoints report health.
		HTTPPort: 0,
	})
	if err != nil {
		b.removeTmp()
		return fmt.Errorf("bus: embedded server: %w", err)
	}
	ns.SetLoggerV2(serverLogger{b.log}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(startTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		b.removeTmp()
		return fmt.Errorf("bus: embedded server not ready after %v", startTimeout)
	}
	b.ns = ns
	return nil
}

// backoff doubles the reconnect delay from minBackoff up to maxBackoff.
func backoff(attempts int) time.Duration {
	d := minBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// Conn returns the NATS connection for subscribing, requests and JetStream.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// Embedded reports whether the bus runs its own NATS server.
func (b *Bus) Embedded() bool { return b.ns != nil }

// ClientURL returns the URL of the server the bus is connected to, without credentials.
func (b *Bus) ClientURL() string {
	if b.ns != nil {
		return b.ns.ClientURL()
	}
	return b.nc.ConnectedUrlRedacted()
}

// Ping confirms a round trip to the server; it fails while disconnected.
func (b *Bus) Ping(ctx context.Context) error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("%w (%s)", ErrNotConnected, b.nc.Status())
	}
	if err := flush(ctx, b.nc); err != nil {
		return fmt.Errorf("bus: ping: %w", err)
	}
	return nil
}

// PublishJSON publishes v encoded as JSON on subject.
func (b *Bus) PublishJSON(subject string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("bus: publish %s: %w", subject, err)
	}
	if err := b.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("bus: publish %s: %w", subject, err)
	}
	return nil
}

// Close drains the connection (delivering messages already received to their
// handlers), then shuts the embedded server down and waits for it to finish.
func (b *Bus) Close() {
	b.closeOnce.Do(func() {
		if err := b.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionReconnecting) {
			b.nc.Close()
		}
		select {
		case <-b.closed:
		case <-time.After(drainTimeout + time.Second):
			b.nc.Close()
			b.log.Warn("bus: drain did not finish; closed")
		}
		b.shutdownServer()
	})
}

func (b *Bus) shutdownServer() {
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
	}
	b.removeTmp()
}

func (b *Bus) removeTmp() {
	if b.tmpDir != "" {
		_ = os.RemoveAll(b.tmpDir)
	}
}

// flush waits for the server to answer a ping; nats.go requires a deadline for it, so
// one is added when ctx has none.
func flush(ctx context.Context, nc *nats.Conn) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	return nc.FlushWithContext(ctx)
}

// serverLogger forwards the embedded server's log to slog. Its routine notices (listening,
// JetStream limits) go to debug so a node's start-up log stays short.
type serverLogger struct{ log *slog.Logger }

func (l serverLogger) Noticef(format string, v ...any) {
	l.log.Debug("nats: " + fmt.Sprintf(format, v...))
}
func (l serverLogger) Warnf(format string, v ...any) {
	l.log.Warn("nats: " + fmt.Sprintf(format, v...))
}
func (l serverLogger) Fatalf(format string, v ...any) {
	l.log.Error("nats: " + fmt.Sprintf(format, v...))
}
func (l serverLogger) Errorf(format string, v ...any) {
	l.log.Error("nats: " + fmt.Sprintf(format, v...))
}
func (l serverLogger) Debugf(format string, v ...any) {
	l.log.Debug("nats: " + fmt.Sprintf(format, v...))
}
func (l serverLogger) Tracef(format string, v ...any) {
	l.log.Debug("nats: " + fmt.Sprintf(format, v...))
}
