package sfu

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v2"
)

// What srtpGCMSender seals, pion/srtp opens, across a sequence number wrap
// and with a retransmission from before it.
func TestLiteSRTPGCMSender(t *testing.T) {
	key, salt := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 12)
	s, err := newSRTPGCMSender(key, salt)
	if err != nil {
		t.Fatal(err)
	}
	recv, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	// wantROC is the packet's true rollover counter; asking for it again
	// does not move the state (seal asks once more).
	for _, tc := range []struct {
		seq     uint16
		wantROC uint32
	}{
		{65533, 0}, {65535, 0}, {0, 1}, {1, 1}, {65534, 0}, {2, 1}, {30000, 1}, {60000, 1}, {7000, 2}, {6000, 2},
	} {
		h := &rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: tc.seq, Timestamp: uint32(tc.seq), SSRC: 1234}
		if err := h.SetExtension(3, []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		payload := bytes.Repeat([]byte{byte(tc.seq)}, 300)
		buf := make([]byte, liteBufSize)
		hn, err := h.MarshalTo(buf)
		if err != nil {
			t.Fatal(err)
		}
		n := hn + copy(buf[hn:], payload)
		pkt := s.seal(buf, hn, n, h)
		if got := s.roc(1234, tc.seq); got != tc.wantROC {
			t.Fatalf("seq %d: ROC %d, want %d", tc.seq, got, tc.wantROC)
		}
		plain, err := recv.DecryptRTP(nil, pkt, nil)
		if err != nil {
			t.Fatalf("seq %d: %v", tc.seq, err)
		}
		if !bytes.Equal(plain[hn:], payload) {
			t.Fatalf("seq %d: payload differs", tc.seq)
		}
	}
}
