package payments

import (
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
)

// Migrations returns the payments schema steps. Each step describes its tables with its own
// frozen types, never with the live models.
func Migrations() []db.Migration {
	return []db.Migration{
		{ID: "0020_payments", Up: func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&paymentV1{}) }},
		{ID: "0020_payments_events", Up: func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&inboxEventV1{}) }},
		{ID: "0020_payments_sandbox", Up: func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&sandboxIntentV1{}) }},
	}
}

type paymentV1 struct {
	ID           string     `gorm:"primaryKey;size:36"`
	Kind         string     `gorm:"size:32;not null;index:idx_payments_subject,priority:1"`
	SubjectID    string     `gorm:"size:64;not null;index:idx_payments_subject,priority:2"`
	BuyerID      string     `gorm:"size:36;not null;index:idx_payments_buyer"`
	Amount       int64      `gorm:"not null"`
	Currency     string     `gorm:"size:3;not null"`
	Provider     string     `gorm:"size:16;not null;uniqueIndex:idx_payments_provider_ref,priority:1"`
	ProviderRef  *string    `gorm:"size:255;uniqueIndex:idx_payments_provider_ref,priority:2"`
	CheckoutURL  string     `gorm:"size:1024;not null"`
	Status       string     `gorm:"size:16;not null;index:idx_payments_status_updated,priority:1"`
	ActiveKey    *string    `gorm:"size:100;uniqueIndex:idx_payments_active_key"`
	RefundReason string     `gorm:"size:255;not null"`
	CreatedAt    time.Time  `gorm:"not null"`
	UpdatedAt    time.Time  `gorm:"not null;index:idx_payments_status_updated,priority:2"`
	SettledAt    *time.Time ``
}

func (paymentV1) TableName() string { return "payments" }

type inboxEventV1 struct {
	ID         int64     `gorm:"primaryKey;autoIncrement"`
	Provider   string    `gorm:"size:16;not null;uniqueIndex:idx_payment_events_event,priority:1"`
	EventID    string    `gorm:"size:255;not null;uniqueIndex:idx_payment_events_event,priority:2"`
	PaymentID  string    `gorm:"size:36;not null;index:idx_payment_events_payment"`
	Type       string    `gorm:"size:64;not null"`
	Status     string    `gorm:"size:16;not null"`
	Applied    bool      `gorm:"not null"`
	ReceivedAt time.Time `gorm:"not null"`
	Payload    []byte    ``
}

func (inboxEventV1) TableName() string { return "payment_events" }

type sandboxIntentV1 struct {
	Ref       string    `gorm:"primaryKey;size:64"`
	PaymentID string    `gorm:"size:36;not null"`
	Amount    int64     `gorm:"not null"`
	Currency  string    `gorm:"size:3;not null"`
	Status    string    `gorm:"size:16;not null"`
	Refunded  bool      `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (sandboxIntentV1) TableName() string { return "payment_sandbox_intents" }
