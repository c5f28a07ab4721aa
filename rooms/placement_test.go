package rooms

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testNode is one simulated cluster node: its registry entry and its placer.
type testNode struct {
	reg *Registry
	pl  *Placer
}

func newTestNode(t *testing.T, rdb redis.UniversalClient, prefix, id, strategy string, ttl time.Duration,
	load NodeInfo, onLost func(string)) *testNode {
	t.Helper()
	reg := NewRegistry(RegistryParams{Redis: rdb, Prefix: prefix, NodeID: id, Interval: time.Hour, TTL: 2 * time.Hour,
		Load: fixedLoad(load)})
	if err := reg.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	pl := NewPlacer(PlacerParams{Redis: rdb, Prefix: prefix, Registry: reg, NodeID: id, Strategy: strategy,
		LeaseTTL: ttl, OnLost: onLost})
	t.Cleanup(pl.Close)
	return &testNode{reg: reg, pl: pl}
}

func TestPlacementSingleNodeIsLocal(t *testing.T) {
	reg := NewRegistry(RegistryParams{NodeID: "solo"})
	pl := NewPlacer(PlacerParams{Registry: reg, NodeID: "solo"})
	pl.Start()
	defer pl.Close()
	for _, m := range []string{"m1", "m2"} {
		owner, err := pl.Owner(context.Background(), m)
		if err != nil || owner != "solo" {
			t.Fatalf("Owner(%s) = %q, %v", m, owner, err)
		}
	}
	pl.Renew(context.Background())
	if got := pl.Owned(); len(got) != 2 {
		t.Fatalf("Owned = %v", got)
	}
	pl.Release(context.Background(), "m1")
	if pl.Owns("m1") || !pl.Owns("m2") {
		t.Fatalf("after Release(m1): owned = %v", pl.Owned())
	}
}

// TestPlacementRaceAgreesOnOneOwner: N nodes receive the first joins of one meeting at the
// same moment and must all name the same owner, whose lease holds it.
func TestPlacementRaceAgreesOnOneOwner(t *testing.T) {
	rdb, prefix := testRedis(t)
	const n = 16
	for _, strategy := range []string{StrategyLowest, StrategyTwoChoice} {
		t.Run(strategy, func(t *testing.T) {
			nodes := make([]*testNode, n)
			for i := range nodes {
				// Equal loads, so that twochoice nodes disagree on their candidates.
				nodes[i] = newTestNode(t, rdb, prefix+strategy+":", fmt.Sprintf("node-%02d", i), strategy, 5*time.Second,
					NodeInfo{Participants: 10}, nil)
			}
			for round := 0; round < 20; round++ {
				meeting := fmt.Sprintf("m-%d", round)
				owners := make([]string, n)
				errs := make([]error, n)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range nodes {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						<-start
						owners[i], errs[i] = nodes[i].pl.Owner(context.Background(), meeting)
					}(i)
				}
				close(start)
				wg.Wait()
				for i := range owners {
					if errs[i] != nil {
						t.Fatalf("node %d: %v", i, errs[i])
					}
					if owners[i] != owners[0] {
						t.Fatalf("%s: nodes disagree on the owner: %v", meeting, owners)
					}
				}
				lease, err := rdb.Get(context.Background(), prefix+strategy+":room:"+meeting+":owner").Result()
				if err != nil || lease != owners[0] {
					t.Fatalf("%s: lease = %q, %v; owners said %q", meeting, lease, err, owners[0])
				}
				isMember, err := rdb.SIsMember(context.Background(), prefix+strategy+":node:"+lease+":rooms", meeting).Result()
				if err != nil || !isMember {
					t.Fatalf("%s is not in its owner's room set: %v, %v", meeting, isMember, err)
				}
			}
		})
	}
}

