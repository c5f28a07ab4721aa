package sfu

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// newBatchPair opens a batching socket on laddr in a group of its own, and a
// plain IPv4 loopback socket to receive what it sends; both close with t.
func newBatchPair(t *testing.T, laddr *net.UDPAddr) (*socketGroup, *batchConn, *net.UDPConn) {
	t.Helper()
	send, err := net.ListenUDP("udp", laddr)
	if err != nil {
		t.Fatal(err)
	}
	recv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		send.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Close() })
	g := &socketGroup{}
	c, err := g.add(send)
	if err != nil {
		send.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return g, c, recv
}

// Datagrams written during a pass leave together, in order, with one
// sendmmsg; outside a pass they leave at once.
func TestBatchConn(t *testing.T) {
	g, c, recv := newBatchPair(t, &net.UDPAddr{}) // dual-stack, as the mux listens
	to := recv.LocalAddr()
	read := func(want []byte) {
		t.Helper()
		buf := make([]byte, 2000)
		_ = recv.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := recv.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("got %q, want %q", buf[:n], want)
		}
	}

	if _, err := c.WriteTo([]byte("alone"), to); err != nil {
		t.Fatal(err)
	}
	read([]byte("alone"))
	if c.batches.Load() != 0 {
		t.Fatal("a write outside a pass was batched")
	}

	const n = maxBatch + 10 // one full batch and a partial one
	g.beginPass()
	for i := 0; i < n; i++ {
		if _, err := c.WriteTo([]byte(fmt.Sprint("pkt ", i)), to); err != nil {
			t.Fatal(err)
		}
	}
	g.endPass()
	for i := 0; i < n; i++ {
		read([]byte(fmt.Sprint("pkt ", i)))
	}
	if b, d := c.batches.Load(), c.datagrams.Load(); b != 2 || d != n {
		t.Fatalf("%d sendmmsg calls for %d datagrams, want 2 for %d", b, d, n)
	}
}

// Many writers filling batches at once lose nothing and never panic.
func TestBatchConnConcurrentWriters(t *testing.T) {
	g, c, recv := newBatchPair(t, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	_ = recv.SetReadBuffer(4 << 20)
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				g.beginPass()
				_, _ = c.WriteTo([]byte("x"), recv.LocalAddr())
				_, _ = c.WriteTo([]byte("y"), recv.LocalAddr())
				g.endPass()
			}
		}()
	}
	wg.Wait()
	if d := c.datagrams.Load(); d != 2*writers*each {
		t.Fatalf("%d datagrams sent, want %d", d, 2*writers*each)
	}
}

