package ads

import (
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
)

// Migrations returns the ads schema steps. Each step describes its tables with its own frozen
// types, never with the live models.
func Migrations() []db.Migration {
	return []db.Migration{{ID: "0140_ads", Up: func(tx *gorm.DB) error {
		return tx.Migrator().CreateTable(&packageV1{}, &adV1{}, &adEventV1{}, &dailyStatV1{}, &viewerV1{}, &subAccountV1{})
	}}, {ID: "0141_ads_unique_viewers", Up: migrate0141}}
}

// migrate0141 gives the daily stats the viewers compaction folds in, and ad_viewers an index by
// day, so that finding the closed days left to compact reads only those rows instead of the
// whole table.
func migrate0141(tx *gorm.DB) error {
	if err := tx.Migrator().AddColumn(&dailyStatV2{}, "UniqueViewers"); err != nil {
		return err
	}
	return tx.Exec("CREATE INDEX idx_ad_viewers_day ON ad_viewers (day, ad_id)").Error
}

type packageV1 struct {
	ID           string    `gorm:"primaryKey;size:36"`
	Name         string    `gorm:"size:100;not null"`
	Placement    string    `gorm:"size:32;not null"`
	DurationDays int       `gorm:"not null"`
	Price        int64     `gorm:"not null"`
	Currency     string    `gorm:"size:3;not null"`
	Active       bool      `gorm:"not null"`
	CreatedAt    time.Time `gorm:"not null"`
	UpdatedAt    time.Time `gorm:"not null"`
}

func (packageV1) TableName() string { return "ad_packages" }

type adV1 struct {
	ID               string     `gorm:"primaryKey;size:36"`
	PackageID        string     `gorm:"size:36;not null"`
	OwnerID          string     `gorm:"size:36;not null;index:idx_ads_owner"`
	AgencyID         string     `gorm:"size:36;not null;index:idx_ads_agency"`
	BuyerID          string     `gorm:"size:36;not null"`
	Placement        string     `gorm:"size:32;not null;index:idx_ads_live,priority:2"`
	DurationSeconds  int64      `gorm:"not null"`
	Price            int64      `gorm:"not null"`
	Currency         string     `gorm:"size:3;not null"`
	Status           string     `gorm:"size:20;not null;index:idx_ads_live,priority:1"`
	PaymentID        string     `gorm:"size:36;not null"`
	ActivatedAt      *time.Time ``
	EndsAt           *time.Time `gorm:"index:idx_ads_live,priority:3"`
	RemainingSeconds int64      `gorm:"not null"`
	Version          int64      `gorm:"not null"`
	CreatedAt        time.Time  `gorm:"not null"`
	UpdatedAt        time.Time  `gorm:"not null"`
}

func (adV1) TableName() string { return "ads" }

type adEventV1 struct {
	ID        int64     `gorm:"primaryKey;autoIncrement"`
	AdID      string    `gorm:"size:36;not null;index:idx_ad_events_ad"`
	FromState string    `gorm:"size:20;not null"`
	ToState   string    `gorm:"size:20;not null"`
	ActorID   string    `gorm:"size:36;not null"`
	Reason    string    `gorm:"size:64;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

func (adEventV1) TableName() string { return "ad_events" }

type dailyStatV1 struct {
	AdID           string `gorm:"primaryKey;size:36"`
	Day            string `gorm:"primaryKey;size:10"`
	Impressions    int64  `gorm:"not null"`
	Clicks         int64  `gorm:"not null"`
	BotImpressions int64  `gorm:"not null"`
	BotClicks      int64  `gorm:"not null"`
}

func (dailyStatV1) TableName() string { return "ad_daily_stats" }

type dailyStatV2 struct {
	UniqueViewers int64 `gorm:"not null;default:0"`
}

func (dailyStatV2) TableName() string { return "ad_daily_stats" }

type viewerV1 struct {
	AdID   string `gorm:"primaryKey;size:36"`
	Day    string `gorm:"primaryKey;size:10"`
	Viewer string `gorm:"primaryKey;size:32"`
}

func (viewerV1) TableName() string { return "ad_viewers" }

type subAccountV1 struct {
	UserID    string    `gorm:"primaryKey;size:36"`
	AgencyID  string    `gorm:"size:36;not null;index:idx_ad_sub_accounts_agency"`
	City      string    `gorm:"size:100;not null"`
	Games     string    `gorm:"size:2000;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

func (subAccountV1) TableName() string { return "agency_sub_accounts" }
