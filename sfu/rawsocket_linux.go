//go:build linux && (amd64 || arm64)

package sfu

import (
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// rawSocket does a UDP socket's system calls with syscall.RawSyscall6 from
// inside syscall.RawConn's Read and Write callbacks.
//
// Why: the Go runtime treats every ordinary system call as one that may
// block. Entering one wakes the runtime's monitor thread (sysmon) when it
// was parked, and the monitor then polls every 20 µs for at least a
// millisecond before it backs off; a call that outlasts one of its ticks (a
// sendmmsg of a few dozen datagrams on loopback does) has its P handed to
// another thread. A forwarder goes idle and busy again with every frame, so
// at livestream 1→50 the monitor's wake-ups and the hand-offs were about a
// fifth of the server's CPU. The socket is non-blocking: every call returns
// at once (EAGAIN when it would block, and then RawConn parks the goroutine on
// the netpoller, as the net package does), so the bookkeeping buys nothing.
// The price is that a goroutine inside a call cannot be preempted until it
// returns: at most one sendmmsg of maxBatch datagrams.
type rawSocket struct {
	rc syscall.RawConn
	v6 bool // AF_INET6: IPv4 destinations are written v4-mapped

	// Receive state, used by the mux's single reader only; readFn is bound
	// once so that a read allocates nothing but the address it returns.
	readFn func(fd uintptr) bool
	rbuf   []byte
	rn     int
	rfrom  unix.RawSockaddrAny
	rlen   uint32
	rerr   syscall.Errno

	// Send state, guarded by the owning batchConn's sendMu.
	sendOneFn, sendBatchFn func(fd uintptr) bool
	wbuf                   []byte
	wmsgs                  []ipv4.Message
	wn                     int
	werr                   syscall.Errno
	hdrs                   [maxBatch]unix.Mmsghdr
	iovs                   [maxBatch]unix.Iovec
	names                  [maxBatch]unix.RawSockaddrInet6 // also holds RawSockaddrInet4
}

func newRawSocket(c *net.UDPConn) (*rawSocket, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &rawSocket{rc: rc}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		var sa unix.Sockaddr
		sa, serr = unix.Getsockname(int(fd))
		_, s.v6 = sa.(*unix.SockaddrInet6)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	s.readFn = s.recv
	s.sendOneFn = s.sendOne
	s.sendBatchFn = s.sendBatch
	return s, nil
}

// errBadAddr: the destination is not a UDP address of the socket's family.
var errBadAddr = errors.New("sfu: destination not reachable from this socket")

func (s *rawSocket) recv(fd uintptr) bool {
	for {
		s.rlen = unix.SizeofSockaddrAny
		n, _, e := syscall.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&s.rbuf[0])), uintptr(len(s.rbuf)),
			0, uintptr(unsafe.Pointer(&s.rfrom)), uintptr(unsafe.Pointer(&s.rlen)))
		switch e {
		case 0:
			s.rn, s.rerr = int(n), 0
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			s.rn, s.rerr = 0, e
			return true
		}
	}
}

func (s *rawSocket) readFrom(b []byte) (int, net.Addr, error) {
	if len(b) == 0 {
		return 0, nil, nil
	}
	s.rbuf = b
	err := s.rc.Read(s.readFn)
	s.rbuf = nil
	if err != nil {
		return 0, nil, err
	}
	if s.rerr != 0 {
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Err: s.rerr}
	}
	return s.rn, s.fromAddr(), nil
}

// fromAddr converts the last read's source the way the net package does: a
// 16-byte IP from an AF_INET6 socket (v4-mapped for IPv4 peers), 4 bytes
// from an AF_INET one.
func (s *rawSocket) fromAddr() *net.UDPAddr {
	switch s.rfrom.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.rfrom))
		ip := make(net.IP, 4)
		copy(ip, sa.Addr[:])
		return &net.UDPAddr{IP: ip, Port: netPort(sa.Port)}
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&s.rfrom))
		ip := make(net.IP, 16)
		copy(ip, sa.Addr[:])
		a := &net.UDPAddr{IP: ip, Port: netPort(sa.Port)}
		if sa.Scope_id != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.Scope_id)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	}
	return &net.UDPAddr{}
}

// netPort reads a port stored in network byte order.
func netPort(p uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return int(b[0])<<8 | int(b[1])
}

func putNetPort(p *uint16, port int) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

// putName writes addr into name for this socket's family and returns its
// length, or 0 when addr cannot be reached from it.
func (s *rawSocket) putName(name *unix.RawSockaddrInet6, addr net.Addr) uint32 {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0
	}
	if !s.v6 {
		ip4 := ua.IP.To4()
		if ip4 == nil {
			return 0
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(name))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET}
		putNetPort(&sa.Port, ua.Port)
		copy(sa.Addr[:], ip4)
		return unix.SizeofSockaddrInet4
	}
	ip16 := ua.IP.To16()
	if ip16 == nil {
		return 0
	}
	*name = unix.RawSockaddrInet6{Family: unix.AF_INET6}
	putNetPort(&name.Port, ua.Port)
	copy(name.Addr[:], ip16)
	if ua.Zone != "" {
		if ifi, err := net.InterfaceByName(ua.Zone); err == nil {
			name.Scope_id = uint32(ifi.Index)
		}
	}
	return unix.SizeofSockaddrInet6
}

func (s *rawSocket) sendOne(fd uintptr) bool {
	for {
		_, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&s.wbuf[0])), uintptr(len(s.wbuf)),
			0, uintptr(unsafe.Pointer(&s.names[0])), uintptr(s.hdrs[0].Hdr.Namelen))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		s.werr = e
		return true
	}
}

// writeTo sends one datagram; called with the batchConn's sendMu held.
func (s *rawSocket) writeTo(b []byte, addr net.Addr) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n := s.putName(&s.names[0], addr)
	if n == 0 {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errBadAddr}
	}
	s.hdrs[0].Hdr.Namelen = n
	s.wbuf, s.werr = b, 0
	err := s.rc.Write(s.sendOneFn)
	s.wbuf = nil
	if err != nil {
		return 0, err
	}
	if s.werr != 0 {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: s.werr}
	}
	return len(b), nil
}

func (s *rawSocket) sendBatch(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(len(s.wmsgs)), 0, 0, 0)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		s.wn, s.werr = int(n), e
		return true
	}
}

// writeBatch sends up to maxBatch datagrams with one sendmmsg and returns
// how many left; called with the batchConn's sendMu held. A first datagram
// the socket cannot send is reported as an error with 0 sent.
func (s *rawSocket) writeBatch(msgs []ipv4.Message) (int, error) {
	msgs = msgs[:min(len(msgs), maxBatch)]
	for i := range msgs {
		n := s.putName(&s.names[i], msgs[i].Addr)
		if n == 0 {
			if i == 0 {
				return 0, errBadAddr
			}
			msgs = msgs[:i] // send up to the bad one; the caller skips it next
			break
		}
		b := msgs[i].Buffers[0]
		s.iovs[i] = unix.Iovec{Base: unsafe.SliceData(b)}
		s.iovs[i].SetLen(len(b))
		h := &s.hdrs[i]
		h.Hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&s.names[i])), Namelen: n, Iov: &s.iovs[i]}
		h.Hdr.SetIovlen(1)
		h.Len = 0
	}
	s.wmsgs, s.wn, s.werr = msgs, 0, 0
	err := s.rc.Write(s.sendBatchFn)
	s.wmsgs = nil
	if err != nil {
		return 0, err
	}
	if s.werr != 0 {
		return 0, s.werr
	}
	return s.wn, nil
}
