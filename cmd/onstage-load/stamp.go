package main

import (
	"encoding/binary"
	"errors"
)

// Every media packet the load generator sends carries a stamp right after its codec header:
//
//	offset size field
//	0      2    magic "os"
//	2      1    version (1)
//	3      1    kind (0 audio, 1 video)
//	4      4    tag: identifies the sending track (or simulcast layer), random per track
//	8      4    counter: per-tag packet counter, +1 per stamped packet, wraps at 2^32
//	12     8    send time, Unix nanoseconds
//
// The codec header is the Opus TOC byte, the VP8 payload descriptor (plus the VP8 frame tag and,
// on keyframes, the start code and dimensions, when the packet starts a frame), or the H.264
// NAL unit header (one byte for a single NAL unit, two for an FU-A fragment). STAP-A packets
// (SPS and PPS before a keyframe) carry no stamp.
const stampLen = 20

const (
	stampVersion = 1
	kindAudio    = 0
	kindVideo    = 1
)

type stamp struct {
	Kind     byte
	Tag      uint32
	Counter  uint32
	SentUnix int64
}

var errNoStamp = errors.New("no stamp")

func putStamp(b []byte, s stamp) {
	_ = b[stampLen-1]
	b[0], b[1], b[2], b[3] = 'o', 's', stampVersion, s.Kind
	binary.BigEndian.PutUint32(b[4:], s.Tag)
	binary.BigEndian.PutUint32(b[8:], s.Counter)
	binary.BigEndian.PutUint64(b[12:], uint64(s.SentUnix))
}

func parseStamp(b []byte) (stamp, error) {
	if len(b) < stampLen || b[0] != 'o' || b[1] != 's' || b[2] != stampVersion {
		return stamp{}, errNoStamp
	}
	return stamp{
		Kind:     b[3],
		Tag:      binary.BigEndian.Uint32(b[4:]),
		Counter:  binary.BigEndian.Uint32(b[8:]),
		SentUnix: int64(binary.BigEndian.Uint64(b[12:])),
	}, nil
}

type codec int

const (
	codecOpus codec = iota
	codecVP8
	codecH264
)

func (c codec) String() string {
	switch c {
	case codecOpus:
		return "opus"
	case codecVP8:
		return "vp8"
	case codecH264:
		return "h264"
	}
	return "unknown"
}

// codecHeaderLen returns how many bytes of payload precede the stamp, or false when the packet
// carries none.
func codecHeaderLen(c codec, p []byte) (int, bool) {
	if len(p) == 0 {
		return 0, false
	}
	switch c {
	case codecOpus:
		return 1, true
	case codecVP8:
		n := 1
		x, start, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
		if x {
			if len(p) < 2 {
				return 0, false
			}
			ext := p[1]
			n = 2
			if ext&0x80 != 0 { // I: picture id
				if len(p) <= n {
					return 0, false
				}
				if p[n]&0x80 != 0 {
					n += 2
				} else {
					n++
				}
			}
			if ext&0x40 != 0 { // L: TL0PICIDX
				n++
			}
			if ext&0x30 != 0 { // T or K: TID/KEYIDX
				n++
			}
		}
		if start && pid == 0 {
			if len(p) < n+3 {
				return 0, false
			}
			key := p[n]&0x01 == 0
			n += 3
			if key {
				n += 7
			}
		}
		return n, len(p) >= n
	case codecH264:
		switch p[0] & 0x1f {
		case 28: // FU-A
			return 2, len(p) >= 2
		case 24, 25, 26, 27, 29, 0, 30, 31:
			return 0, false
		default: // single NAL unit
			return 1, true
		}
	}
	return 0, false
}

// readStamp finds and decodes the stamp in an RTP payload of the given codec.
func readStamp(c codec, payload []byte) (stamp, error) {
	n, ok := codecHeaderLen(c, payload)
	if !ok {
		return stamp{}, errNoStamp
	}
	return parseStamp(payload[n:])
}
