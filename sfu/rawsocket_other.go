//go:build !(linux && (amd64 || arm64))

package sfu

import (
	"net"

	"golang.org/x/net/ipv4"
)

// rawSocket is the portable form of the Linux raw-syscall socket: the net
// package's calls, and x/net's WriteBatch (one sendmmsg where the platform
// has it, a loop of sends elsewhere).
type rawSocket struct {
	c  *net.UDPConn
	pc *ipv4.PacketConn
}

func newRawSocket(c *net.UDPConn) (*rawSocket, error) {
	return &rawSocket{c: c, pc: ipv4.NewPacketConn(c)}, nil
}

func (s *rawSocket) readFrom(b []byte) (int, net.Addr, error) { return s.c.ReadFrom(b) }

func (s *rawSocket) writeTo(b []byte, addr net.Addr) (int, error) { return s.c.WriteTo(b, addr) }

func (s *rawSocket) writeBatch(msgs []ipv4.Message) (int, error) {
	return s.pc.WriteBatch(msgs[:min(len(msgs), maxBatch)], 0)
}
