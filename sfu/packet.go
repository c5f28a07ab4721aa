package sfu

import (
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
)

// packetMTU is the largest RTP packet a reader accepts; it covers Pion's
// default receive MTU with room to spare.
const packetMTU = 1500

// packet is one received RTP packet, parsed once by its reader and shared
// read-only by every DownTrack it is forwarded to. Packets are pooled and
// reference counted so the forward path allocates nothing.
type packet struct {
	buf     [packetMTU]byte
	hdr     rtp.Header
	payload []byte

	layer    int8
	keyframe bool
	arrival  int64 // unix nanoseconds

	// audioLevel is the RFC 6464 byte, valid when hasLevel is set.
	audioLevel byte
	hasLevel   bool

	refs atomic.Int32
}

var packetPool = sync.Pool{New: func() any { return new(packet) }}

func getPacket() *packet {
	p := packetPool.Get().(*packet)
	p.refs.Store(1)
	return p
}

// release drops one reference and recycles the packet when it was the last.
func (p *packet) release() {
	if p.refs.Add(-1) == 0 {
		p.payload = nil
		packetPool.Put(p)
	}
}

// parse unmarshals the first n bytes of buf. Padding is stripped from the
// payload: the SFU never forwards padding.
func (p *packet) parse(n int) error {
	hl, err := p.hdr.Unmarshal(p.buf[:n])
	if err != nil {
		return err
	}
	end := n
	if p.hdr.Padding && end > hl {
		pad := int(p.buf[end-1])
		if pad == 0 || end-pad < hl {
			return errBadPadding
		}
		end -= pad
	}
	p.payload = p.buf[hl:end]
	return nil
}
