package payments

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/onstagehq/onstage/internal/db/dbtest"
)

// fakeStripe speaks the part of Stripe's API the provider uses, on a local listener, and
// signs webhooks with Stripe's own scheme (stripe-go's webhook.ComputeSignature).
type fakeStripe struct {
	t       *testing.T
	url     string
	mu      sync.Mutex
	intents map[string]map[string]any
	byKey   map[string]string // Idempotency-Key → intent id
	refunds map[string]int    // intent id → refund calls that created a refund
	n       int
}

const stripeKey = "sk_test_onstage"

func newFakeStripe(t *testing.T) *fakeStripe {
	f := &fakeStripe{t: t, intents: map[string]map[string]any{}, byKey: map[string]string{}, refunds: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func stripeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": "invalid_request_error", "code": code, "message": msg}})
}

func (f *fakeStripe) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+stripeKey {
		stripeError(w, 401, "", "Invalid API Key provided")
		return
	}
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == "POST" && r.URL.Path == "/v1/payment_intents":
		if id, ok := f.byKey[r.Header.Get("Idempotency-Key")]; ok {
			reply(f.intents[id])
			return
		}
		amount, _ := strconv.ParseInt(r.PostForm.Get("amount"), 10, 64)
		if amount <= 0 || r.PostForm.Get("currency") == "" || r.PostForm.Get("automatic_payment_methods[enabled]") != "true" {
			stripeError(w, 400, "parameter_missing", "amount, currency and automatic_payment_methods are required")
			return
		}
		f.n++
		id := fmt.Sprintf("pi_%d", f.n)
		pi := map[string]any{"id": id, "object": "payment_intent", "amount": amount, "currency": r.PostForm.Get("currency"),
			"status": "requires_payment_method", "client_secret": id + "_secret_x",
			"metadata": map[string]string{"payment_id": r.PostForm.Get("metadata[payment_id]")}}
		f.intents[id] = pi
		f.byKey[r.Header.Get("Idempotency-Key")] = id
		reply(pi)
	case len(parts) == 3 && parts[1] == "payment_intents" && r.Method == "GET":
		pi, ok := f.intents[parts[2]]
		if !ok {
			stripeError(w, 404, "resource_missing", "No such payment_intent")
			return
		}
		reply(pi)
	case len(parts) == 4 && parts[1] == "payment_intents" && parts[3] == "cancel":
		pi, ok := f.intents[parts[2]]
		if !ok {
			stripeError(w, 404, "resource_missing", "No such payment_intent")
			return
		}
		if st := pi["status"]; st == "succeeded" || st == "canceled" {
			stripeError(w, 400, "payment_intent_unexpected_state", "cannot cancel")
			return
		}
		pi["status"] = "canceled"
		reply(pi)
	case r.Method == "POST" && r.URL.Path == "/v1/refunds":
		id := r.PostForm.Get("payment_intent")
		pi, ok := f.intents[id]
		if !ok || pi["status"] != "succeeded" {
			stripeError(w, 400, "resource_missing", "nothing to refund")
			return
		}
		if f.refunds[id] > 0 {
			stripeError(w, 400, "charge_already_refunded", "already refunded")
			return
		}
		f.refunds[id]++
		reply(map[string]any{"id": "re_" + id, "object": "refund", "status": "succeeded", "payment_intent": id})
	default:
		stripeError(w, 404, "", "unknown route "+r.Method+" "+r.URL.Path)
	}
}

func (f *fakeStripe) setStatus(id, st string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intents[id]["status"] = st
}

// event returns a Stripe event about intent id, signed at t with secret as Stripe signs.
func (f *fakeStripe) event(evID, typ, id string, t time.Time, secret string) ([]byte, http.Header) {
	f.mu.Lock()
	pi := f.intents[id]
	f.mu.Unlock()
	obj := map[string]any{"id": id, "object": "payment_intent", "amount": pi["amount"], "currency": pi["currency"]}
	if strings.HasPrefix(typ, "charge.") {
		obj = map[string]any{"id": "ch_" + id, "object": "charge", "amount": pi["amount"], "currency": pi["currency"],
			"payment_intent": id, "refunded": true}
	}
	body, _ := json.Marshal(map[string]any{"id": evID, "object": "event", "type": typ, "created": t.Unix(),
		"data": map[string]any{"object": obj}})
	sig := webhook.ComputeSignature(t, body, secret)
	h := http.Header{}
	h.Set(StripeSignatureHeader, fmt.Sprintf("t=%d,v1=%x", t.Unix(), sig))
	return body, h
}

