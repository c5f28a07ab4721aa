package sfu

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pion/transport/v2/packetio"
)

// RTP read buffers hold a fraction of a second of media, not Pion's 1 MB.
func TestReadBufferBounded(t *testing.T) {
	e := newTestEngine(t)
	if e.se.BufferFactory == nil {
		t.Fatal("no buffer factory")
	}
	b := e.se.BufferFactory(packetio.RTPBufferPacket, 1)
	defer b.Close()
	pkt := make([]byte, 1200)
	written := 0
	for i := 0; i < 1000; i++ {
		if _, err := b.Write(pkt); err != nil {
			if !errors.Is(err, packetio.ErrFull) {
				t.Fatal(err)
			}
			break
		}
		written += len(pkt)
	}
	if written > rtpReadBuffer || written < rtpReadBuffer/2 {
		t.Fatalf("buffer took %d bytes, limit %d", written, rtpReadBuffer)
	}
}

// The single port's socket gets a receive buffer sized for every connection
// it serves, not the kernel's default for one.
func TestMuxReadBuffer(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip("no rmem_max:", err)
	}
	if max, _ := strconv.Atoi(strings.TrimSpace(string(b))); max < muxReadBuffer {
		t.Skipf("rmem_max %d caps the buffer", max)
	}
	e := newTestEngine(t)
	rc, err := e.batch.UDPConn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	var optErr error
	if err := rc.Control(func(fd uintptr) {
		size, optErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil || optErr != nil {
		t.Fatal(err, optErr)
	}
	if size < muxReadBuffer {
		t.Fatalf("receive buffer %d, want at least %d", size, muxReadBuffer)
	}
}
