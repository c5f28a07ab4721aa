package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"

	"github.com/pion/ice/v2"
	"github.com/pion/logging"
	"github.com/pion/transport/v2"
)

// socketGroup is the single-port mux's sockets. A fan-out pass batches on
// all of them at once: the pass counter is shared, and the end of a pass
// flushes each socket's batch.
type socketGroup struct {
	passes atomic.Int32
	conns  []*batchConn
}

// add wraps c as one of the group's sockets.
func (g *socketGroup) add(c *net.UDPConn) (*batchConn, error) {
	bc, err := newBatchConn(c, &g.passes)
	if err != nil {
		return nil, err
	}
	g.conns = append(g.conns, bc)
	return bc, nil
}

// beginPass and endPass bracket a fan-out pass; the end sends what the
// pass queued on every socket.
func (g *socketGroup) beginPass() { g.passes.Add(1) }

func (g *socketGroup) endPass() {
	g.passes.Add(-1)
	for _, c := range g.conns {
		c.flush()
	}
}

// listenMux opens the sockets of the single-port mux and the ICE mux over
// them. Without NAT 1:1 addresses there is one socket per local address:
// a socket on the unspecified address answers a check from whichever local
// address routing picks for the client, not necessarily the one the client
// checked, and a client's ICE agent then credits the answer, or the
// server's own check, to another candidate pair and nominates only on its
// next connectivity tick (about 200 ms later). With NAT 1:1 addresses the
// candidates carry the public addresses, so one socket on the unspecified
// address serves them all. port 0 lets each socket take its own port.
//
// An address that cannot be bound (an IPv6 address still in duplicate
// address detection, say) is skipped with a warning, so that one odd
// interface does not stop the node; if none can be, the mux falls back to
// the unspecified address, and fails only if that fails too.
//
// Each socket reads through lite, which takes the datagrams of lite
// transports before Pion's mux sees them.
func listenMux(n transport.Net, port int, natIPs []string, loopback bool, pionLog logging.LoggerFactory, log *slog.Logger) (ice.UDPMux, *socketGroup, *liteMux, error) {
	var ips []net.IP
	if len(natIPs) == 0 {
		var err error
		if ips, err = muxAddresses(n); err != nil {
			return nil, nil, nil, err
		}
	}
	g := &socketGroup{}
	lite := newLiteMux(pionLog)
	var muxes []ice.UDPMux
	open := func(ip net.IP) error {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
		if err != nil {
			return fmt.Errorf("sfu: listen udp mux: %w", err)
		}
		// One socket now receives what every connection's own socket did:
		// give it room for a scheduling hiccup at many connections' rates
		// (the kernel caps this at net.core.rmem_max).
		_ = c.SetReadBuffer(muxReadBuffer)
		bc, err := g.add(c)
		if err != nil {
			_ = c.Close()
			return fmt.Errorf("sfu: udp mux socket: %w", err)
		}
		muxes = append(muxes, ice.NewUDPMuxDefault(ice.UDPMuxParams{
			Logger: pionLog.NewLogger("ice"), UDPConn: demuxConn{batchConn: bc, lite: lite}, Net: n,
		}))
		return nil
	}
	for _, ip := range ips {
		if err := open(ip); err != nil {
			log.Warn("media address skipped", "ip", ip.String(), "err", err)
		}
	}
	if len(muxes) == 0 {
		if err := open(nil); err != nil { // the unspecified address, both families
			return nil, nil, nil, err
		}
	}
	lite.setCandidates(g.conns, natIPs, loopback)
	if len(muxes) == 1 {
		return muxes[0], g, lite, nil
	}
	return ice.NewMultiUDPMuxDefault(muxes...), g, lite, nil
}

// muxAddresses lists the addresses the mux listens on: those of every
// interface that is up, loopback included (a client on this machine), IPv4
// and IPv6 but not link-local, whose candidates would need a zone; the
// addresses Pion's own mux gathers for a socket on the unspecified address.
// None (no interface up) means one socket on the unspecified address.
func muxAddresses(n transport.Net) ([]net.IP, error) {
	ifaces, err := n.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("sfu: list interfaces: %w", err)
	}
	var ips []net.IP
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			var ip net.IP
			switch a := a.(type) {
			case *net.IPNet:
				ip = a.IP
			case *net.IPAddr:
				ip = a.IP
			}
			if usableMuxIP(ip) {
				ips = append(ips, ip)
			}
		}
	}
	return ips, nil
}

func usableMuxIP(ip net.IP) bool {
	switch {
	case ip == nil, ip.IsUnspecified(), ip.IsMulticast(), ip.IsLinkLocalUnicast():
		return false
	case ip.To4() != nil:
		return true
	}
	// Site-local (fec0::/10, deprecated) and IPv4-compatible IPv6 addresses
	// (::/96, ::1 among them) are not gathered by Pion either.
	if len(ip) != net.IPv6len {
		return false
	}
	return !(ip[0] == 0xfe && ip[1]&0xc0 == 0xc0) && !ip[:12].Equal(make(net.IP, 12))
}
