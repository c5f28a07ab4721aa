package sfu

import (
	"strings"

	"github.com/pion/webrtc/v3"
)

// keyframeFunc reports whether an RTP payload starts a keyframe.
type keyframeFunc func(payload []byte) bool

// keyframeDetector picks the detector for a codec. Codecs without one (audio)
// get nil: every packet is a valid switching point.
func keyframeDetector(mime string) keyframeFunc {
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		return isVP8Keyframe
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		return isH264Keyframe
	case strings.EqualFold(mime, webrtc.MimeTypeVP9):
		return isVP9Keyframe
	}
	return nil
}

// isVP8Keyframe parses the VP8 payload descriptor (RFC 7741 §4.2) and checks
// the inverse key frame flag of the first partition's payload header.
func isVP8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	// Only the first packet of partition 0 carries the frame header.
	if p[0]&0x10 == 0 || p[0]&0x07 != 0 {
		return false
	}
	i := 1
	if p[0]&0x80 != 0 { // X: extended control bits present
		if len(p) < 2 {
			return false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I: PictureID
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 { // M: 15-bit PictureID
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX byte
			i++
		}
	}
	if len(p) <= i {
		return false
	}
	return p[i]&0x01 == 0 // P bit: 0 means key frame
}

// isH264Keyframe looks for an IDR slice or an SPS in a single NAL unit,
// STAP-A aggregate or the first fragment of an FU-A (RFC 6184).
func isH264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	isKeyNAL := func(t byte) bool { return t == 5 || t == 7 }
	switch t := p[0] & 0x1f; {
	case t >= 1 && t <= 23:
		return isKeyNAL(t)
	case t == 24: // STAP-A: 16-bit sizes followed by NAL units
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if size == 0 || i+size > len(p) {
				return false
			}
			if isKeyNAL(p[i] & 0x1f) {
				return true
			}
			i += size
		}
	case t == 28: // FU-A: start bit and original type in the FU header
		if len(p) < 2 {
			return false
		}
		return p[1]&0x80 != 0 && isKeyNAL(p[1]&0x1f)
	}
	return false
}

// isVP9Keyframe checks the VP9 payload descriptor: a packet that begins a
// frame (B) which is not inter-predicted (P clear).
func isVP9Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	return p[0]&0x40 == 0 && p[0]&0x08 != 0
}
