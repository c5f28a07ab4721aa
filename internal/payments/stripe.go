package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"
)

// StripeName is the Stripe provider's name.
const StripeName = "stripe"

// StripeSignatureHeader carries Stripe's webhook signature.
const StripeSignatureHeader = "Stripe-Signature"

// Stripe is the provider over Stripe's API (stripe-go). Its base URL is configurable, so that
// tests (and a local mock) can play Stripe without any outside network.
type Stripe struct {
	client  *stripe.Client
	secrets []string
	now     func() time.Time
}

// StripeParams configure the Stripe provider.
type StripeParams struct {
	// SecretKey is the API key (sk_…).
	SecretKey string
	// BaseURL replaces https://api.stripe.com when set.
	BaseURL string
	// WebhookSecrets are the endpoint's signing secrets (whsec_…); two while one is rotated.
	WebhookSecrets []string
	HTTPClient     *http.Client
	Now            func() time.Time
}

// NewStripe returns the Stripe provider.
func NewStripe(p StripeParams) (*Stripe, error) {
	var secrets []string
	for _, s := range p.WebhookSecrets {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	if p.SecretKey == "" || len(secrets) == 0 {
		return nil, errors.New("payments: stripe needs payments.stripe.secret_key and at least one webhook secret")
	}
	hc := p.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	cfg := &stripe.BackendConfig{HTTPClient: hc, LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: stripe.Int64(2)}
	if p.BaseURL != "" {
		cfg.URL = stripe.String(strings.TrimRight(p.BaseURL, "/"))
	}
	s := &Stripe{client: stripe.NewClient(p.SecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(cfg))),
		secrets: secrets, now: p.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Name implements Provider.
func (s *Stripe) Name() string { return StripeName }

// intentStatus maps a PaymentIntent's status to a payment's.
func intentStatus(st stripe.PaymentIntentStatus) Status {
	switch st {
	case stripe.PaymentIntentStatusSucceeded:
		return StatusSucceeded
	case stripe.PaymentIntentStatusProcessing, stripe.PaymentIntentStatusRequiresCapture:
		return StatusProcessing
	case stripe.PaymentIntentStatusCanceled:
		return StatusCanceled
	}
	return StatusPending // requires_payment_method, requires_confirmation, requires_action
}

// CreateIntent implements Provider. The payment id is the idempotency key, so a retried call
// never creates a second intent.
func (s *Stripe) CreateIntent(ctx context.Context, req IntentRequest) (Intent, error) {
	params := &stripe.PaymentIntentCreateParams{
		Amount:                  stripe.Int64(req.Amount),
		Currency:                stripe.String(strings.ToLower(req.Currency)),
		Description:             stripe.String(req.Description),
		AutomaticPaymentMethods: &stripe.PaymentIntentCreateAutomaticPaymentMethodsParams{Enabled: stripe.Bool(true)},
		Metadata:                map[string]string{"payment_id": req.PaymentID},
	}
	params.SetIdempotencyKey("onstage-intent-" + req.PaymentID)
	pi, err := s.client.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		return Intent{}, fmt.Errorf("stripe: create intent: %w", err)
	}
	return Intent{Ref: pi.ID, ClientSecret: pi.ClientSecret, Status: intentStatus(pi.Status)}, nil
}

// Fetch implements Provider.
func (s *Stripe) Fetch(ctx context.Context, ref string) (Status, error) {
	pi, err := s.client.V1PaymentIntents.Retrieve(ctx, ref, nil)
	if err != nil {
		return "", fmt.Errorf("stripe: retrieve intent: %w", err)
	}
	return intentStatus(pi.Status), nil
}

// Cancel implements Provider. An intent that already has its answer keeps it.
func (s *Stripe) Cancel(ctx context.Context, ref string) error {
	_, err := s.client.V1PaymentIntents.Cancel(ctx, ref, nil)
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodePaymentIntentUnexpectedState {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stripe: cancel intent: %w", err)
	}
	return nil
}

// Refund implements Provider; the idempotency key makes a retried refund a no-op.
func (s *Stripe) Refund(ctx context.Context, ref string) error {
	params := &stripe.RefundCreateParams{PaymentIntent: stripe.String(ref)}
	params.SetIdempotencyKey("onstage-refund-" + ref)
	_, err := s.client.V1Refunds.Create(ctx, params)
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodeChargeAlreadyRefunded {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stripe: refund: %w", err)
	}
	return nil
}

// stripeEvent is the part of a Stripe event this service reads.
type stripeEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		Object struct {
			ID            string `json:"id"`
			Object        string `json:"object"`
			Amount        int64  `json:"amount"`
			Currency      string `json:"currency"`
			PaymentIntent string `json:"payment_intent"`
			Refunded      bool   `json:"refunded"`
		} `json:"object"`
	} `json:"data"`
}

// VerifyWebhook implements Provider: Stripe's "t=…,v1=…" scheme over the raw body.
func (s *Stripe) VerifyWebhook(body []byte, header http.Header) (Event, error) {
	if err := VerifySignature(header.Get(StripeSignatureHeader), body, s.secrets, s.now(), SignatureTolerance); err != nil {
		return Event{}, err
	}
	var ev stripeEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.Type == "" {
		return Event{}, ErrBadEvent
	}
	obj := ev.Data.Object
	out := Event{ID: ev.ID, Type: ev.Type, Ref: obj.ID, Amount: obj.Amount, Currency: strings.ToUpper(obj.Currency)}
	switch ev.Type {
	case "payment_intent.succeeded":
		out.Status = StatusSucceeded
	case "payment_intent.processing":
		out.Status = StatusProcessing
	case "payment_intent.payment_failed":
		out.Status = StatusFailed
	case "payment_intent.canceled":
		out.Status = StatusCanceled
	case "charge.refunded":
		// A charge's event names its intent; only a full refund refunds the payment.
		out.Ref = obj.PaymentIntent
		if obj.Refunded {
			out.Status = StatusRefunded
		}
	}
	if out.Ref == "" {
		// Events about nothing of ours are recorded and otherwise ignored.
		out.Ref = "-"
	}
	return out, nil
}
