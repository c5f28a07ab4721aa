package sfu

import (
	"errors"
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
