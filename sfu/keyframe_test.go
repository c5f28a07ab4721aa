package sfu

import (
	"sync/atomic"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"
)

func TestKeyframeDetection(t *testing.T) {
	tests := []struct {
		name    string
		mime    string
		payload []byte
		want    bool
	}{
		{"vp8 key, minimal descriptor", webrtc.MimeTypeVP8, []byte{0x10, 0x00, 0x9d}, true},
		{"vp8 delta", webrtc.MimeTypeVP8, []byte{0x10, 0x01}, false},
		{"vp8 key, not partition start", webrtc.MimeTypeVP8, []byte{0x00, 0x00}, false},
		{"vp8 key, partition 1", webrtc.MimeTypeVP8, []byte{0x11, 0x00}, false},
		{"vp8 key, 15-bit picture id", webrtc.MimeTypeVP8, []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
		{"vp8 delta, 7-bit picture id + tl0 + tid", webrtc.MimeTypeVP8, []byte{0x90, 0xe0, 0x12, 0x05, 0x40, 0x01}, false},
		{"vp8 key, 7-bit picture id + tl0 + tid", webrtc.MimeTypeVP8, []byte{0x90, 0xe0, 0x12, 0x05, 0x40, 0x00}, true},
		{"vp8 truncated", webrtc.MimeTypeVP8, []byte{0x90, 0x80}, false},
		{"vp8 empty", webrtc.MimeTypeVP8, nil, false},
		{"h264 idr", webrtc.MimeTypeH264, []byte{0x65, 0x88}, true},
		{"h264 sps", webrtc.MimeTypeH264, []byte{0x67, 0x42}, true},
		{"h264 non-idr slice", webrtc.MimeTypeH264, []byte{0x41, 0x9a}, false},
		{"h264 stap-a with sps", webrtc.MimeTypeH264, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68}, true},
		{"h264 stap-a without key", webrtc.MimeTypeH264, []byte{0x78, 0x00, 0x01, 0x06, 0x00, 0x01, 0x41}, false},
		{"h264 stap-a truncated", webrtc.MimeTypeH264, []byte{0x78, 0x00, 0x09, 0x67}, false},
		{"h264 fu-a idr start", webrtc.MimeTypeH264, []byte{0x7c, 0x85, 0x00}, true},
		{"h264 fu-a idr middle", webrtc.MimeTypeH264, []byte{0x7c, 0x05, 0x00}, false},
		{"h264 fu-a non-idr start", webrtc.MimeTypeH264, []byte{0x7c, 0x81, 0x00}, false},
		{"vp9 key start", webrtc.MimeTypeVP9, []byte{0x08}, true},
		{"vp9 inter", webrtc.MimeTypeVP9, []byte{0x48}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := keyframeDetector(tt.mime)
			if got := f(tt.payload); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if keyframeDetector(webrtc.MimeTypeOpus) != nil {
		t.Fatal("audio has a keyframe detector")
	}
}

// A keyframe request writes its PLI with no lock of the forwarding path
// held: neither the track's pliMu nor the asking down-track's mu.
func TestKeyframeRequestWritesOutsideLocks(t *testing.T) {
	tr, dts := newBenchTrack(1, func(int) webrtc.TrackLocalWriter { return discardWriter{} })
	defer tr.fan.close()
	d := dts[0]
	d.needKey = true
	tr.layers[0].ssrc.Store(42)
	var writes, locked atomic.Int32
	tr.writeRTCP = func(pkts []rtcp.Packet) error {
		writes.Add(1)
		if !tr.pliMu.TryLock() {
			locked.Add(1)
		} else {
			tr.pliMu.Unlock()
		}
		if !d.mu.TryLock() {
			locked.Add(1)
		} else {
			d.mu.Unlock()
		}
		return nil
	}
	// A delta frame to a down-track that waits for a keyframe asks for one.
	feed(tr, rawPacket(t), 1)
	if writes.Load() != 1 {
		t.Fatalf("%d PLI writes, want 1", writes.Load())
	}
	if n := locked.Load(); n != 0 {
		t.Fatalf("PLI written with %d forwarding locks held", n)
	}
}
