package main

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

const (
	maxPayload     = 1100 // bytes of RTP payload per video packet
	videoFPS       = 30
	keyframeEvery  = 2 * time.Second
	audioPacketDur = 20 * time.Millisecond
	audioBytes     = 80 // 32 kbit/s Opus
	minKeyGap      = 300 * time.Millisecond
)

// A fixed, well-formed H.264 constrained-baseline SPS/PPS pair, sent as a STAP-A before every
// IDR frame.
var (
	h264SPS = []byte{0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20}
	h264PPS = []byte{0x68, 0xce, 0x3c, 0x80}
)

func codecCapability(c codec) webrtc.RTPCodecCapability {
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	switch c {
	case codecH264:
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: fb}
	case codecOpus:
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"}
	default:
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}
	}
}

func codecFromMime(mime string) codec {
	switch {
	case equalFold(mime, webrtc.MimeTypeH264):
		return codecH264
	case equalFold(mime, webrtc.MimeTypeOpus):
		return codecOpus
	default:
		return codecVP8
	}
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// rtpWriter is where a generator sends its packets (a TrackLocalStaticRTP, or a test sink).
type rtpWriter interface {
	WriteRTP(*rtp.Packet) error
}

// rtpExts are the header extensions a simulcast layer writes on every packet.
type rtpExts struct {
	midID uint8
	mid   string
	ridID uint8
}

// generator produces synthetic, stamped RTP for one track or simulcast layer.
type generator struct {
	codec   codec
	bitrate int // bits per second (video)
	out     rtpWriter
	tag     uint32
	rid     string
	exts    atomic.Pointer[rtpExts]

	counter uint32
	seq     uint16
	ts      uint32
	buf     []byte

	keyReq  atomic.Bool
	lastKey time.Time

	keyframes atomic.Uint64
}

func newGenerator(c codec, bitrate int, out rtpWriter) *generator {
	return &generator{codec: c, bitrate: bitrate, out: out, tag: rand.Uint32(),
		seq: uint16(rand.Uint32()), ts: rand.Uint32(), buf: make([]byte, 64*1024)}
}

// requestKeyframe asks for a keyframe at the next frame (a PLI or FIR arrived).
func (g *generator) requestKeyframe() { g.keyReq.Store(true) }

func (g *generator) run(ctx context.Context) {
	period := time.Second / videoFPS
	if g.codec == codecOpus {
		period = audioPacketDur
	}
	t := time.NewTicker(period)
	defer t.Stop()
	g.lastKey = time.Time{}
	for {
		g.frame(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (g *generator) nextStamp(kind byte) stamp {
	g.counter++
	return stamp{Kind: kind, Tag: g.tag, Counter: g.counter, SentUnix: time.Now().UnixNano()}
}

func (g *generator) send(payload []byte, marker bool) {
	g.seq++
	p := rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, SequenceNumber: g.seq, Timestamp: g.ts}, Payload: payload}
	if e := g.exts.Load(); e != nil {
		if e.midID != 0 && e.mid != "" {
			_ = p.Header.SetExtension(e.midID, []byte(e.mid))
		}
		if e.ridID != 0 {
			_ = p.Header.SetExtension(e.ridID, []byte(g.rid))
		}
	}
	_ = g.out.WriteRTP(&p)
}

// frame sends one audio packet or one video frame.
func (g *generator) frame(now time.Time) {
	switch g.codec {
	case codecOpus:
		b := g.buf[:audioBytes]
		b[0] = 0xf8 // TOC: config 31 (CELT FB 20 ms), mono, one frame
		putStamp(b[1:], g.nextStamp(kindAudio))
		fill(b[1+stampLen:])
		g.send(b, false)
		g.ts += 960
		return
	}
	key := g.lastKey.IsZero() || now.Sub(g.lastKey) >= keyframeEvery ||
		(g.keyReq.Load() && now.Sub(g.lastKey) >= minKeyGap)
	if key {
		g.keyReq.Store(false)
		g.lastKey = now
		g.keyframes.Add(1)
	}
	size := g.bitrate / 8 / videoFPS
	if key {
		size *= 4
	}
	if size < 200 {
		size = 200
	}
	if g.codec == codecH264 {
		g.h264Frame(size, key)
	} else {
		g.vp8Frame(size, key)
	}
	g.ts += 90000 / videoFPS
}

func fill(b []byte) {
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
}

func (g *generator) vp8Frame(size int, key bool) {
	n := (size + maxPayload - 1) / maxPayload
	per := size / n
	for i := 0; i < n; i++ {
		b := g.buf[:0]
		if i == 0 {
			b = append(b, 0x10) // S=1, PID=0
			// Frame tag: P (bit 0) is 0 on keyframes; show_frame set; first partition size.
			part := uint32(per)
			tag := part<<5 | 1<<4
			if !key {
				tag |= 1
			}
			b = append(b, byte(tag), byte(tag>>8), byte(tag>>16))
			if key {
				b = append(b, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01) // 640x360
			}
		} else {
			b = append(b, 0x00)
		}
		hdr := len(b)
		b = b[:max(per, hdr+stampLen)]
		putStamp(b[hdr:], g.nextStamp(kindVideo))
		fill(b[hdr+stampLen:])
		g.send(b, i == n-1)
	}
}

func (g *generator) h264Frame(size int, key bool) {
	nal := byte(0x41) // non-IDR slice, NRI 2
	if key {
		nal = 0x65 // IDR slice, NRI 3
		b := g.buf[:0]
		b = append(b, 0x78) // STAP-A, NRI 3
		b = append(b, byte(len(h264SPS)>>8), byte(len(h264SPS)))
		b = append(b, h264SPS...)
		b = append(b, byte(len(h264PPS)>>8), byte(len(h264PPS)))
		b = append(b, h264PPS...)
		g.send(b, false)
	}
	if size <= maxPayload {
		b := g.buf[:max(size, 1+stampLen)]
		b[0] = nal
		putStamp(b[1:], g.nextStamp(kindVideo))
		fill(b[1+stampLen:])
		g.send(b, true)
		return
	}
	n := (size + maxPayload - 1) / maxPayload
	per := size / n
	for i := 0; i < n; i++ {
		b := g.buf[:max(per, 2+stampLen)]
		b[0] = nal&0x60 | 28
		b[1] = nal & 0x1f
		if i == 0 {
			b[1] |= 0x80
		}
		if i == n-1 {
			b[1] |= 0x40
		}
		putStamp(b[2:], g.nextStamp(kindVideo))
		fill(b[2+stampLen:])
		g.send(b, i == n-1)
	}
}
