package payments

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// SignatureTolerance is how far a webhook's signed timestamp may be from now, either way.
const SignatureTolerance = 5 * time.Minute

// Sign returns a signature header value for body at t under secret, in Stripe's scheme:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">". The sandbox signs its webhooks
// with it, and tests use it to play Stripe.
func Sign(body []byte, t time.Time, secret string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks a "t=…,v1=…" header over body. Any of secrets may have signed it (two
// are configured while a secret is rotated), and any of the header's v1 values may match (the
// provider signs with each of its live secrets). The timestamp must be within tolerance of now
// in either direction, so a captured webhook cannot be replayed later.
func VerifySignature(header string, body []byte, secrets []string, now time.Time, tolerance time.Duration) error {
	if strings.TrimSpace(header) == "" {
		return ErrMissingSignature
	}
	var (
		ts   string
		sigs [][]byte
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if raw, err := hex.DecodeString(v); err == nil && len(raw) == sha256.Size {
				sigs = append(sigs, raw)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignature
	}
	matched := false
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		want := mac(secret, ts, body)
		for _, sig := range sigs {
			// Every comparison runs, so timing tells nothing about which one matched.
			if hmac.Equal(sig, want) {
				matched = true
			}
		}
	}
	if !matched {
		return ErrBadSignature
	}
	// The age is checked after the MAC: only a genuine but stale signature is "expired".
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureExpired
	}
	return nil
}
