package cards

import (
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
)

// Migrations returns the card-key domain's schema steps. Each step describes its tables with
// types frozen here, never with the live models.
func Migrations() []db.Migration {
	return []db.Migration{{ID: "0130_cards", Up: func(tx *gorm.DB) error {
		return tx.Migrator().CreateTable(&v1Project{}, &v1Grant{}, &v1Application{}, &v1Account{}, &v1Transfer{},
			&v1Entry{}, &v1Batch{}, &v1Key{}, &v1Unbind{}, &v1Verification{}, &v1Delivery{})
	}}}
}

type v1Project struct {
	ID             string     `gorm:"primaryKey;size:36"`
	Name           string     `gorm:"size:100;not null"`
	Description    string     `gorm:"type:text;not null"`
	UnitPrice      int64      `gorm:"not null"`
	CallbackURL    string     `gorm:"size:500;not null"`
	APIKey         string     `gorm:"size:64;not null;uniqueIndex:ux_cards_projects_api_key"`
	SecretEnc      string     `gorm:"type:text;not null"`
	PrevSecretEnc  string     `gorm:"type:text;not null"`
	PrevValidUntil *time.Time ``
	SigningKeyEnc  string     `gorm:"type:text;not null"`
	Disabled       bool       `gorm:"not null"`
	CreatedBy      string     `gorm:"size:64;not null"`
	CreatedAt      time.Time  `gorm:"not null"`
	UpdatedAt      time.Time  `gorm:"not null"`
}

func (v1Project) TableName() string { return "cards_projects" }

type v1Grant struct {
	ID        string    `gorm:"primaryKey;size:36"`
	ProjectID string    `gorm:"size:36;not null;uniqueIndex:ux_cards_grants,priority:1"`
	AgentID   string    `gorm:"size:64;not null;uniqueIndex:ux_cards_grants,priority:2"`
	GrantedBy string    `gorm:"size:64;not null"`
	ExpiresAt time.Time `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (v1Grant) TableName() string { return "cards_grants" }

type v1Application struct {
	ID        string     `gorm:"primaryKey;size:36"`
	ProjectID string     `gorm:"size:36;not null"`
	AgentID   string     `gorm:"size:64;not null;index:ix_cards_applications_agent"`
	Reason    string     `gorm:"type:text;not null"`
	Status    string     `gorm:"size:16;not null"`
	DecidedBy string     `gorm:"size:64;not null"`
	DecidedAt *time.Time ``
	ExpiresAt *time.Time ``
	CreatedAt time.Time  `gorm:"not null"`
	UpdatedAt time.Time  `gorm:"not null"`
}

func (v1Application) TableName() string { return "cards_applications" }

type v1Account struct {
	ID        string    `gorm:"primaryKey;size:80"`
	UserID    string    `gorm:"size:64;not null;index:ix_cards_accounts_user"`
	Kind      string    `gorm:"size:16;not null"`
	Balance   int64     `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (v1Account) TableName() string { return "cards_accounts" }

type v1Transfer struct {
	ID           string    `gorm:"primaryKey;size:36"`
	Type         string    `gorm:"size:16;not null;index:ix_cards_transfers_type_day,priority:1"`
	Status       string    `gorm:"size:16;not null"`
	Amount       int64     `gorm:"not null"`
	DebitUserID  string    `gorm:"size:64;not null;index:ix_cards_transfers_debit"`
	CreditUserID string    `gorm:"size:64;not null;index:ix_cards_transfers_credit"`
	ActorID      string    `gorm:"size:64;not null"`
	ApproverID   string    `gorm:"size:64;not null"`
	Ref          string    `gorm:"size:200;not null"`
	CreatedAt    time.Time `gorm:"not null;index:ix_cards_transfers_type_day,priority:2"`
	UpdatedAt    time.Time `gorm:"not null"`
}

func (v1Transfer) TableName() string { return "cards_transfers" }

type v1Entry struct {
	ID         int64     `gorm:"primaryKey;autoIncrement"`
	TransferID string    `gorm:"size:36;not null;index:ix_cards_entries_transfer"`
	AccountID  string    `gorm:"size:80;not null;index:ix_cards_entries_account"`
	Amount     int64     `gorm:"not null"`
	Pending    bool      `gorm:"not null"`
	Phase      string    `gorm:"size:16;not null"`
	CreatedAt  time.Time `gorm:"not null"`
}

func (v1Entry) TableName() string { return "cards_entries" }

type v1Batch struct {
	ID         string    `gorm:"primaryKey;size:36"`
	ProjectID  string    `gorm:"size:36;not null;index:ix_cards_batches_project"`
	OwnerID    string    `gorm:"size:64;not null;index:ix_cards_batches_owner"`
	Count      int       `gorm:"not null"`
	ValidDays  int       `gorm:"not null"`
	Cost       int64     `gorm:"not null"`
	TransferID string    `gorm:"size:36;not null"`
	CreatedAt  time.Time `gorm:"not null"`
}

func (v1Batch) TableName() string { return "cards_batches" }

type v1Key struct {
	ID          string     `gorm:"primaryKey;size:36"`
	CardKey     string     `gorm:"size:32;not null;uniqueIndex:ux_cards_keys_key"`
	ProjectID   string     `gorm:"size:36;not null;index:ix_cards_keys_project_status,priority:1"`
	BatchID     string     `gorm:"size:36;not null;index:ix_cards_keys_batch"`
	OwnerID     string     `gorm:"size:64;not null;index:ix_cards_keys_owner"`
	Status      string     `gorm:"size:16;not null;index:ix_cards_keys_project_status,priority:2"`
	ValidDays   int        `gorm:"not null"`
	DeviceID    *string    `gorm:"size:128"`
	ActivatedAt *time.Time ``
	ExpiresAt   *time.Time ``
	CreatedAt   time.Time  `gorm:"not null"`
	UpdatedAt   time.Time  `gorm:"not null"`
}

func (v1Key) TableName() string { return "cards_keys" }

type v1Unbind struct {
	ID        int64     `gorm:"primaryKey;autoIncrement"`
	KeyID     string    `gorm:"size:36;not null;index:ix_cards_unbinds_key"`
	DeviceID  string    `gorm:"size:128;not null"`
	ActorID   string    `gorm:"size:64;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

func (v1Unbind) TableName() string { return "cards_unbinds" }

type v1Verification struct {
	ID        int64     `gorm:"primaryKey;autoIncrement"`
	ProjectID string    `gorm:"size:36;not null;index:ix_cards_verifications_project"`
	KeyID     string    `gorm:"size:36;not null"`
	DeviceID  string    `gorm:"size:128;not null"`
	Action    string    `gorm:"size:16;not null"`
	Code      string    `gorm:"size:32;not null"`
	IP        string    `gorm:"size:64;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

func (v1Verification) TableName() string { return "cards_verifications" }

type v1Delivery struct {
	ID          string     `gorm:"primaryKey;size:36"`
	ProjectID   string     `gorm:"size:36;not null;index:ix_cards_deliveries_project"`
	Event       string     `gorm:"size:32;not null"`
	Payload     string     `gorm:"type:text;not null"`
	Status      string     `gorm:"size:16;not null;index:ix_cards_deliveries_status"`
	Attempts    int        `gorm:"not null"`
	LastStatus  int        `gorm:"not null"`
	LastError   string     `gorm:"size:500;not null"`
	NextAt      time.Time  `gorm:"not null"`
	DeliveredAt *time.Time ``
	CreatedAt   time.Time  `gorm:"not null"`
	UpdatedAt   time.Time  `gorm:"not null"`
}

func (v1Delivery) TableName() string { return "cards_deliveries" }
