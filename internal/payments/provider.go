package payments

import (
	"context"
	"net/http"
)

// Provider is a payment service provider. Implementations: the sandbox (sandbox.go) and
// Stripe (stripe.go). Every method may be called from several goroutines at once.
type Provider interface {
	// Name is the provider's name in config, in payments.provider and in the webhook URL.
	Name() string
	// CreateIntent asks the provider to collect req.Amount for the payment req.PaymentID.
	CreateIntent(ctx context.Context, req IntentRequest) (Intent, error)
	// Fetch asks the provider where the intent ref stands (for reconciliation).
	Fetch(ctx context.Context, ref string) (Status, error)
	// Cancel abandons an intent that was never paid.
	Cancel(ctx context.Context, ref string) error
	// Refund gives the whole amount of a succeeded intent back.
	Refund(ctx context.Context, ref string) error
	// VerifyWebhook checks a webhook's signature over the raw body and decodes its event.
	// Failures are ErrMissingSignature, ErrBadSignature, ErrSignatureExpired or ErrBadEvent.
	VerifyWebhook(body []byte, header http.Header) (Event, error)
}

// IntentRequest is what a provider is asked to collect.
type IntentRequest struct {
	PaymentID   string
	Amount      int64
	Currency    string
	Description string
}

// Intent is the provider's answer to CreateIntent.
type Intent struct {
	Ref string
	// CheckoutURL is where the buyer pays (the sandbox's page; for Stripe, empty: the client
	// confirms with the client secret).
	CheckoutURL string
	// ClientSecret lets a browser confirm the intent with the provider's own script.
	ClientSecret string
	Status       Status
}

// Event is a verified webhook event in provider-neutral form.
type Event struct {
	// ID is the provider's event id; the inbox records each one once.
	ID string
	// Type is the provider's event type (payment_intent.succeeded, …), kept for the record.
	Type string
	// Ref is the provider's intent id the event is about.
	Ref string
	// Status is what the event says the intent became; empty for events that move nothing.
	Status Status
	// Amount and Currency, when the event carries them, must match the payment's.
	Amount   int64
	Currency string
}
