package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onstagehq/onstage/internal/cache"
)

// DefaultKeyPrefix starts every Redis key of the node registry and of room placement.
const DefaultKeyPrefix = "onstage:"

// Registry and lease timings used when the params leave them zero.
const (
	DefaultRegistryInterval = 2 * time.Second
	DefaultRegistryTTL      = 6 * time.Second
	DefaultLeaseTTL         = 6 * time.Second
	// redisTimeout bounds one registry or placement round trip, so a Redis that hangs
	// (rather than refusing connections) cannot stall a join or the publish loop.
	redisTimeout = time.Second
)

// NodeInfo is one node's entry in the cluster registry: where it is reached and how loaded it
// is. It is what /api/v1/nodes lists and what placement compares.
type NodeInfo struct {
	ID string `json:"id"`
	// Advertise are the addresses clients' media reaches this node at (its ICE host or NAT IPs).
	Advertise []string `json:"advertise"`
	// HTTPAddr is the node's own HTTP address, for operators and node-to-node calls.
	HTTPAddr     string `json:"http_addr"`
	Rooms        int    `json:"rooms"`
	Participants int    `json:"participants"`
	// BitrateBps is the media bitrate the node forwards to subscribers, in bits per second.
	BitrateBps int64 `json:"bitrate_bps"`
	// CPULoad is the process's CPU use as a fraction of all the machine's cores (0..1).
	CPULoad float64 `json:"cpu_load"`
	// Draining nodes take no new rooms.
	Draining  bool      `json:"draining"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RegistryParams configures NewRegistry.
type RegistryParams struct {
	// Redis is the shared registry; nil is a single node whose registry is itself.
	Redis redis.UniversalClient
	// Prefix starts every key; empty is DefaultKeyPrefix. Tests use a unique one.
	Prefix string
	NodeID string
	// Advertise and HTTPAddr are this node's static addresses; values returned by Load win
	// when they are not empty.
	Advertise []string
	HTTPAddr  string
	// Interval between two publications (default 2 s) and the expiry of one (default 6 s).
	Interval time.Duration
	TTL      time.Duration
	// Load reports this node's current load; nil reports none. ID and UpdatedAt are filled in.
	Load func() NodeInfo
	Log  *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Registry publishes this node's NodeInfo to Redis every Interval with a TTL expiry and lists
// the entries of all nodes that are alive. A node that stops publishing drops out within TTL.
//
// Keys: <prefix>node:<id> holds the JSON NodeInfo (PX TTL); the sorted set <prefix>nodes
// indexes the ids by the expiry (Unix ms) of their last publication.
type Registry struct {
	rdb      redis.UniversalClient
	prefix   string
	nodeID   string
	adv      []string
	httpAddr string
	interval time.Duration
	ttl      time.Duration
	load     func() NodeInfo
	log      *slog.Logger
	now      func() time.Time

	// claim is this process's value of the node id's claim key (claimKey), set by Claim.
	claim string

	mu       sync.Mutex
	down     bool // the last publication failed; logged once per outage
	conflict bool // another instance holds this node id; logged once per conflict
	started  bool
	closed   bool
	stop     chan struct{}
	done     chan struct{}
}

// NewRegistry returns a Registry. Call Start to publish and Close to leave the cluster.
func NewRegistry(p RegistryParams) *Registry {
	r := &Registry{
		rdb: nilIfTypedNil(p.Redis), prefix: p.Prefix, nodeID: p.NodeID, adv: p.Advertise,
		httpAddr: p.HTTPAddr, interval: p.Interval, ttl: p.TTL, load: p.Load, log: p.Log, now: p.Now,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if r.prefix == "" {
		r.prefix = DefaultKeyPrefix
	}
	if r.interval <= 0 {
		r.interval = DefaultRegistryInterval
	}
	if r.ttl <= 0 {
		r.ttl = DefaultRegistryTTL
	}
	if r.ttl <= r.interval {
		r.ttl = 3 * r.interval
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// RedisClient returns the go-redis client behind c when c is Redis, and nil (single node) for
// any other cache. It is what RegistryParams.Redis and PlacerParams.Redis expect.
func RedisClient(c cache.Cache) redis.UniversalClient {
	if rc, ok := c.(*cache.Redis); ok && rc != nil {
		return rc.Client()
	}
	return nil
}

// nilIfTypedNil turns a nil *redis.Client held in the interface into a true nil, so that
// "no Redis" is recognised however the caller spelled it.
func nilIfTypedNil(c redis.UniversalClient) redis.UniversalClient {
	switch v := c.(type) {
	case *redis.Client:
		if v == nil {
			return nil
		}
	case *redis.ClusterClient:
		if v == nil {
			return nil
		}
	}
	return c
}

// NodeID is this node's id.
func (r *Registry) NodeID() string { return r.nodeID }

// Clustered reports whether the registry is shared through Redis.
func (r *Registry) Clustered() bool { return r.rdb != nil }

func (r *Registry) nodeKey(id string) string { return r.prefix + "node:" + id }
func (r *Registry) claimKey() string         { return r.prefix + "node:" + r.nodeID + ":instance" }
func (r *Registry) indexKey() string         { return r.prefix + "nodes" }

// SetLoad replaces the Load function, for a load source built after the Registry (the
// signaling hub depends on placement, which depends on the Registry).
func (r *Registry) SetLoad(load func() NodeInfo) {
	r.mu.Lock()
	r.load = load
	r.mu.Unlock()
}

// Self returns this node's current entry.
func (r *Registry) Self() NodeInfo {
	var n NodeInfo
	r.mu.Lock()
	load := r.load
	r.mu.Unlock()
	if load != nil {
		n = load()
	}
	n.ID = r.nodeID
	if len(n.Advertise) == 0 {
		n.Advertise = append([]string(nil), r.adv...)
	}
	if n.Advertise == nil {
		n.Advertise = []string{}
	}
	if n.HTTPAddr == "" {
		n.HTTPAddr = r.httpAddr
	}
	n.UpdatedAt = r.now().UTC()
	return n
}

// Start publishes this node's entry now and then every Interval until Close. It is a no-op
// for a single node and when called twice.
func (r *Registry) Start() {
	r.mu.Lock()
	if r.started || r.closed || r.rdb == nil {
		r.mu.Unlock()
		return
	}
	r.started = true
	r.mu.Unlock()
	r.publish()
	go r.loop()
}

func (r *Registry) loop() {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.publish()
		}
	}
}

// publish writes this node's entry. A failure is logged once per outage and never stops the
// node: its rooms keep running and its entry reappears with the next success.
func (r *Registry) publish() {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	err := r.Publish(ctx)
	r.mu.Lock()
	wasDown := r.down
	r.down = err != nil
	r.mu.Unlock()
	switch {
	case err != nil && !wasDown:
		r.log.Warn("cluster registry: cannot publish this node; rooms keep running", "node", r.nodeID, "err", err)
	case err == nil && wasDown:
		r.log.Info("cluster registry: publishing again", "node", r.nodeID)
	}
}

// Publish writes this node's entry once (Start does it every Interval). After Claim it
// first renews the claim, and writes nothing while another instance holds the node id.
func (r *Registry) Publish(ctx context.Context) error {
	if r.rdb == nil {
		return nil
	}
	if err := r.renewClaim(ctx); err != nil {
		return err
	}
	n := r.Self()
	raw, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("registry: encode: %w", err)
	}
	expiry := n.UpdatedAt.Add(r.ttl).UnixMilli()
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.nodeKey(r.nodeID), raw, r.ttl)
		p.ZAdd(ctx, r.indexKey(), redis.Z{Score: float64(expiry), Member: r.nodeID})
		// Drop index entries of nodes that stopped publishing long ago.
		p.ZRemRangeByScore(ctx, r.indexKey(), "-inf", "("+strconv.FormatInt(n.UpdatedAt.Add(-r.ttl).UnixMilli(), 10))
		return nil
	})
	if err != nil {
		return fmt.Errorf("registry: publish %s: %w", r.nodeID, err)
	}
	return nil
}

// Nodes lists the alive nodes, sorted by id. A single node lists only itself. With Redis
// unreachable it returns an error.
func (r *Registry) Nodes(ctx context.Context) ([]NodeInfo, error) {
	if r.rdb == nil {
		return []NodeInfo{r.Self()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	now := r.now().UnixMilli()
	ids, err := r.rdb.ZRangeByScore(ctx, r.indexKey(), &redis.ZRangeBy{
		Min: strconv.FormatInt(now, 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("registry: list nodes: %w", err)
	}
	if len(ids) == 0 {
		return []NodeInfo{}, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.nodeKey(id)
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("registry: read nodes: %w", err)
	}
	out := make([]NodeInfo, 0, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok { // expired between the two reads
			continue
		}
		var n NodeInfo
		if err := json.Unmarshal([]byte(s), &n); err != nil {
			r.log.Warn("cluster registry: skipping a malformed entry", "node", ids[i], "err", err)
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Close stops publishing and removes this node's entry, so placement stops choosing it at
// once instead of after TTL. It is safe to call more than once.
func (r *Registry) Close() {
	r.mu.Lock()
	started := r.started && !r.closed
	r.closed = true
	r.mu.Unlock()
	if !started {
		return
	}
	close(r.stop)
	<-r.done
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	r.mu.Lock()
	conflict := r.conflict
	r.mu.Unlock()
	if conflict {
		return // the entry is the other instance's
	}
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, r.nodeKey(r.nodeID))
		p.ZRem(ctx, r.indexKey(), r.nodeID)
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		r.log.Warn("cluster registry: could not remove this node's entry; it expires by itself", "node", r.nodeID, "err", err)
	}
	if r.claim != "" {
		if err := releaseClaimScript.Run(ctx, r.rdb, []string{r.claimKey()}, r.claim).Err(); err != nil {
			r.log.Warn("cluster registry: could not release this node's id; it expires by itself", "node", r.nodeID, "err", err)
		}
	}
}