// Both socket families send singly and in batches, read with the sender's
// address, and refuse a destination of the other family without losing the
// datagrams around it.
func TestBatchConnFamilies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
		laddr   *net.UDPAddr
	}{
		{"ipv4 only", "udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}},
		{"dual stack", "udp", &net.UDPAddr{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock, err := net.ListenUDP(tc.network, tc.laddr)
			if err != nil {
				t.Skip(err)
			}
			g := &socketGroup{}
			c, err := g.add(sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			to := peer.LocalAddr()
			v6 := &net.UDPAddr{IP: net.IPv6loopback, Port: 9}
			if tc.network == "udp4" {
				if _, err := c.WriteTo([]byte("x"), v6); err == nil {
					t.Fatal("an IPv6 destination was accepted by an IPv4 socket")
				}
				g.beginPass()
				_, _ = c.WriteTo([]byte("a"), to)
				_, _ = c.WriteTo([]byte("bad"), v6)
				_, _ = c.WriteTo([]byte("b"), to)
				g.endPass()
			} else {
				g.beginPass()
				_, _ = c.WriteTo([]byte("a"), to)
				_, _ = c.WriteTo([]byte("b"), to)
				g.endPass()
			}
			buf := make([]byte, 100)
			for _, want := range []string{"a", "b"} {
				_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _, err := peer.ReadFrom(buf)
				if err != nil || string(buf[:n]) != want {
					t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
				}
			}
			port := c.LocalAddr().(*net.UDPAddr).Port
			if _, err := peer.WriteTo([]byte("reply"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := c.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "reply" {
				t.Fatalf("read %q, %v", buf[:n], err)
			}
			ua, ok := from.(*net.UDPAddr)
			if !ok || !ua.IP.Equal(net.IPv4(127, 0, 0, 1)) || ua.Port != to.(*net.UDPAddr).Port {
				t.Fatalf("read from %v, want %v", from, to)
			}
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, _, err := c.ReadFrom(buf); err == nil {
				t.Fatal("a read with nothing sent returned")
			}
		})
	}
}

// Queueing a datagram during a pass allocates nothing: the fan-out writes one
// per subscriber per packet.
func TestBatchConnQueueAllocs(t *testing.T) {
	g, c, recv := newBatchPair(t, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	to := recv.LocalAddr()
	pkt := make([]byte, 1200)
	g.beginPass()
	defer g.endPass()
	// A batch comes from the pool once per maxBatch datagrams; warm it, then
	// stay within one batch.
	_, _ = c.WriteTo(pkt, to)
	if a := testing.AllocsPerRun(maxBatch/2, func() { _, _ = c.WriteTo(pkt, to) }); a != 0 {
		t.Fatalf("%.1f allocations per queued datagram, want 0", a)
	}
}

// A flush that finds another goroutine sending returns at once, and that
// goroutine sends what the flush left before it lets go.
func TestBatchConnFlushHandsOff(t *testing.T) {
	g, c, recv := newBatchPair(t, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	to := recv.LocalAddr()
	g.beginPass()
	if _, err := c.WriteTo([]byte("queued"), to); err != nil {
		t.Fatal(err)
	}
	c.sendMu.Lock() // another goroutine is sending
	done := make(chan struct{})
	go func() {
		g.endPass() // flushes: must not wait for sendMu
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the flush waited for the sender")
	}
	if d := c.datagrams.Load(); d != 0 {
		t.Fatalf("%d datagrams sent while sendMu was held", d)
	}
	c.releaseSend()
	if d := c.datagrams.Load(); d != 1 {
		t.Fatalf("%d datagrams sent after the sender let go, want 1", d)
	}
	buf := make([]byte, 100)
	_ = recv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := recv.ReadFrom(buf); err != nil || string(buf[:n]) != "queued" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

// Writers whose passes fill whole batches (which sends them without the
// partial one) while other passes end (which sends everything) lose nothing
// and strand nothing: once every pass has ended, every datagram was sent,
// with no flush after the last pass.
func TestBatchConnFullAndPartialSends(t *testing.T) {
	g, c, recv := newBatchPair(t, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	_ = recv.SetReadBuffer(8 << 20)
	const writers, passes, perPass = 6, 60, maxBatch + 3
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < passes; i++ {
				n := perPass
				if (w+i)%2 == 1 {
					n = 1 // a short pass: its end flushes a partial batch
				}
				g.beginPass()
				for j := 0; j < n; j++ {
					_, _ = c.WriteTo([]byte("x"), recv.LocalAddr())
				}
				g.endPass()
			}
		}()
	}
	wg.Wait()
	want := uint64(0)
	for w := 0; w < writers; w++ {
		for i := 0; i < passes; i++ {
			if (w+i)%2 == 1 {
				want++
			} else {
				want += perPass
			}
		}
	}
	if d := c.datagrams.Load(); d != want {
		t.Fatalf("%d datagrams sent after the last pass, want %d", d, want)
	}
}

// A send of full batches only that took sendMu just before a flush left its
// mark sends the partial batch too: otherwise the flush's datagrams would
// wait for some later pass to end.
func TestBatchConnFullSendHonoursFlush(t *testing.T) {
	g, c, recv := newBatchPair(t, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	_ = recv.SetReadBuffer(4 << 20)
	to := recv.LocalAddr()
	g.beginPass()
	c.sendMu.Lock() // a writer's send(false) has just taken sendMu
	for i := 0; i < maxBatch+3; i++ {
		if _, err := c.WriteTo([]byte("x"), to); err != nil {
			t.Fatal(err)
		}
	}
	g.endPass() // leaves its mark: sendMu is taken
	if d := c.datagrams.Load(); d != 0 {
		t.Fatalf("%d datagrams sent while sendMu was held", d)
	}
	if again := c.sendAndUnlock(false); again {
		t.Fatal("the mark was left for another turn instead of being taken")
	}
	if d := c.datagrams.Load(); d != maxBatch+3 {
		t.Fatalf("%d datagrams sent, want %d: the flush's partial batch was left behind", d, maxBatch+3)
	}
}