func newStripeEnv(t *testing.T, gdb *gorm.DB, f *fakeStripe, secrets ...string) *env {
	t.Helper()
	e := newEnv(t, gdb, "")
	st, err := NewStripe(StripeParams{SecretKey: stripeKey, BaseURL: f.url, WebhookSecrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.providers[StripeName] = st
	e.svc.provider = st
	return e
}

func TestStripeFlow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		f := newFakeStripe(t)
		// Rotation: the new secret first, the old one still accepted.
		e := newStripeEnv(t, gdb, f, "whsec_new", "whsec_old")
		ctx := context.Background()
		e.widget("w1", "ann", 4200)
		p := e.pay("ann", "w1")
		if p.Provider != StripeName || p.ProviderRef == nil || p.ClientSecret == "" {
			t.Fatalf("payment %+v", p)
		}
		ref := *p.ProviderRef
		if f.intents[ref]["amount"] != int64(4200) || f.intents[ref]["currency"] != "eur" {
			t.Fatalf("intent %v", f.intents[ref])
		}

		// An old processing event signed with the old secret, then the success with the new.
		f.setStatus(ref, "succeeded")
		body, h := f.event("evt_1", "payment_intent.succeeded", ref, time.Now(), "whsec_new")
		if res, err := e.svc.HandleWebhook(ctx, StripeName, body, h); err != nil || res != ResultApplied {
			t.Fatal(res, err)
		}
		body, h = f.event("evt_0", "payment_intent.processing", ref, time.Now(), "whsec_old")
		if res, err := e.svc.HandleWebhook(ctx, StripeName, body, h); err != nil || res != ResultUnchanged {
			t.Fatal(res, err)
		}
		if e.reload(p.ID).Status != StatusSucceeded || e.w.fulfilled.Load() != 1 {
			t.Fatal("not paid once")
		}
		// A retired secret, a stale timestamp.
		body, h = f.event("evt_2", "payment_intent.succeeded", ref, time.Now(), "whsec_retired")
		if _, err := e.svc.HandleWebhook(ctx, StripeName, body, h); err != ErrBadSignature {
			t.Fatalf("retired secret: %v", err)
		}
		body, h = f.event("evt_2", "payment_intent.succeeded", ref, time.Now().Add(-10*time.Minute), "whsec_new")
		if _, err := e.svc.HandleWebhook(ctx, StripeName, body, h); err != ErrSignatureExpired {
			t.Fatalf("stale: %v", err)
		}
		// Events about other things are accepted and ignored.
		body, _ = json.Marshal(map[string]any{"id": "evt_x", "type": "customer.created", "data": map[string]any{"object": map[string]any{"id": "cus_1"}}})
		h = http.Header{}
		h.Set(StripeSignatureHeader, Sign(body, time.Now(), "whsec_new"))
		if res, err := e.svc.HandleWebhook(ctx, StripeName, body, h); err != nil || res != ResultIgnored {
			t.Fatal(res, err)
		}
	}, migs()...)
}

func TestStripeRefundsARefusedSuccess(t *testing.T) {
	gdb := dbtest.Open(t, migs()...)
	f := newFakeStripe(t)
	e := newStripeEnv(t, gdb, f, "whsec_1")
	e.widget("w1", "ann", 900)
	p := e.pay("ann", "w1")
	ref := *p.ProviderRef
	gdb.Model(&widget{}).Where("id = ?", "w1").Update("gone", true)
	f.setStatus(ref, "succeeded")
	body, h := f.event("evt_1", "payment_intent.succeeded", ref, time.Now(), "whsec_1")
	if res, err := e.svc.HandleWebhook(context.Background(), StripeName, body, h); err != nil || res != ResultRefunded {
		t.Fatal(res, err)
	}
	if f.refunds[ref] != 1 || e.reload(p.ID).Status != StatusRefunded {
		t.Fatalf("refunds %v, status %s", f.refunds, e.reload(p.ID).Status)
	}
	// Stripe's own charge.refunded event that follows changes nothing.
	body, h = f.event("evt_2", "charge.refunded", ref, time.Now(), "whsec_1")
	if res, err := e.svc.HandleWebhook(context.Background(), StripeName, body, h); err != nil || res != ResultUnchanged {
		t.Fatal(res, err)
	}
	// A second refund is a no-op at the provider.
	if err := e.svc.providers[StripeName].Refund(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
}

func TestStripeReconcile(t *testing.T) {
	gdb := dbtest.Open(t, migs()...)
	f := newFakeStripe(t)
	e := newStripeEnv(t, gdb, f, "whsec_1")
	ctx := context.Background()
	e.widget("paid", "ann", 100)
	e.widget("left", "ann", 100)
	paid, left := e.pay("ann", "paid"), e.pay("ann", "left")
	f.setStatus(*paid.ProviderRef, "succeeded")
	e.clk.Advance(2 * time.Hour)
	if n, err := e.svc.Reconcile(ctx); err != nil || n != 2 {
		t.Fatal(n, err)
	}
	if e.reload(paid.ID).Status != StatusSucceeded || e.reload(left.ID).Status != StatusCanceled {
		t.Fatal("not reconciled")
	}
	if f.intents[*left.ProviderRef]["status"] != "canceled" {
		t.Fatal("the abandoned intent was not canceled at Stripe")
	}
}

func TestStripeNeedsSecrets(t *testing.T) {
	if _, err := NewStripe(StripeParams{SecretKey: "sk"}); err == nil {
		t.Fatal("no webhook secret accepted")
	}
	if _, err := NewStripe(StripeParams{WebhookSecrets: []string{"whsec"}}); err == nil {
		t.Fatal("no key accepted")
	}
}

// TestSignMatchesStripe checks the scheme the sandbox signs with against stripe-go's verifier.
func TestSignMatchesStripe(t *testing.T) {
	body := []byte(`{"id":"evt_1","object":"event","api_version":"` + "2025-08-27.basil" + `"}`)
	h := Sign(body, time.Now(), "whsec_x")
	if err := webhook.ValidatePayload(body, h, "whsec_x"); err != nil {
		t.Fatal(err)
	}
}
