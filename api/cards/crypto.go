package cards

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// sealer encrypts project secrets at rest with AES-256-GCM under a key derived (HKDF-SHA256)
// from the server secret. The secrets must stay recoverable: checking an HMAC needs them.
type sealer struct{ aead cipher.AEAD }

func newSealer(serverSecret []byte) (*sealer, error) {
	if len(serverSecret) == 0 {
		return nil, errors.New("cards: empty server secret")
	}
	key, err := hkdf.Key(sha256.New, serverSecret, nil, "onstage/cards-project-secrets/v1", 32)
	if err != nil {
		return nil, fmt.Errorf("cards: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// seal returns base64(nonce || ciphertext); the project id is bound as additional data so a
// ciphertext copied to another project's row does not open.
func (s *sealer) seal(plain []byte, projectID string) string {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(projectID)))
}

func (s *sealer) open(enc, projectID string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return nil, errors.New("cards: sealed value is malformed")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(projectID))
	if err != nil {
		return nil, errors.New("cards: sealed value does not open (server secret changed?)")
	}
	return plain, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// keyAlphabet has no 0/O or 1/I, so a key read aloud or typed is never ambiguous; its 32
// symbols make each one exactly 5 random bits (no modulo bias).
const keyAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// newCardKey returns a key of 4 groups of 5 symbols: 100 random bits.
func newCardKey() string {
	var raw [20]byte
	_, _ = rand.Read(raw[:])
	out := make([]byte, 0, 23)
	for i, b := range raw {
		if i > 0 && i%5 == 0 {
			out = append(out, '-')
		}
		out = append(out, keyAlphabet[b&31])
	}
	return string(out)
}
