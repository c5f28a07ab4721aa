package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
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
		// A field no purpose registered is refused; booking registered order_id.
		expect(t, n.do("POST", "/api/v1/payments", tok, `{"ticket_id":"x"}`), 400, "bad_request")
		expect(t, n.do("POST", "/api/v1/payments", tok, `{"order_id":"x"}`), 404, "order_not_found")
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

// TestSandboxPaymentOnANode runs a payment through a real node: the intent, the Idempotency-Key
// replay, the checkout page, the Pay button and the sandbox's webhooks delivered over HTTP to
// the node's own public URL, each twice.
func TestSandboxPaymentOnANode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig(t, t.TempDir())
	cfg.HTTP.Addr, cfg.HTTP.PublicURL = addr, "http://"+addr
	cfg.Payments.Sandbox.DuplicatePercent = 100
	n := startNode(t, cfg)

	var fulfilled atomic.Int64
	err = n.app.Payments.Register(payments.Purpose{Kind: "ticket", Field: "ticket_id",
		Quote: func(_ context.Context, buyer, id string) (payments.Quote, error) {
			if id != "t1" || buyer != "u-1" {
				return payments.Quote{}, apperr.ErrNotFound
			}
			return payments.Quote{Amount: 1500, Currency: "EUR", Description: "a ticket"}, nil
		},
		Fulfill: func(context.Context, *gorm.DB, *payments.Payment) error { fulfilled.Add(1); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := provideIssuer(cfg)
	tok, _, _ := iss.Mint(authn.Identity{UserID: "u-1", Role: authn.RolePlayer, Name: "P"}, time.Hour)
	post := func(key, body string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest("POST", n.base+"/api/v1/payments", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Idempotency-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out, res.Header
	}
	st, first, _ := post("k1", `{"ticket_id":"t1"}`)
	if st != 201 || first["checkout_url"] == "" {
		t.Fatalf("create: %d %v", st, first)
	}
	st, again, h := post("k1", `{"ticket_id":"t1"}`)
	if st != 201 || again["id"] != first["id"] || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v %v", st, again, h)
	}
	if st, body, _ := post("k1", `{"ticket_id":"t2"}`); st != 422 || body["error"].(map[string]any)["code"] != "idempotency_key_reused" {
		t.Fatalf("reuse: %d %v", st, body)
	}

	checkout := first["checkout_url"].(string)
	if !strings.HasPrefix(checkout, n.base+"/pay/") {
		t.Fatalf("checkout_url %s", checkout)
	}
	res, err := http.Get(checkout)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("page: %d", res.StatusCode)
	}
	ref := strings.TrimPrefix(checkout, n.base+"/pay/")
	res, err = http.PostForm(n.base+"/api/v1/payments/sandbox/"+ref+"/succeed", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 { // the redirect back to the page, followed
		t.Fatalf("pay: %d", res.StatusCode)
	}
	id := first["id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := n.do("GET", "/api/v1/payments/"+id, tok, nil)
		if r.body["status"] == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment %s", r.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let the duplicate deliveries land
	if fulfilled.Load() != 1 {
		t.Fatalf("fulfilled %d times", fulfilled.Load())
	}
}
