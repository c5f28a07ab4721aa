// Package payments is onstage's payment platform: payment intents through a Provider (a local
// sandbox by default, Stripe by configuration), one webhook inbox that verifies signatures,
// deduplicates events and moves a payment's state only forward, and a registry of purposes
// through which the domains that sell something (booking, ads) price their subjects and fulfil
// them inside the same transaction that marks the payment succeeded.
//
// Model, store, service, providers and the HTTP handler live side by side here.
package payments

import (
	"time"
)

// Status is where a payment stands. Statuses are totally ordered by rank and a payment only
// ever moves to a higher rank, so any set of provider events, in any order and repeated any
// number of times, leaves a payment in the same state: the highest one reported.
type Status string

// The statuses, lowest rank first.
const (
	StatusPending    Status = "pending"    // intent created, the buyer has not paid yet
	StatusProcessing Status = "processing" // the provider is working on it
	StatusFailed     Status = "failed"     // declined or failed; a later success still counts
	StatusCanceled   Status = "canceled"   // abandoned or canceled at the provider
	StatusSucceeded  Status = "succeeded"  // paid and fulfilled
	StatusRefunded   Status = "refunded"   // paid, then given back (fulfilment refused or by request)
)

var rank = map[Status]int{
	StatusPending: 0, StatusProcessing: 1, StatusFailed: 2, StatusCanceled: 3, StatusSucceeded: 4, StatusRefunded: 5,
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { _, ok := rank[s]; return ok }

// CanMoveTo reports whether a payment in s may move to next: only to a higher rank. A refund
// reported for a payment not yet known as paid still wins, so that the final state does not
// depend on the order the provider's events arrive in.
func (s Status) CanMoveTo(next Status) bool {
	from, ok1 := rank[s]
	to, ok2 := rank[next]
	return ok1 && ok2 && to > from
}

// Open reports whether the payment may still be paid (no final answer yet).
func (s Status) Open() bool { return s == StatusPending || s == StatusProcessing }

// Payment is one attempt to pay for one subject (an order, an ad) of a purpose kind.
type Payment struct {
	ID string `gorm:"primaryKey"`
	// Kind names the purpose ("order", "ad"); SubjectID is the thing paid for.
	Kind      string
	SubjectID string
	// BuyerID is the user who pays; only they see the payment.
	BuyerID string
	// Amount is in the currency's minor units; Currency is an upper-case ISO 4217 code.
	Amount   int64
	Currency string
	Provider string
	// ProviderRef is the provider's id of the intent (a Stripe PaymentIntent id, a sandbox ref).
	ProviderRef *string
	CheckoutURL string
	// ClientSecret is the provider's secret for confirming the intent in the buyer's browser
	// (Stripe.js); it is handed out when the intent is created and never stored.
	ClientSecret string `gorm:"-"`
	Status       Status
	// ActiveKey is kind:subject while the payment is open or succeeded and NULL otherwise; a
	// unique index on it lets at most one live payment exist per subject.
	ActiveKey *string
	// RefundReason is set when a success could not be fulfilled and the money is owed back;
	// the reconciler retries the refund until the provider takes it.
	RefundReason string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// SettledAt is when the payment reached succeeded, failed, canceled or refunded.
	SettledAt *time.Time
}

// TableName is the payments table.
func (Payment) TableName() string { return "payments" }

// View is a payment as the API shows it.
type View struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	SubjectID   string `json:"subject_id"`
	Status      Status `json:"status"`
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
	Provider    string `json:"provider"`
	CheckoutURL string `json:"checkout_url"`
	// ClientSecret is only in the answer that creates the payment.
	ClientSecret string    `json:"client_secret,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// View returns p as the API shows it.
func (p *Payment) View() View {
	return View{ID: p.ID, Kind: p.Kind, SubjectID: p.SubjectID, Status: p.Status, Amount: p.Amount,
		Currency: p.Currency, Provider: p.Provider, CheckoutURL: p.CheckoutURL, ClientSecret: p.ClientSecret,
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC()}
}

// inboxEvent is a row of payment_events: one provider event, recorded once. The unique index on
// (provider, event_id) is what makes a replayed webhook a no-op.
type inboxEvent struct {
	ID         int64 `gorm:"primaryKey;autoIncrement"`
	Provider   string
	EventID    string
	PaymentID  string
	Type       string
	Status     Status
	Applied    bool
	ReceivedAt time.Time
	Payload    []byte
}

func (inboxEvent) TableName() string { return "payment_events" }
