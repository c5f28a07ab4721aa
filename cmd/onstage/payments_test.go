package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/payments"
)

// TestPaymentsWiring checks the payment routes a node serves with each provider.
func TestPaymentsWiring(t *testing.T) {
	t.Run("sandbox", func(t *testing.T) {
		cfg := testConfig(t, t.TempDir())
		n := startNode(t, cfg)
		iss, err := provideIssuer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, _ := iss.Mint(authn.Identity{UserID: "u-1", Role: authn.RolePlayer, Name: "P"}, time.Minute)
		expect(t, n.do("POST", "/api/v1/payments", "", `{"order_id":"x"}`), 401, "unauthorized")
		// No domain has registered a purpose yet: every subject field is unknown.
		expect(t, n.do("POST", "/api/v1/payments", tok, `{"order_id":"x"}`), 400, "bad_request")
		expect(t, n.do("GET", "/api/v1/payments/nope", tok, nil), 404, "not_found")
		expect(t, n.do("POST", "/api/v1/payments/webhook/sandbox", "", `{}`), 400, "missing_signature")
		req, _ := http.NewRequest("POST", n.base+"/api/v1/payments/webhook/sandbox", strings.NewReader(`{}`))
		req.Header.Set(payments.SandboxSignatureHeader, payments.Sign([]byte(`{}`), time.Now(), "guessed-secret-0123"))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 400 {
			t.Fatalf("forged webhook: %d", res.StatusCode)
		}
		expect(t, n.do("POST", "/api/v1/payments/webhook/stripe", "", `{}`), 404, "unknown_provider")
		r := n.do("GET", "/pay/sbx_unknown", "", nil)
		expect(t, r, 404, "not_found")
		if !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("page CSP %q", r.header.Get("Content-Security-Policy"))
		}
		expect(t, n.do("POST", "/api/v1/payments/sandbox/sbx_unknown/succeed", "", nil), 404, "not_found")
	})
	t.Run("stripe", func(t *testing.T) {
		cfg := testConfig(t, t.TempDir())
		cfg.Payments.Provider = "stripe"
		cfg.Payments.Stripe.SecretKey = "sk_test_x"
		cfg.Payments.Stripe.BaseURL = "http://127.0.0.1:1"
		cfg.Payments.Stripe.WebhookSecret = "whsec_x"
		n := startNode(t, cfg)
		expect(t, n.do("POST", "/api/v1/payments/webhook/stripe", "", `{}`), 400, "missing_signature")
		expect(t, n.do("POST", "/api/v1/payments/webhook/sandbox", "", `{}`), 404, "unknown_provider")
		// The sandbox's page and buttons are not served.
		if r := n.do("GET", "/pay/sbx_x", "", nil); r.status != 404 || strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("sandbox page served: %d", r.status)
		}
		expect(t, n.do("POST", "/api/v1/payments/sandbox/sbx_x/succeed", "", nil), 404, "")
	})
}
