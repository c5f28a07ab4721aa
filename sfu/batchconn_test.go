package sfu

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// Datagrams written during a pass leave together, in order, with one
// sendmmsg; outside a pass they leave at once.
func TestBatchConn(t *testing.T) {
	send, err := net.ListenUDP("udp", &net.UDPAddr{}) // dual-stack, as the mux listens
	if err != nil {
		t.Fatal(err)
	}
	recv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	c := newBatchConn(send)
	defer c.Close()
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
	c.beginPass()
	for i := 0; i < n; i++ {
		if _, err := c.WriteTo([]byte(fmt.Sprint("pkt ", i)), to); err != nil {
			t.Fatal(err)
		}
	}
	c.endPass()
	for i := 0; i < n; i++ {
		read([]byte(fmt.Sprint("pkt ", i)))
	}
	if b, d := c.batches.Load(), c.datagrams.Load(); b != 2 || d != n {
		t.Fatalf("%d sendmmsg calls for %d datagrams, want 2 for %d", b, d, n)
	}
}

// Many writers filling batches at once lose nothing and never panic.
func TestBatchConnConcurrentWriters(t *testing.T) {
	send, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	recv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	_ = recv.SetReadBuffer(4 << 20)
	c := newBatchConn(send)
	defer c.Close()
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				c.beginPass()
				_, _ = c.WriteTo([]byte("x"), recv.LocalAddr())
				_, _ = c.WriteTo([]byte("y"), recv.LocalAddr())
				c.endPass()
			}
		}()
	}
	wg.Wait()
	if d := c.datagrams.Load(); d != 2*writers*each {
		t.Fatalf("%d datagrams sent, want %d", d, 2*writers*each)
	}
}
