package payments

import (
	"errors"
	"testing"
	"time"
)

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1"}`)
	good := Sign(body, now, "old-secret")
	newer := Sign(body, now, "new-secret")
	both := good + ",v1=" + newer[len("t=1800000000,v1="):]
	tests := []struct {
		name    string
		header  string
		body    []byte
		secrets []string
		now     time.Time
		want    error
	}{
		{"valid", good, body, []string{"old-secret"}, now, nil},
		{"rotation: old secret still accepted", good, body, []string{"new-secret", "old-secret"}, now, nil},
		{"rotation: new secret accepted", newer, body, []string{"new-secret", "old-secret"}, now, nil},
		{"header with two signatures", both, body, []string{"new-secret"}, now, nil},
		{"retired secret", good, body, []string{"new-secret"}, now, ErrBadSignature},
		{"tampered body", good, []byte(`{"id":"evt_2"}`), []string{"old-secret"}, now, ErrBadSignature},
		{"missing", "", body, []string{"old-secret"}, now, ErrMissingSignature},
		{"garbage", "nonsense", body, []string{"old-secret"}, now, ErrBadSignature},
		{"no v1", "t=1800000000", body, []string{"old-secret"}, now, ErrBadSignature},
		{"4m59s old", good, body, []string{"old-secret"}, now.Add(4*time.Minute + 59*time.Second), nil},
		{"5m01s old", good, body, []string{"old-secret"}, now.Add(5*time.Minute + time.Second), ErrSignatureExpired},
		{"from the future", good, body, []string{"old-secret"}, now.Add(-6 * time.Minute), ErrSignatureExpired},
		{"old and forged", good, []byte("x"), []string{"old-secret"}, now.Add(time.Hour), ErrBadSignature},
		{"empty secret never matches", Sign(body, now, ""), body, []string{""}, now, ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.header, tc.body, tc.secrets, tc.now, SignatureTolerance)
			if !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func BenchmarkVerifySignature(b *testing.B) {
	now := time.Now()
	body := make([]byte, 2048)
	h := Sign(body, now, "secret")
	secrets := []string{"secret", "other"}
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifySignature(h, body, secrets, now, SignatureTolerance); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStatusCanMoveTo(t *testing.T) {
	all := []Status{StatusPending, StatusProcessing, StatusFailed, StatusCanceled, StatusSucceeded, StatusRefunded}
	allowed := map[[2]Status]bool{}
	for i, from := range all {
		for _, to := range all[i+1:] {
			allowed[[2]Status{from, to}] = true
		}
	}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanMoveTo(to); got != allowed[[2]Status{from, to}] {
				t.Errorf("%s → %s: got %v", from, to, got)
			}
		}
	}
	if StatusPending.CanMoveTo("bogus") || Status("bogus").CanMoveTo(StatusSucceeded) {
		t.Error("unknown statuses move")
	}
}

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct {
		amount int64
		cur    string
		want   string
	}{{1999, "EUR", "19.99 EUR"}, {5, "USD", "0.05 USD"}, {1500, "JPY", "1500 JPY"}, {1234, "KWD", "1.234 KWD"}} {
		if got := FormatAmount(tc.amount, tc.cur); got != tc.want {
			t.Errorf("%d %s: %q, want %q", tc.amount, tc.cur, got, tc.want)
		}
	}
}
