package sfu

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"

	"github.com/pion/rtp"
)

// srtpGCMSender protects outbound RTP with AEAD_AES_128_GCM (RFC 7714) in
// place and without allocating. pion/srtp's context allocates on every
// packet (its IV escapes through the AEAD interface): at a subscriber's
// packet rate times every subscriber that is most of the forwarding path's
// garbage. GCM is what the lite transport negotiates first; the AES-CM
// fallback and all of SRTCP stay with pion/srtp.
//
// Not safe for concurrent use: the transport's write lock guards it.
type srtpGCMSender struct {
	aead cipher.AEAD
	salt [12]byte
	iv   [12]byte // a field, so that handing it to Seal allocates nothing
	rocs map[uint32]srtpROC
}

// srtpROC is the rollover counter of one sent SSRC and its highest
// sequence number (RFC 3711 3.3.1).
type srtpROC struct {
	roc uint32
	seq uint16
}

// SRTP key derivation labels (RFC 3711 4.3.2).
const (
	srtpLabelEncryption = 0x00
	srtpLabelSalt       = 0x02
)

func newSRTPGCMSender(masterKey, masterSalt []byte) (*srtpGCMSender, error) {
	key, err := srtpDeriveKey(srtpLabelEncryption, masterKey, masterSalt, len(masterKey))
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	salt, err := srtpDeriveKey(srtpLabelSalt, masterKey, masterSalt, 12)
	if err != nil {
		return nil, err
	}
	s := &srtpGCMSender{aead: aead, rocs: map[uint32]srtpROC{}}
	copy(s.salt[:], salt)
	return s, nil
}

// srtpDeriveKey is RFC 3711 4.3.3's AES-CM PRF with a key derivation rate
// of 0, the only one DTLS-SRTP uses.
func srtpDeriveKey(label byte, masterKey, masterSalt []byte, n int) ([]byte, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, err
	}
	var in [16]byte
	copy(in[:], masterSalt)
	in[7] ^= label
	out := make([]byte, (n+15)/16*16)
	for i := 0; i < n; i += 16 {
		binary.BigEndian.PutUint16(in[14:], uint16(i/16))
		block.Encrypt(out[i:i+16], in[:])
	}
	return out[:n], nil
}

// roc returns the rollover counter of packet seq of ssrc: the counter moves
// on when the sequence number wraps, and a packet from just before the
// wrap (a retransmission) keeps the previous one.
func (s *srtpGCMSender) roc(ssrc uint32, seq uint16) uint32 {
	st, ok := s.rocs[ssrc]
	if !ok {
		s.rocs[ssrc] = srtpROC{seq: seq}
		return 0
	}
	if d := int16(seq - st.seq); d > 0 {
		if seq < st.seq {
			st.roc++
		}
		st.seq = seq
		s.rocs[ssrc] = st
		return st.roc
	}
	if seq > st.seq && st.roc > 0 {
		return st.roc - 1
	}
	return st.roc
}

// seal encrypts the RTP packet in buf[:n] (header of hn bytes from h) in
// place and returns it with its tag; buf must have 16 bytes of room past n.
func (s *srtpGCMSender) seal(buf []byte, hn, n int, h *rtp.Header) []byte {
	roc := s.roc(h.SSRC, h.SequenceNumber)
	// RFC 7714 8.1: 00 00 || SSRC || ROC || SEQ, XOR the session salt.
	s.iv = [12]byte{}
	binary.BigEndian.PutUint32(s.iv[2:], h.SSRC)
	binary.BigEndian.PutUint32(s.iv[6:], roc)
	binary.BigEndian.PutUint16(s.iv[10:], h.SequenceNumber)
	for i := range s.iv {
		s.iv[i] ^= s.salt[i]
	}
	// The header is the additional data; the payload is sealed over itself.
	s.aead.Seal(buf[hn:hn], s.iv[:], buf[hn:n], buf[:hn])
	return buf[:n+s.aead.Overhead()]
}
