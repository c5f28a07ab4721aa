package config

import (
	"errors"
	"strings"
	"testing"
)

func TestPaymentsConfig(t *testing.T) {
	for name, e := range map[string]map[string]string{
		"unknown provider":       {"ONSTAGE_PAYMENTS_PROVIDER": "paypal"},
		"stripe without keys":    {"ONSTAGE_PAYMENTS_PROVIDER": "stripe"},
		"stripe without secret":  {"ONSTAGE_PAYMENTS_PROVIDER": "stripe", "ONSTAGE_PAYMENTS_STRIPE_SECRET_KEY": "sk_test_1"},
		"ttl below reconcile":    {"ONSTAGE_PAYMENTS_INTENT_TTL": "1m"},
		"zero rate":              {"ONSTAGE_PAYMENTS_WEBHOOK_RATE_PER_MINUTE": "0"},
		"event retention 6 days": {"ONSTAGE_PAYMENTS_EVENT_RETENTION": "144h"},
		"duplicates over 100":    {"ONSTAGE_PAYMENTS_SANDBOX_DUPLICATE_PERCENT": "101"},
		"short sandbox secret":   {"ONSTAGE_PAYMENTS_SANDBOX_WEBHOOK_SECRET": "short"},
		"zero idempotency ttl":   {"ONSTAGE_IDEMPOTENCY_TTL": "0s"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Load("", env(e)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	cfg, err := Load("", env(map[string]string{
		"ONSTAGE_PAYMENTS_PROVIDER":                       "stripe",
		"ONSTAGE_PAYMENTS_STRIPE_SECRET_KEY":              "sk_test_secretkey",
		"ONSTAGE_PAYMENTS_STRIPE_WEBHOOK_SECRET":          "whsec_current",
		"ONSTAGE_PAYMENTS_STRIPE_PREVIOUS_WEBHOOK_SECRET": "whsec_previous",
		"ONSTAGE_PAYMENTS_STRIPE_BASE_URL":                "http://127.0.0.1:12111",
		"ONSTAGE_PAYMENTS_SANDBOX_WEBHOOK_SECRET":         "sandbox-secret-0123456789",
	}))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Masked()
	all := ""
	for k, v := range m {
		all += k + "=" + v + "\n"
	}
	for _, secret := range []string{"sk_test_secretkey", "whsec_current", "whsec_previous", "sandbox-secret"} {
		if strings.Contains(all, secret) {
			t.Fatalf("secret %q leaked:\n%s", secret, all)
		}
	}
	if m["payments.stripe.base_url"] != "http://127.0.0.1:12111" || m["payments.provider"] != "stripe" {
		t.Fatalf("masked too much: %v", m)
	}
}
