package rooms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
)

// One node id, one process.
//
// Everything a node owns in the cluster is named by its id: its registry entry, the leases of
// its rooms, its relay subjects on NATS. Two live processes with one id would both serve the
// rooms placed on that id, each with its own media router, and split every such meeting in
// two without a word in any log. So a node claims its id before it joins: the key
// <prefix>node:<id>:instance holds the claiming process's instance (a random token, its
// address, host and pid), with the registry's TTL, and is renewed with each publication.
//
// Claim waits, when the key is held by another instance, to learn whether that instance is
// alive: a live one renews the key within one publication interval (the key's remaining life
// jumps back up), and the claim is refused naming its address; a dead one (kill -9, crash)
// stops renewing, its key lapses within the TTL, and the claim succeeds then. A clean
// shutdown deletes the key, so a restart takes its id back at once.

// ErrNodeIDTaken is returned by Claim when a live node already holds this node's id.
var ErrNodeIDTaken = errors.New("node id already held by a live node")

// instance is the value of a claim key.
type instance struct {
	Token     string    `json:"token"`
	HTTPAddr  string    `json:"http_addr"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
}

// renewClaimScript extends the claim when it is still this instance's, takes it again when it
// lapsed (Redis was unreachable for longer than the TTL), and reports 0 when another
// instance holds it. KEYS[1] the claim key; ARGV[1] this instance's value, ARGV[2] the TTL
// in ms.
var renewClaimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// releaseClaimScript deletes the claim only if it is still this instance's.
var releaseClaimScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Claim takes this node's id for this process, or fails with ErrNodeIDTaken (naming the
// other instance's address) when a live node holds it. It may wait up to about TTL plus one
// Interval to find out whether a previous holder is dead. Call it before Start; a single node
// (no Redis) claims nothing. With Redis unreachable it returns the Redis error.
func (r *Registry) Claim(ctx context.Context) error {
	if r.rdb == nil || r.claim != "" {
		return nil
	}
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	host, _ := os.Hostname()
	raw, _ := json.Marshal(instance{Token: hex.EncodeToString(tok[:]), HTTPAddr: r.httpAddr, Host: host,
		PID: os.Getpid(), StartedAt: r.now().UTC()})
	val := string(raw)
	key := r.claimKey()
	deadline := time.Now().Add(r.ttl + r.interval)
	poll := min(r.interval/4, 250*time.Millisecond)
	lastTTL := time.Duration(-1)
	waiting := false
	for {
		cctx, cancel := context.WithTimeout(ctx, redisTimeout)
		ok, err := r.rdb.SetNX(cctx, key, val, r.ttl).Result()
		if err != nil {
			cancel()
			return fmt.Errorf("registry: claim node id %s: %w", r.nodeID, err)
		}
		if ok {
			cancel()
			r.claim = val
			if waiting {
				r.log.Info("cluster registry: the previous holder of this node id is gone; claimed it", "node", r.nodeID)
			}
			return nil
		}
		other, _ := r.rdb.Get(cctx, key).Result()
		left, _ := r.rdb.PTTL(cctx, key).Result()
		cancel()
		var who instance
		_ = json.Unmarshal([]byte(other), &who)
		taken := func() error {
			return fmt.Errorf("%w: node id %q is in use by the node at %s (host %s, pid %d, started %s); give each node its own node_id (ONSTAGE_NODE_ID)",
				ErrNodeIDTaken, r.nodeID, orUnknown(who.HTTPAddr), orUnknown(who.Host), who.PID, who.StartedAt.Format(time.RFC3339))
		}
		// The holder renewed the key since the last look: it is alive.
		if lastTTL >= 0 && left > lastTTL+poll/2 {
			return taken()
		}
		if time.Now().After(deadline) {
			return taken()
		}
		if !waiting {
			waiting = true
			r.log.Warn("cluster registry: this node id is held by another instance; waiting to see whether it is alive",
				"node", r.nodeID, "holder", orUnknown(who.HTTPAddr), "for_at_most", time.Until(deadline).Round(time.Second))
		}
		if left > 0 {
			lastTTL = left
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown address"
	}
	return s
}

// renewClaim extends this process's claim (after Claim); it fails while another instance
// holds the id, logging that once per conflict.
func (r *Registry) renewClaim(ctx context.Context) error {
	if r.claim == "" {
		return nil
	}
	n, err := renewClaimScript.Run(ctx, r.rdb, []string{r.claimKey()}, r.claim, r.ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("registry: renew node id %s: %w", r.nodeID, err)
	}
	r.mu.Lock()
	was := r.conflict
	r.conflict = n == 0
	r.mu.Unlock()
	if n == 0 {
		if !was {
			r.log.Error("cluster registry: another instance took this node's id (Redis lost the claim); this node stops publishing itself. Give each node its own node_id",
				"node", r.nodeID)
		}
		return fmt.Errorf("%w: node id %q", ErrNodeIDTaken, r.nodeID)
	}
	if was {
		r.log.Info("cluster registry: this node's id is its own again", "node", r.nodeID)
	}
	return nil
}
