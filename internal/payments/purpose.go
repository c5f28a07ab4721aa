package payments

import (
	"context"

	"gorm.io/gorm"
)

// Purpose is a kind of thing onstage sells (a booking order, an ad). The domain that owns it
// registers it with the Service; payments never imports that domain.
type Purpose struct {
	// Kind names the purpose in the payments table ("order", "ad").
	Kind string
	// Field is the request field of POST /payments that names the subject ("order_id").
	Field string
	// Quote checks that buyerID may pay for subjectID now and returns the price. Its errors
	// reach the client as they are (a domain error such as not_found or conflict).
	Quote func(ctx context.Context, buyerID, subjectID string) (Quote, error)
	// Fulfill runs inside the transaction that moves the payment to succeeded: whatever it
	// writes through tx commits together with the payment's new state, or not at all. An error
	// means the subject can no longer be sold (its hold expired and the slot was re-sold): the
	// payment is then refunded, never fulfilled twice. Fulfill must also refuse a subject that
	// is already fulfilled: a payment that failed or was canceled may still succeed later,
	// after another payment for the same subject did.
	Fulfill func(ctx context.Context, tx *gorm.DB, p *Payment) error
	// Release, if set, runs inside the transaction that moves an open payment to failed or
	// canceled, to give back what the subject held (a slot's hold).
	Release func(ctx context.Context, tx *gorm.DB, p *Payment) error
}

// Quote is the price of one subject.
type Quote struct {
	// Amount is in the currency's minor units; Currency is an ISO 4217 code.
	Amount   int64
	Currency string
	// Description is shown by the provider (on the sandbox page, in Stripe's dashboard).
	Description string
}
