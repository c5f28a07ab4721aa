// Package cards is the card-key domain: projects (the software or sessions sold), grants of
// projects to agents, a double-entry quota ledger, batch generation of keys, the signed
// verify API client software calls (with device binding), activation callbacks, and the gate
// that card-gated meetings ask. Model, store, service and handler live side by side here.
package cards

import "time"

// Project is something sold with card keys. Its secret and Ed25519 seed are stored sealed.
type Project struct {
	ID             string     `gorm:"primaryKey" json:"id"`
	Name           string     `json:"name"`
	Description    string     `json:"description"`
	UnitPrice      int64      `json:"unit_price"`
	CallbackURL    string     `json:"callback_url"`
	APIKey         string     `json:"api_key"`
	SecretEnc      string     `json:"-"`
	PrevSecretEnc  string     `json:"-"`
	PrevValidUntil *time.Time `json:"-"`
	SigningKeyEnc  string     `json:"-"`
	Disabled       bool       `json:"disabled"`
	CreatedBy      string     `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

func (Project) TableName() string { return "cards_projects" }

// Grant lets an agent generate keys of a project until ExpiresAt.
type Grant struct {
	ID        string    `gorm:"primaryKey" json:"id"`
	ProjectID string    `json:"project_id"`
	AgentID   string    `json:"agent_id"`
	GrantedBy string    `json:"granted_by"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (Grant) TableName() string { return "cards_grants" }

// Application is an agent asking its superior for a project.
type Application struct {
	ID        string     `gorm:"primaryKey" json:"id"`
	ProjectID string     `json:"project_id"`
	AgentID   string     `json:"agent_id"`
	Reason    string     `json:"reason"`
	Status    string     `json:"status"`
	DecidedBy string     `json:"decided_by"`
	DecidedAt *time.Time `json:"decided_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

func (Application) TableName() string { return "cards_applications" }

// Batch is one generation of keys and the ledger transfer that paid for it.
type Batch struct {
	ID         string    `gorm:"primaryKey" json:"id"`
	ProjectID  string    `json:"project_id"`
	OwnerID    string    `json:"owner_id"`
	Count      int       `json:"count"`
	ValidDays  int       `json:"valid_days"`
	Cost       int64     `json:"cost"`
	TransferID string    `json:"transfer_id"`
	CreatedAt  time.Time `json:"created_at"`
}

func (Batch) TableName() string { return "cards_batches" }

// The stored statuses of a key; "expired" is derived (active and past ExpiresAt).
const (
	KeyUnused   = "unused"
	KeyActive   = "active"
	KeyExpired  = "expired"
	KeyDisabled = "disabled"
)

// Key is one card key. ExpiresAt is set at first use (activation + ValidDays).
type Key struct {
	ID          string     `gorm:"primaryKey" json:"id"`
	Key         string     `gorm:"column:card_key" json:"key"`
	ProjectID   string     `json:"project_id"`
	BatchID     string     `json:"batch_id"`
	OwnerID     string     `json:"owner_id"`
	Status      string     `json:"status"`
	ValidDays   int        `json:"valid_days"`
	DeviceID    *string    `json:"device_id"`
	ActivatedAt *time.Time `json:"activated_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func (Key) TableName() string { return "cards_keys" }

// status is the key's status at now, with "expired" derived.
func (k *Key) status(now time.Time) string {
	if k.Status == KeyActive && k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return KeyExpired
	}
	return k.Status
}

type unbindRow struct {
	ID        int64 `gorm:"primaryKey"`
	KeyID     string
	DeviceID  string
	ActorID   string
	CreatedAt time.Time
}

func (unbindRow) TableName() string { return "cards_unbinds" }

type verificationRow struct {
	ID        int64 `gorm:"primaryKey"`
	ProjectID string
	KeyID     string
	DeviceID  string
	Action    string
	Code      string
	IP        string
	CreatedAt time.Time
}

func (verificationRow) TableName() string { return "cards_verifications" }

// Delivery is one activation notification to a project's callback URL.
type Delivery struct {
	ID          string     `gorm:"primaryKey" json:"id"`
	ProjectID   string     `json:"project_id"`
	Event       string     `json:"event"`
	Payload     string     `json:"payload"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastStatus  int        `json:"last_status"`
	LastError   string     `json:"last_error"`
	NextAt      time.Time  `json:"next_at"`
	DeliveredAt *time.Time `json:"delivered_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func (Delivery) TableName() string { return "cards_deliveries" }
