package rooms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Placement strategies.
const (
	// StrategyLowest places a new room on the alive node with the lowest LoadScore.
	StrategyLowest = "lowest"
	// StrategyTwoChoice compares two alive nodes drawn at random and takes the less loaded
	// one, which spreads a burst of new rooms instead of piling them on one node.
	StrategyTwoChoice = "twochoice"
)

// ErrUnknownStrategy is returned by ValidStrategy for a name it does not know.
var ErrUnknownStrategy = errors.New("rooms: unknown placement strategy")

// ValidStrategy checks a configured strategy name ("" is StrategyLowest).
func ValidStrategy(s string) error {
	switch s {
	case "", StrategyLowest, StrategyTwoChoice:
		return nil
	}
	return fmt.Errorf("%w %q (want %s or %s)", ErrUnknownStrategy, s, StrategyLowest, StrategyTwoChoice)
}

// LoadScore is how loaded a node is, for placement: CPU fraction, plus 1 per 200
// participants, plus 1 per 200 Mbit/s forwarded, plus a small term per room that breaks ties.
// Lower is better.
func LoadScore(n NodeInfo) float64 {
	return n.CPULoad + float64(n.Participants)/200 + float64(n.BitrateBps)/200e6 + float64(n.Rooms)/1000
}

// PlacerParams configures NewPlacer.
type PlacerParams struct {
	// Redis holds the leases; nil is a single node, where every room is local.
	Redis redis.UniversalClient
	// Prefix starts every key; empty is DefaultKeyPrefix. It must match the Registry's.
	Prefix   string
	Registry *Registry
	NodeID   string
	// Strategy is StrategyLowest (the default) or StrategyTwoChoice.
	Strategy string
	// LeaseTTL is how long a lease lives without renewal (default 6 s); Start renews every
	// LeaseTTL/3.
	LeaseTTL time.Duration
	// OnLost is called (from the renewal loop) with each room whose lease this node held and
	// another node now holds. The room must stop here: its owner is elsewhere.
	OnLost func(meetingID string)
	// OnAssigned is called (from the renewal loop) with each room another node placed on this
	// one, when this node first renews it.
	OnAssigned func(meetingID string)
	Log        *slog.Logger
	// Rand returns a number in [0, n); nil is math/rand/v2. Tests fix it.
	Rand func(n int) int
}

