// Package ads is onstage's advertising domain (seed 000 §4.3, §5.1, §5.2): ad packages sold by
// admins, ads bought by streamers (or by their agency) and paid through internal/payments,
// activation by the verified payment, pause and resume, expiry at the end of the paid time,
// agencies importing sub-accounts from CSV or XLSX, and sponsored placement in the streamer
// catalogue with signed single-use click tokens and batched impression and click counts.
//
// Model, store, service and HTTP handler live side by side here.
package ads

import (
	"encoding/json"
	"time"
)

// The placements a package may buy.
const (
	PlacementCatalogueTop = "catalogue_top"
	PlacementSearch       = "search"
	PlacementLobby        = "lobby"
)

// Placements lists the known placements.
var Placements = []string{PlacementCatalogueTop, PlacementSearch, PlacementLobby}

// Status is where an ad stands. pending_payment → active ⇄ paused → expired, or
// pending_payment → canceled when nobody pays within ads.pending_ttl; only an active ad is
// placed, and only while active does its paid time run down. expired and canceled are final.
type Status string

// The ad statuses.
const (
	StatusPending  Status = "pending_payment"
	StatusActive   Status = "active"
	StatusPaused   Status = "paused"
	StatusExpired  Status = "expired"
	StatusCanceled Status = "canceled"
)

// Package is something an admin sells: a placement for a number of days at a price.
type Package struct {
	ID           string    `gorm:"primaryKey" json:"id"`
	Name         string    `json:"name"`
	Placement    string    `json:"placement"`
	DurationDays int       `json:"duration_days"`
	Price        int64     `json:"price"`
	Currency     string    `json:"currency"`
	Active       bool      `json:"active"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// TableName is the packages table.
func (Package) TableName() string { return "ad_packages" }

// Ad is one purchase of a package for one streamer (the owner). The package's placement,
// duration and price are copied at purchase, so a later package edit changes no sold ad.
type Ad struct {
	ID        string
	PackageID string
	// OwnerID is the streamer the ad shows; AgencyID the agency it is a sub-account of ("" for
	// none); BuyerID who bought it (the owner or its agency), who pays.
	OwnerID, AgencyID, BuyerID string
	Placement                  string
	DurationSeconds            int64
	Price                      int64
	Currency                   string
	Status                     Status
	PaymentID                  string
	ActivatedAt                *time.Time
	// EndsAt is when the paid time runs out; set only while active. A paused ad keeps the
	// time it has left in RemainingSeconds instead, so paused time is never counted.
	EndsAt           *time.Time
	RemainingSeconds int64
	// Version is bumped by every state change: updates are compare-and-set on it.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TableName is the ads table.
func (Ad) TableName() string { return "ads" }

// Remaining is the paid time the ad has left at now.
func (a *Ad) Remaining(now time.Time) time.Duration {
	switch a.Status {
	case StatusActive:
		if a.EndsAt == nil || !a.EndsAt.After(now) {
			return 0
		}
		return a.EndsAt.Sub(now)
	case StatusExpired, StatusCanceled:
		return 0
	}
	return time.Duration(a.RemainingSeconds) * time.Second
}

// AdView is an ad as the API shows it.
type AdView struct {
	ID               string     `json:"id"`
	PackageID        string     `json:"package_id"`
	OwnerID          string     `json:"owner_id"`
	AgencyID         string     `json:"agency_id,omitempty"`
	Placement        string     `json:"placement"`
	Status           Status     `json:"status"`
	Price            int64      `json:"price"`
	Currency         string     `json:"currency"`
	DurationSeconds  int64      `json:"duration_seconds"`
	RemainingSeconds int64      `json:"remaining_seconds"`
	ActivatedAt      *time.Time `json:"activated_at"`
	EndsAt           *time.Time `json:"ends_at"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

// View returns a as the API shows it at now.
func (a *Ad) View(now time.Time) AdView {
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return AdView{ID: a.ID, PackageID: a.PackageID, OwnerID: a.OwnerID, AgencyID: a.AgencyID, Placement: a.Placement,
		Status: a.Status, Price: a.Price, Currency: a.Currency, DurationSeconds: a.DurationSeconds,
		RemainingSeconds: int64(a.Remaining(now) / time.Second), ActivatedAt: utc(a.ActivatedAt), EndsAt: utc(a.EndsAt),
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC()}
}

// event is a row of ad_events: the audit trail of an ad's states, written in the transaction
// that changes the state.
type event struct {
	ID        int64 `gorm:"primaryKey"`
	AdID      string
	FromState string
	ToState   string
	ActorID   string
	Reason    string
	CreatedAt time.Time
}

func (event) TableName() string { return "ad_events" }

// subAccount is an agency's sub-account: a streamer user whose parent is the agency, with the
// city and games the import gave.
type subAccount struct {
	UserID    string `gorm:"primaryKey"`
	AgencyID  string
	City      string
	Games     string // JSON array
	CreatedAt time.Time
}

func (subAccount) TableName() string { return "agency_sub_accounts" }

func jsonList(s string) []string {
	var out []string
	_ = json.Unmarshal([]byte(s), &out)
	if out == nil {
		out = []string{}
	}
	return out
}

// dailyStat is a row of ad_daily_stats: counts of one ad on one UTC day, only ever added to.
// UniqueViewers holds the viewers of the day's ad_viewers rows that compaction has folded in
// (and deleted); the day's figure is it plus the rows still there.
type dailyStat struct {
	AdID           string `gorm:"primaryKey"`
	Day            string `gorm:"primaryKey"`
	Impressions    int64
	Clicks         int64
	BotImpressions int64
	BotClicks      int64
	UniqueViewers  int64
}

func (dailyStat) TableName() string { return "ad_daily_stats" }

// viewer is a row of ad_viewers: one viewer (a hash) saw one ad on one day. Rows are kept
// only until their day is closed (compact.go), since they exist to tell a new viewer from one
// already counted that day.
type viewer struct {
	AdID   string `gorm:"primaryKey"`
	Day    string `gorm:"primaryKey"`
	Viewer string `gorm:"primaryKey"`
}

func (viewer) TableName() string { return "ad_viewers" }
