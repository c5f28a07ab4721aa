package sfu

import (
	"errors"
	"io"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// rtcpDrain reads every incoming RTCP stream of a publisher connection, one
// goroutine per stream, from the moment Pion binds it.
//
// Reading drives the receiver-side interceptors (the receiver reports need
// the publisher's sender reports) and finds RTCP BYEs. It replaces reading
// through RTPReceiver.ReadRTCP/ReadSimulcastRTCP: the simulcast variant walks
// the receiver's streams without Pion's lock, so it could only start once
// every declared layer had arrived, and a layer the client never sends (the
// top one, often) left the others unread.
type rtcpDrain struct {
	interceptor.NoOp
	onBye func(ssrc uint32) // set before the connection exists
	wg    *sync.WaitGroup   // the owning participant's; Pion closing the stream ends the reader
}

func (d *rtcpDrain) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

// maxRTCPErrors ends a reader whose stream yields nothing but errors.
const maxRTCPErrors = 100

func (d *rtcpDrain) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		buf := make([]byte, packetMTU)
		errs := 0
		for {
			n, attrs, err := reader.Read(buf, interceptor.Attributes{})
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return
			}
			if err == nil {
				var pkts []rtcp.Packet
				if pkts, err = attrs.GetRTCPPackets(buf[:n]); err == nil {
					errs = 0
					d.handle(pkts)
					continue
				}
			}
			// A malformed packet ends neither the stream nor its reader.
			if errs++; errs > maxRTCPErrors {
				return
			}
		}
	}()
	// Nothing else reads the publisher's RTCP.
	return reader
}

func (d *rtcpDrain) handle(pkts []rtcp.Packet) {
	for _, pkt := range pkts {
		if bye, ok := pkt.(*rtcp.Goodbye); ok && d.onBye != nil {
			for _, s := range bye.Sources {
				d.onBye(s)
			}
		}
	}
}
