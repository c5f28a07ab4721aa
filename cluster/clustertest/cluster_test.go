//go:build cluster

package clustertest

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/check"
)

// pair creates a meeting and two users, the host entering through hostURL and the guest
// through guestURL; both publish and receive each other's media.
func pair(t *testing.T, hostURL, guestURL string) (string, *member, *member) {
	t.Helper()
	host := &member{t: t, name: "host", token: newUser(t, "host")}
	guest := &member{t: t, name: "guest", token: newUser(t, "guest")}
	mid := createMeeting(t, host.token)
	host.enter(hostURL, mid)
	guest.enter(guestURL, mid)
	bothFlowing(t, host, guest, 20*time.Second)
	return mid, host, guest
}

func bothFlowing(t *testing.T, a, b *member, within time.Duration) {
	t.Helper()
	if err := flowing(a.p, b.pid(), 10, within); err != nil {
		t.Fatalf("%s receives: %v", a.name, err)
	}
	if err := flowing(b.p, a.pid(), 10, within); err != nil {
		t.Fatalf("%s receives: %v", b.name, err)
	}
}

// 1. Two clients entering through different nodes reach one media owner, with media and chat.
func TestTwoNodesOneOwner(t *testing.T) {
	mid, host, guest := pair(t, nodeURL(1), nodeURL(2))
	own := owner(mid)
	if own == "" {
		t.Fatal("no lease")
	}
	for _, m := range []*member{host, guest} {
		if by := servedBy(m.p); by != own {
			t.Fatalf("%s's media goes to %q, the owner is %s", m.name, by, own)
		}
	}
	host.chat("hello from node-1")
	guest.chat("hello from node-2")
	for _, m := range []*member{host, guest} {
		check.ForErr(t, 5*time.Second, 20*time.Millisecond, func() error {
			got := m.c.chats()
			for _, s := range append(host.acked, guest.acked...) {
				if !got[s] {
					return fmt.Errorf("%s misses chat %d (has %v)", m.name, s, got)
				}
			}
			return nil
		})
	}
}

// 2. Meetings created and joined through the load balancer spread over the nodes.
func TestPlacementSpread(t *testing.T) {
	tok := newUser(t, "spread")
	counts := map[string]int{}
	for i := 0; i < 20; i++ {
		mid := createMeeting(t, tok)
		c := mustDial(t, lbURL(), tok)
		if _, err := c.join(map[string]any{"meeting_id": mid}); err != nil {
			t.Fatal(err)
		}
		counts[owner(mid)]++
		defer func() {
			_, _ = c.request("leave_room", nil)
			_ = c.ws.CloseNow()
		}()
	}
	t.Logf("rooms per node: %v", counts)
	for i := 1; i <= nodeCount; i++ {
		if counts[nodeName(i)] < 2 || counts[nodeName(i)] > 12 {
			t.Fatalf("node-%d got %d of 20 rooms: %v", i, counts[nodeName(i)], counts)
		}
	}
}