func TestPlacementLeaseLapsesAndAnotherNodeTakesOver(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	a := newTestNode(t, rdb, prefix, "a", StrategyLowest, ttl, NodeInfo{Participants: 1}, nil)
	b := newTestNode(t, rdb, prefix, "b", StrategyLowest, ttl, NodeInfo{Participants: 50}, nil)

	if owner, err := b.pl.Owner(ctx, "m"); err != nil || owner != "a" {
		t.Fatalf("first placement: %q, %v; want a (least loaded)", owner, err)
	}
	// Renewed leases outlive their TTL.
	for i := 0; i < 4; i++ {
		time.Sleep(ttl / 3)
		a.pl.Renew(ctx)
	}
	if !a.pl.Owns("m") {
		t.Fatal("a did not take up the room b placed on it")
	}
	if owner, _ := b.pl.Owner(ctx, "m"); owner != "a" {
		t.Fatalf("after renewals the owner is %q, want a", owner)
	}

	// a dies: it leaves the registry and stops renewing; after TTL the lease lapses and the
	// next first join places the room on b.
	if err := rdb.Del(ctx, prefix+"node:a").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZRem(ctx, prefix+"nodes", "a").Err(); err != nil {
		t.Fatal(err)
	}
	if owner, _ := b.pl.Owner(ctx, "m"); owner != "a" {
		t.Fatalf("before the lease lapsed the owner is %q, want a", owner)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	if owner, err := b.pl.Owner(ctx, "m"); err != nil || owner != "b" {
		t.Fatalf("after the lease lapsed: %q, %v; want b", owner, err)
	}
	if !b.pl.Owns("m") {
		t.Fatal("b does not know it owns the room")
	}
}

func TestPlacementRenewIsCompareAndSetAndReportsLoss(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx := context.Background()
	var mu sync.Mutex
	var lost []string
	a := newTestNode(t, rdb, prefix, "a", StrategyLowest, 2*time.Second, NodeInfo{}, func(id string) {
		mu.Lock()
		lost = append(lost, id)
		mu.Unlock()
	})
	newTestNode(t, rdb, prefix, "b", StrategyLowest, 2*time.Second, NodeInfo{Participants: 100}, nil)
	for _, m := range []string{"m1", "m2"} {
		if owner, err := a.pl.Owner(ctx, m); err != nil || owner != "a" {
			t.Fatalf("Owner(%s) = %q, %v", m, owner, err)
		}
	}
	// Another node holds m1's lease now (as after a Redis outage with two owners).
	if err := rdb.Set(ctx, prefix+"room:m1:owner", "b", 2*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	a.pl.Renew(ctx)
	if got, _ := rdb.Get(ctx, prefix+"room:m1:owner").Result(); got != "b" {
		t.Fatalf("renewal overwrote another node's lease: %q", got)
	}
	mu.Lock()
	if len(lost) != 1 || lost[0] != "m1" {
		t.Fatalf("OnLost calls = %v, want [m1]", lost)
	}
	mu.Unlock()
	if a.pl.Owns("m1") || !a.pl.Owns("m2") {
		t.Fatalf("owned after the loss = %v", a.pl.Owned())
	}
	// The renewal extended m2's lease.
	if pttl, _ := rdb.PTTL(ctx, prefix+"room:m2:owner").Result(); pttl < 1500*time.Millisecond {
		t.Fatalf("m2 lease TTL after renew = %v", pttl)
	}
	// A lease that lapsed while this node kept its room is taken back.
	if err := rdb.Del(ctx, prefix+"room:m2:owner").Err(); err != nil {
		t.Fatal(err)
	}
	a.pl.Renew(ctx)
	if got, _ := rdb.Get(ctx, prefix+"room:m2:owner").Result(); got != "a" {
		t.Fatalf("lapsed lease not re-acquired: %q", got)
	}

	// Release deletes only this node's own lease.
	a.pl.Release(ctx, "m1")
	if got, _ := rdb.Get(ctx, prefix+"room:m1:owner").Result(); got != "b" {
		t.Fatalf("Release removed another node's lease: %q", got)
	}
	a.pl.Release(ctx, "m2")
	if n, _ := rdb.Exists(ctx, prefix+"room:m2:owner").Result(); n != 0 {
		t.Fatal("Release left this node's lease")
	}
	if a.pl.Owns("m2") {
		t.Fatal("released room still owned")
	}
}

func TestPlacementStartRenewsAndCloseReleases(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	a := newTestNode(t, rdb, prefix, "a", StrategyLowest, ttl, NodeInfo{}, nil)
	a.pl.Start()
	if owner, err := a.pl.Owner(ctx, "m"); err != nil || owner != "a" {
		t.Fatalf("Owner = %q, %v", owner, err)
	}
	time.Sleep(3 * ttl)
	if got, _ := rdb.Get(ctx, prefix+"room:m:owner").Result(); got != "a" {
		t.Fatalf("the renewal loop let the lease lapse: %q", got)
	}
	a.pl.Close()
	if n, _ := rdb.Exists(ctx, prefix+"room:m:owner").Result(); n != 0 {
		t.Fatal("Close left the lease")
	}
}

func TestPlacementStrategies(t *testing.T) {
	nodes := []NodeInfo{
		{ID: "busy", Participants: 400, CPULoad: 0.9},
		{ID: "idle", Participants: 2, CPULoad: 0.05},
		{ID: "mid", Participants: 100, CPULoad: 0.4},
		{ID: "drain", Draining: true},
	}
	lowest := NewPlacer(PlacerParams{NodeID: "self", Strategy: StrategyLowest})
	if got := lowest.pick(nodes); got != "idle" {
		t.Fatalf("lowest picked %q, want idle", got)
	}
	if got := lowest.pick([]NodeInfo{{ID: "d", Draining: true}}); got != "self" {
		t.Fatalf("with only draining nodes lowest picked %q, want self", got)
	}
	if got := lowest.pick(nil); got != "self" {
		t.Fatalf("with no nodes lowest picked %q, want self", got)
	}
	// Bitrate counts: equal participants, the node forwarding less wins.
	if got := lowest.pick([]NodeInfo{{ID: "x", Participants: 10, BitrateBps: 400e6}, {ID: "y", Participants: 10, BitrateBps: 5e6}}); got != "y" {
		t.Fatalf("lowest ignored bitrate: %q", got)
	}

	// twochoice compares the two nodes it draws: with a fixed draw of busy and mid it takes mid,
	// never busy, and never a draining node.
	draws := []int{0, 1} // candidates (without drain): busy, idle, mid → i=0 busy, j=1→2 mid
	k := 0
	two := NewPlacer(PlacerParams{NodeID: "self", Strategy: StrategyTwoChoice, Rand: func(n int) int {
		v := draws[k%len(draws)] % n
		k++
		return v
	}})
	if got := two.pick(nodes); got != "mid" {
		t.Fatalf("twochoice over (busy, mid) picked %q, want mid", got)
	}
	// With random draws, twochoice never picks the most loaded of three nodes and spreads
	// placements over the other two.
	rnd := NewPlacer(PlacerParams{NodeID: "self", Strategy: StrategyTwoChoice})
	counts := map[string]int{}
	for i := 0; i < 3000; i++ {
		counts[rnd.pick(nodes)]++
	}
	if counts["busy"] != 0 || counts["drain"] != 0 || counts["idle"] < 1500 || counts["mid"] < 500 {
		t.Fatalf("twochoice distribution = %v", counts)
	}

	if err := ValidStrategy("twochoice"); err != nil {
		t.Fatal(err)
	}
	if err := ValidStrategy("random"); err == nil {
		t.Fatal("ValidStrategy accepted an unknown name")
	}
}

// TestPlacementSpreadsABurst: placements this node made count until the registry shows them,
// so lowest does not send a burst of new rooms all to one node.
func TestPlacementSpreadsABurst(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx := context.Background()
	a := newTestNode(t, rdb, prefix, "a", StrategyLowest, 5*time.Second, NodeInfo{}, nil)
	newTestNode(t, rdb, prefix, "b", StrategyLowest, 5*time.Second, NodeInfo{}, nil)
	newTestNode(t, rdb, prefix, "c", StrategyLowest, 5*time.Second, NodeInfo{}, nil)
	counts := map[string]int{}
	for i := 0; i < 9; i++ {
		owner, err := a.pl.Owner(ctx, fmt.Sprintf("burst-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		counts[owner]++
	}
	if counts["a"] != 3 || counts["b"] != 3 || counts["c"] != 3 {
		t.Fatalf("a burst of 9 rooms on 3 idle nodes went %v", counts)
	}
}

func TestPlacementRedisDownPlacesLocally(t *testing.T) {
	log, buf := bufLogger()
	rdb := closedRedis(t)
	reg := NewRegistry(RegistryParams{Redis: rdb, NodeID: "n1", Interval: 20 * time.Millisecond, Log: log})
	reg.Start()
	defer reg.Close()
	pl := NewPlacer(PlacerParams{Redis: rdb, Registry: reg, NodeID: "n1", LeaseTTL: 60 * time.Millisecond, Log: log})
	pl.Start()
	owner, err := pl.Owner(context.Background(), "m")
	if err != nil || owner != "n1" {
		t.Fatalf("Owner with Redis down = %q, %v; want n1, nil", owner, err)
	}
	if !pl.Owns("m") {
		t.Fatal("the locally placed room is not owned")
	}
	time.Sleep(100 * time.Millisecond) // renewals fail, the room stays
	if !pl.Owns("m") {
		t.Fatal("a failed renewal dropped the room")
	}
	pl.Release(context.Background(), "m")
	pl.Close()
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "placing the room on this node") {
		t.Fatalf("no warning about local placement; log:\n%s", out)
	}
}

// TestPlacementDuplicateOwnersAfterOutage: two nodes each placed a room locally while Redis
// was unreachable; when Redis answers again exactly one keeps it and the other is told.
func TestPlacementDuplicateOwnersAfterOutage(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx := context.Background()
	down := closedRedis(t)
	var mu sync.Mutex
	lost := map[string][]string{}
	onLost := func(node string) func(string) {
		return func(m string) { mu.Lock(); lost[node] = append(lost[node], m); mu.Unlock() }
	}
	// Both nodes share the same placer state shape; swap their client after the outage.
	var pls []*Placer
	for _, id := range []string{"a", "b"} {
		pl := NewPlacer(PlacerParams{Redis: down, Prefix: prefix, NodeID: id, LeaseTTL: time.Second, OnLost: onLost(id)})
		if owner, err := pl.Owner(ctx, "m"); err != nil || owner != id {
			t.Fatalf("%s: Owner during the outage = %q, %v", id, owner, err)
		}
		pl.rdb = rdb // Redis is back
		pls = append(pls, pl)
	}
	var wg sync.WaitGroup
	for _, pl := range pls {
		wg.Add(1)
		go func(pl *Placer) { defer wg.Done(); pl.Renew(ctx) }(pl)
	}
	wg.Wait()
	holder, err := rdb.Get(ctx, prefix+"room:m:owner").Result()
	if err != nil {
		t.Fatal(err)
	}
	loser := map[string]string{"a": "b", "b": "a"}[holder]
	mu.Lock()
	defer mu.Unlock()
	if len(lost[holder]) != 0 || len(lost[loser]) != 1 || lost[loser][0] != "m" {
		t.Fatalf("holder %s; OnLost calls %v", holder, lost)
	}
	byID := map[string]*Placer{"a": pls[0], "b": pls[1]}
	if !byID[holder].Owns("m") || byID[loser].Owns("m") {
		t.Fatal("ownership after the settlement is wrong")
	}
}