// Placer decides which node owns each meeting's media and keeps this node's leases.
//
// Keys: <prefix>room:<meeting>:owner holds the owner's node id with a PX LeaseTTL expiry;
// <prefix>node:<id>:rooms is the set of meetings placed on a node, which that node renews.
type Placer struct {
	rdb        redis.UniversalClient
	prefix     string
	reg        *Registry
	nodeID     string
	strategy   string
	ttl        time.Duration
	onLost     func(string)
	onAssigned func(string)
	log        *slog.Logger
	rnd        func(int) int

	mu     sync.Mutex
	owned  map[string]struct{}    // rooms this node believes it owns
	recent map[string][]time.Time // placements this node made, per target, not yet in the registry

	// opMu serializes Renew and Release, so a renewal can never re-take a lease that a
	// concurrent Release just gave up.
	opMu sync.Mutex

	startOnce sync.Once
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// NewPlacer returns a Placer. Call Start to renew leases and Close to release them.
func NewPlacer(p PlacerParams) *Placer {
	pl := &Placer{
		rdb: nilIfTypedNil(p.Redis), prefix: p.Prefix, reg: p.Registry, nodeID: p.NodeID,
		strategy: p.Strategy, ttl: p.LeaseTTL, onLost: p.OnLost, onAssigned: p.OnAssigned,
		log: p.Log, rnd: p.Rand,
		owned: map[string]struct{}{}, recent: map[string][]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if pl.prefix == "" {
		pl.prefix = DefaultKeyPrefix
	}
	if pl.strategy == "" {
		pl.strategy = StrategyLowest
	}
	if pl.ttl <= 0 {
		pl.ttl = DefaultLeaseTTL
	}
	if pl.log == nil {
		pl.log = slog.New(slog.DiscardHandler)
	}
	if pl.rnd == nil {
		pl.rnd = rand.IntN
	}
	return pl
}

func (p *Placer) leaseKey(meetingID string) string { return p.prefix + "room:" + meetingID + ":owner" }
func (p *Placer) roomsKey(nodeID string) string    { return p.prefix + "node:" + nodeID + ":rooms" }

// setTTL is how long a node's room set outlives its last renewal.
func (p *Placer) setTTL() time.Duration { return 3 * p.ttl }

// placeScript takes the lease for ARGV[1] unless someone holds it, and records the room in
// that node's set, in one step: of several nodes placing one room at once, exactly one write
// happens and all of them read the same owner back.
//
// KEYS[1] lease, KEYS[2] the chosen node's room set; ARGV[1] node id, ARGV[2] TTL in ms,
// ARGV[3] meeting id, ARGV[4] the set's TTL in ms. Returns the owner.
var placeScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return ARGV[1]
`)

// renewScript extends this node's lease (compare-and-set on its value), takes a lapsed one
// back, or gives the room up when another node holds it.
//
// KEYS[1] lease, KEYS[2] this node's room set; ARGV as placeScript. Returns 1 renewed,
// 2 re-acquired, 0 lost.
var renewScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
	redis.call('PEXPIRE', KEYS[1], ARGV[2])
	return 1
end
if not cur then
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
	redis.call('SADD', KEYS[2], ARGV[3])
	redis.call('PEXPIRE', KEYS[2], ARGV[4])
	return 2
end
redis.call('SREM', KEYS[2], ARGV[3])
return 0
`)

// releaseScript deletes the lease only if this node still holds it.
var releaseScript = redis.NewScript(`
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// Owner returns the node that owns meetingID's media: the holder of its lease, or, when
// there is none, the node this call places it on (race-free: concurrent callers on any nodes
// all get the same answer). A single node owns everything. With Redis unreachable the room is
// placed on this node with a warning; Renew settles duplicate owners when Redis is back.
func (p *Placer) Owner(ctx context.Context, meetingID string) (string, error) {
	if meetingID == "" {
		return "", fmt.Errorf("placement: empty meeting id")
	}
	if p.rdb == nil {
		p.own(meetingID)
		return p.nodeID, nil
	}
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	owner, err := p.rdb.Get(rctx, p.leaseKey(meetingID)).Result()
	if err == nil {
		if owner == p.nodeID {
			p.own(meetingID)
		}
		return owner, nil
	}
	if !errors.Is(err, redis.Nil) {
		return p.placeLocally(ctx, meetingID, err)
	}
	target := p.choose(ctx)
	owner, err = placeScript.Run(rctx, p.rdb,
		[]string{p.leaseKey(meetingID), p.roomsKey(target)},
		target, p.ttl.Milliseconds(), meetingID, p.setTTL().Milliseconds()).Text()
	if err != nil {
		return p.placeLocally(ctx, meetingID, err)
	}
	if owner == target {
		p.noteRecent(target)
		p.log.Info("placement: room placed", "meeting", meetingID, "node", target, "strategy", p.strategy)
	}
	if owner == p.nodeID {
		p.own(meetingID)
	}
	return owner, nil
}

func (p *Placer) placeLocally(ctx context.Context, meetingID string, cause error) (string, error) {
	if ctx.Err() != nil {
		return "", fmt.Errorf("placement: %s: %w", meetingID, ctx.Err())
	}
	p.log.Warn("placement: redis unavailable, placing the room on this node", "meeting", meetingID, "node", p.nodeID, "err", cause)
	p.own(meetingID)
	return p.nodeID, nil
}

func (p *Placer) own(meetingID string) {
	p.mu.Lock()
	p.owned[meetingID] = struct{}{}
	p.mu.Unlock()
}

// Owns reports whether this node believes it owns meetingID (it placed, renewed or
// re-acquired its lease and has not lost or released it).
func (p *Placer) Owns(meetingID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.owned[meetingID]
	return ok
}

// Owned lists the rooms this node owns, sorted.
func (p *Placer) Owned() []string {
	p.mu.Lock()
	out := make([]string, 0, len(p.owned))
	for id := range p.owned {
		out = append(out, id)
	}
	p.mu.Unlock()
	sort.Strings(out)
	return out
}

// choose picks the node for a new room by the strategy, among the registry's alive nodes
// that are not draining; this node when there is none or the registry cannot be read.
func (p *Placer) choose(ctx context.Context) string {
	if p.reg == nil {
		return p.nodeID
	}
	nodes, err := p.reg.Nodes(ctx)
	if err != nil {
		p.log.Warn("placement: cannot read the node registry; choosing this node", "err", err)
		return p.nodeID
	}
	return p.pick(nodes)
}

// pick applies the strategy to nodes.
func (p *Placer) pick(nodes []NodeInfo) string {
	cands := make([]NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		if !n.Draining && n.ID != "" {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return p.nodeID
	}
	score := func(n NodeInfo) float64 { return LoadScore(n) + p.pendingScore(n) }
	switch p.strategy {
	case StrategyTwoChoice:
		if len(cands) == 1 {
			return cands[0].ID
		}
		i := p.rnd(len(cands))
		j := p.rnd(len(cands) - 1)
		if j >= i {
			j++
		}
		a, b := cands[i], cands[j]
		if sa, sb := score(a), score(b); sb < sa || (sb == sa && b.ID < a.ID) {
			return b.ID
		}
		return a.ID
	default:
		best := cands[0]
		bs := score(best)
		for _, n := range cands[1:] {
			if s := score(n); s < bs || (s == bs && n.ID < best.ID) {
				best, bs = n, s
			}
		}
		return best.ID
	}
}

// pendingScore counts the rooms this node placed on n since n last published, as if each had
// brought a few participants, so that a burst of first joins does not all go to one node
// before the registry shows its new load.
func (p *Placer) pendingScore(n NodeInfo) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.recent[n.ID][:0]
	for _, t := range p.recent[n.ID] {
		if t.After(n.UpdatedAt) {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		delete(p.recent, n.ID)
		return 0
	}
	p.recent[n.ID] = kept
	return float64(len(kept)) * (4.0/200 + 1.0/1000)
}

func (p *Placer) noteRecent(nodeID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recent[nodeID] = append(p.recent[nodeID], time.Now())
	if len(p.recent) > 1024 { // nodes that vanished; their entries are stale anyway
		p.recent = map[string][]time.Time{nodeID: p.recent[nodeID]}
	}
}

// Renew extends the leases of every room this node owns, compare-and-set on the lease's
// value. It also takes up rooms other nodes placed here, takes back leases that lapsed while
// Redis was unreachable, and reports through OnLost every room whose lease another node now
// holds (two owners after a Redis outage: the lease decides). Errors are logged; rooms are
// never dropped because Redis cannot be reached.
func (p *Placer) Renew(ctx context.Context) {
	if p.rdb == nil {
		return
	}
	p.opMu.Lock()
	defer p.opMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	assigned, err := p.rdb.SMembers(ctx, p.roomsKey(p.nodeID)).Result()
	if err != nil {
		p.log.Warn("placement: cannot renew leases; keeping rooms", "node", p.nodeID, "err", err)
		return
	}
	p.mu.Lock()
	rooms := make(map[string]struct{}, len(p.owned)+len(assigned))
	for id := range p.owned {
		rooms[id] = struct{}{}
	}
	p.mu.Unlock()
	for _, id := range assigned {
		rooms[id] = struct{}{}
	}
	if len(rooms) == 0 {
		return
	}
	ids := make([]string, 0, len(rooms))
	for id := range rooms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	cmds := make([]*redis.Cmd, len(ids))
	_, err = p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = renewScript.Eval(ctx, pipe, []string{p.leaseKey(id), p.roomsKey(p.nodeID)},
				p.nodeID, p.ttl.Milliseconds(), id, p.setTTL().Milliseconds())
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		p.log.Warn("placement: cannot renew leases; keeping rooms", "node", p.nodeID, "err", err)
		return
	}
	var lost, gained []string
	p.mu.Lock()
	for i, id := range ids {
		res, err := cmds[i].Int()
		if err != nil {
			continue
		}
		_, owned := p.owned[id]
		switch res {
		case 0:
			if owned {
				delete(p.owned, id)
				lost = append(lost, id)
			}
		default:
			if !owned {
				p.owned[id] = struct{}{}
				gained = append(gained, id)
			}
		}
	}
	p.mu.Unlock()
	for _, id := range lost {
		p.log.Warn("placement: lease lost to another node; the room must move", "meeting", id, "node", p.nodeID)
		if p.onLost != nil {
			p.onLost(id)
		}
	}
	for _, id := range gained {
		p.log.Info("placement: room assigned to this node", "meeting", id, "node", p.nodeID)
		if p.onAssigned != nil {
			p.onAssigned(id)
		}
	}
}

// Release gives up meetingID's lease (only if this node holds it), when the room ends.
func (p *Placer) Release(ctx context.Context, meetingID string) {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	delete(p.owned, meetingID)
	p.mu.Unlock()
	if p.rdb == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	err := releaseScript.Run(ctx, p.rdb, []string{p.leaseKey(meetingID), p.roomsKey(p.nodeID)},
		p.nodeID, meetingID).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		p.log.Warn("placement: cannot release lease; it lapses by itself", "meeting", meetingID, "err", err)
	}
}

// Start renews this node's leases every LeaseTTL/3 until Close. A single node has nothing
// to renew.
func (p *Placer) Start() {
	p.startOnce.Do(func() {
		if p.rdb == nil {
			close(p.done)
			return
		}
		go p.loop()
	})
}

func (p *Placer) loop() {
	defer close(p.done)
	t := time.NewTicker(p.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.Renew(context.Background())
		}
	}
}

// Close stops renewing and releases every lease this node holds, so that the next join
// places those rooms elsewhere at once rather than after LeaseTTL.
func (p *Placer) Close() {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.startOnce.Do(func() { close(p.done) })
		<-p.done
		for _, id := range p.Owned() {
			p.Release(context.Background(), id)
		}
	})
}

// dropScript deletes a lease only if the given node still holds it.
var dropScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// Reassign moves meetingID off deadNode, a node that no longer answers for it (nobody is
// subscribed to its relay subject): the lease is dropped if deadNode still holds it, and the
// room is placed again like a first join, never on deadNode. It returns the new owner. When
// deadNode is alive after all, its next renewal finds the lease taken and reports the room
// lost (OnLost), so the room still has one owner.
func (p *Placer) Reassign(ctx context.Context, meetingID, deadNode string) (string, error) {
	if p.rdb == nil || deadNode == p.nodeID {
		return p.Owner(ctx, meetingID)
	}
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := dropScript.Run(rctx, p.rdb, []string{p.leaseKey(meetingID)}, deadNode).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return p.placeLocally(ctx, meetingID, err)
	}
	target := p.nodeID
	if p.reg != nil {
		if nodes, err := p.reg.Nodes(rctx); err == nil {
			alive := nodes[:0:0]
			for _, n := range nodes {
				if n.ID != deadNode {
					alive = append(alive, n)
				}
			}
			target = p.pick(alive)
		}
	}
	owner, err := placeScript.Run(rctx, p.rdb,
		[]string{p.leaseKey(meetingID), p.roomsKey(target)},
		target, p.ttl.Milliseconds(), meetingID, p.setTTL().Milliseconds()).Text()
	if err != nil {
		return p.placeLocally(ctx, meetingID, err)
	}
	if owner == target {
		p.noteRecent(target)
		p.log.Warn("placement: room moved off an unresponsive node", "meeting", meetingID, "from", deadNode, "to", owner)
	}
	if owner == p.nodeID {
		p.own(meetingID)
	}
	return owner, nil
}