// 3. The owner is killed mid-meeting: both clients resume on another node with media flowing
// within 10 s, and no acknowledged chat is lost.
func TestOwnerKilled(t *testing.T) {
	t.Cleanup(func() { clusterUp(t) })
	host := &member{t: t, name: "host", token: newUser(t, "host")}
	guest := &member{t: t, name: "guest", token: newUser(t, "guest")}
	mid := createMeeting(t, host.token)
	// The host enters through the load balancer; the guest straight on another node, so
	// that one of them is relayed.
	host.enter(lbURL(), mid)
	own := owner(mid)
	other := nodeIndex(own)%nodeCount + 1
	guest.enter(nodeURL(other), mid)
	bothFlowing(t, host, guest, 20*time.Second)
	for i := 0; i < 3; i++ {
		host.chat(fmt.Sprintf("host %d", i))
		guest.chat(fmt.Sprintf("guest %d", i))
	}

	killed := time.Now()
	signalProc(t, own, syscall.SIGKILL, 5*time.Second)
	// Each client notices (its socket closes: at once on the owner, and through a relay as
	// soon as the edge's probe finds the owner gone from the bus) and resumes through the
	// load balancer.
	errs := make(chan error, 2)
	for _, m := range []*member{host, guest} {
		go func(m *member) {
			deadline := time.Now().Add(10 * time.Second)
			for m.c.closed() == nil && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			errs <- m.resume(mid, 10*time.Second)
		}(m)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	bothFlowing(t, host, guest, 10*time.Second-time.Since(killed)+2*time.Second)
	took := time.Since(killed)
	t.Logf("media flowing again %v after the kill; new owner %s", took, owner(mid))
	if took > 12*time.Second {
		t.Fatalf("media came back after %v, want about 10 s", took)
	}
	if n := owner(mid); n == own || n == "" {
		t.Fatalf("owner after the kill: %q", n)
	}
	for _, m := range []*member{host, guest} {
		check.ForErr(t, 5*time.Second, 20*time.Millisecond, func() error {
			got := m.c.chats()
			for _, s := range append(host.acked, guest.acked...) {
				if !got[s] {
					return fmt.Errorf("%s: acknowledged chat %d not replayed (has %v)", m.name, s, got)
				}
			}
			return nil
		})
	}
}

// 3b. The owner is killed with one participant's socket on it and the other's relayed to it
// by another node: the edge closes the relayed socket as soon as the owner is gone from the
// bus, so both clients resume at once and media flows again within about 2 s (docs/cluster.md,
// "Node loss" reports the figure).
func TestOwnerKilledMediaBack(t *testing.T) {
	t.Cleanup(func() { clusterUp(t) })
	host := &member{t: t, name: "host", token: newUser(t, "host")}
	guest := &member{t: t, name: "guest", token: newUser(t, "guest")}
	mid := createMeeting(t, host.token)
	host.enter(nodeURL(1), mid)
	own := owner(mid)
	// One socket on the owner, one on another node (relayed).
	if own == nodeName(1) {
		guest.enter(nodeURL(2), mid)
	} else {
		guest.enter(nodeURL(nodeIndex(own)), mid)
	}
	bothFlowing(t, host, guest, 20*time.Second)

	killed := time.Now()
	// No wait here: the clock runs from the signal, and the clients react on their own.
	signalProc(t, own, syscall.SIGKILL, 0)
	type result struct {
		m      *member
		closed time.Duration
		err    error
	}
	res := make(chan result, 2)
	for _, m := range []*member{host, guest} {
		go func(m *member) {
			deadline := time.Now().Add(10 * time.Second)
			for m.c.closed() == nil && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			closed := time.Since(killed)
			res <- result{m, closed, m.resume(mid, 10*time.Second)}
		}(m)
	}
	for range 2 {
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Logf("%s's socket closed %v after the kill", r.m.name, r.closed.Round(time.Millisecond))
	}
	// Media is back when both receive each other's audio and video again.
	if err := flowing(host.p, guest.pid(), 1, 10*time.Second); err != nil {
		t.Fatalf("host receives: %v", err)
	}
	if err := flowing(guest.p, host.pid(), 1, 10*time.Second); err != nil {
		t.Fatalf("guest receives: %v", err)
	}
	took := time.Since(killed)
	t.Logf("media flowing both ways again %v after the owner was killed (goal: 2 s); new owner %s",
		took.Round(time.Millisecond), owner(mid))
	// Loose: before the edges probed their owners this took 4.7-5.2 s.
	if took > 4*time.Second {
		t.Fatalf("media came back %v after the kill, want about 2 s", took)
	}
}

// 4. NATS, then Redis, stopped for 20 s and restarted: the media of a running room never
// stops, and the cluster converges afterwards.
func TestBusAndRedisOutages(t *testing.T) {
	t.Cleanup(func() { clusterUp(t) })
	host := &member{t: t, name: "host", token: newUser(t, "host")}
	guest := &member{t: t, name: "guest", token: newUser(t, "guest")}
	mid := createMeeting(t, host.token)
	host.enter(lbURL(), mid)
	own := owner(mid)
	guest.enter(nodeURL(nodeIndex(own)), mid)
	bothFlowing(t, host, guest, 20*time.Second)
	// Both sockets on the owner, so that the outage's only effect on them is the bus.
	if host.lastBy != nodeURL(nodeIndex(own)) {
		host.c.ws.CloseNow()
		host.p.Close()
		if err := host.resumeAt(nodeURL(nodeIndex(own)), mid); err != nil {
			t.Fatal(err)
		}
		bothFlowing(t, host, guest, 10*time.Second)
	}

	for _, dep := range []string{"nats", "redis"} {
		t.Logf("stopping %s for 20 s", dep)
		signalProc(t, dep, syscall.SIGKILL, 5*time.Second)
		end := time.Now().Add(20 * time.Second)
		for time.Now().Before(end) {
			// Media never stops: at least a few packets every 1.5 s.
			if err := flowing(host.p, guest.pid(), 5, 1500*time.Millisecond); err != nil {
				t.Fatalf("during the %s outage, host: %v", dep, err)
			}
			if err := flowing(guest.p, host.pid(), 5, 1500*time.Millisecond); err != nil {
				t.Fatalf("during the %s outage, guest: %v", dep, err)
			}
		}
		if dep == "nats" {
			// Local chat keeps working without the bus.
			host.chat("during the bus outage")
			check.ForErr(t, 5*time.Second, 20*time.Millisecond, func() error {
				if s := host.acked[len(host.acked)-1]; !guest.c.chats()[s] {
					return fmt.Errorf("guest misses chat %d during the outage", s)
				}
				return nil
			})
		}
		clusterUp(t)
		// Converged: chat goes through the bus again, exactly once, and the room still has
		// its owner's lease.
		guest.chat("after the " + dep + " outage")
		check.ForErr(t, 10*time.Second, 50*time.Millisecond, func() error {
			if s := guest.acked[len(guest.acked)-1]; !host.c.chats()[s] {
				return fmt.Errorf("host misses chat %d", s)
			}
			if o := owner(mid); o != own {
				return fmt.Errorf("lease held by %q, want %s", o, own)
			}
			return nil
		})
		if n := countChats(host.c, host.acked[len(host.acked)-1]); n != 1 && dep == "nats" {
			t.Fatalf("the chat sent during the outage reached the host %d times", n)
		}
		bothFlowing(t, host, guest, 5*time.Second)
	}
}

func countChats(c *client, seq int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.msgs {
		if m.Type == "chat" && containsSeq(m.Data, seq) {
			n++
		}
	}
	return n
}

// 5. SIGTERM drains: the node takes no new room, keeps its room until the drain timeout,
// then its clients move and it exits.
func TestDrain(t *testing.T) {
	t.Cleanup(func() { clusterUp(t) })
	host := &member{t: t, name: "host", token: newUser(t, "host")}
	guest := &member{t: t, name: "guest", token: newUser(t, "guest")}
	mid := createMeeting(t, host.token)
	host.enter(lbURL(), mid)
	own := owner(mid)
	guest.enter(nodeURL(nodeIndex(own)), mid)
	bothFlowing(t, host, guest, 20*time.Second)

	pid := signalProc(t, own, syscall.SIGTERM, 0)
	termed := time.Now()
	check.ForErr(t, 5*time.Second, 50*time.Millisecond, func() error {
		d, err := nodeDraining(own)
		if err != nil || !d {
			return fmt.Errorf("%s draining=%v %v", own, d, err)
		}
		return nil
	})
	// No new room goes to the draining node.
	tok := newUser(t, "late")
	for i := 0; i < 4; i++ {
		m2 := createMeeting(t, tok)
		c := mustDial(t, lbURL(), tok)
		if _, err := c.join(map[string]any{"meeting_id": m2}); err != nil {
			t.Fatal(err)
		}
		if o := owner(m2); o == own {
			t.Fatalf("a new room was placed on the draining %s", own)
		}
		_, _ = c.request("leave_room", nil)
	}
	// The room keeps running on the draining node meanwhile.
	if !alive(pid) {
		t.Fatalf("%s exited %v after SIGTERM with a room still running", own, time.Since(termed))
	}
	bothFlowing(t, host, guest, 3*time.Second)

	// After the drain timeout the clients are asked to reconnect, resume elsewhere, and the
	// node exits.
	errs := make(chan error, 2)
	for _, m := range []*member{host, guest} {
		go func(m *member) {
			deadline := time.Now().Add(40 * time.Second)
			for m.c.closed() == nil && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			errs <- m.resume(mid, 15*time.Second)
		}(m)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	bothFlowing(t, host, guest, 15*time.Second)
	if n := owner(mid); n == own || n == "" {
		t.Fatalf("owner after the drain: %q", n)
	}
	check.ForErr(t, 30*time.Second, 100*time.Millisecond, func() error {
		if alive(pid) {
			return fmt.Errorf("%s still runs %v after SIGTERM", own, time.Since(termed))
		}
		return nil
	})
	t.Logf("%s drained and exited %v after SIGTERM", own, time.Since(termed))
}
