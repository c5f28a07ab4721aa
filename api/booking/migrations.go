package booking

import (
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
)

// Migrations returns the booking schema steps, described with types frozen here.
func Migrations() []db.Migration {
	return []db.Migration{{ID: "0130_booking", Up: func(tx *gorm.DB) error {
		return tx.Migrator().CreateTable(&profileV1{}, &orderV1{}, &slotV1{}, &reviewV1{}, &outboxV1{})
	}}}
}

type profileV1 struct {
	UserID       string     `gorm:"primaryKey;size:36"`
	DisplayName  string     `gorm:"size:64;not null"`
	Bio          string     `gorm:"type:text;not null"`
	City         string     `gorm:"size:100;not null"`
	CityKey      string     `gorm:"size:100;not null;index:ix_streamer_profiles_city"`
	Games        string     `gorm:"size:2000;not null"`
	Languages    string     `gorm:"size:1000;not null"`
	PricePerHour int64      `gorm:"not null"`
	Currency     string     `gorm:"size:3;not null"`
	TimeZone     string     `gorm:"size:64;not null"`
	Photos       string     `gorm:"type:text;not null"`
	Status       string     `gorm:"size:16;not null;index:ix_streamer_profiles_status"`
	RejectReason string     `gorm:"size:500;not null"`
	Active       bool       `gorm:"not null"`
	Schedule     string     `gorm:"type:text;not null"`
	RatingSum    int64      `gorm:"not null"`
	ReviewCount  int64      `gorm:"not null"`
	Views        int64      `gorm:"not null"`
	LockSeq      int64      `gorm:"not null"`
	ApprovedAt   *time.Time ``
	CreatedAt    time.Time  `gorm:"not null"`
	UpdatedAt    time.Time  `gorm:"not null"`
}

func (profileV1) TableName() string { return "streamer_profiles" }

type orderV1 struct {
	ID              string     `gorm:"primaryKey;size:36"`
	BuyerID         string     `gorm:"size:36;not null;index:ix_booking_orders_buyer"`
	StreamerID      string     `gorm:"size:36;not null;index:ix_booking_orders_streamer,priority:1"`
	StartAt         time.Time  `gorm:"not null;index:ix_booking_orders_streamer,priority:2"`
	EndAt           time.Time  `gorm:"not null"`
	DurationMinutes int        `gorm:"not null"`
	Amount          int64      `gorm:"not null"`
	Currency        string     `gorm:"size:3;not null"`
	Status          string     `gorm:"size:16;not null;index:ix_booking_orders_status,priority:1"`
	HoldExpiresAt   time.Time  `gorm:"not null;index:ix_booking_orders_status,priority:2"`
	MeetingID       *string    `gorm:"size:36;index:ix_booking_orders_meeting"`
	MeetingCode     string     `gorm:"size:16;not null"`
	CancelReason    string     `gorm:"size:500;not null"`
	CancelledBy     string     `gorm:"size:36;not null"`
	Refunded        bool       `gorm:"not null"`
	PaidAt          *time.Time ``
	CompletedAt     *time.Time ``
	CreatedAt       time.Time  `gorm:"not null"`
	UpdatedAt       time.Time  `gorm:"not null"`
}

func (orderV1) TableName() string { return "booking_orders" }

type slotV1 struct {
	StreamerID string    `gorm:"primaryKey;size:36"`
	SlotStart  time.Time `gorm:"primaryKey"`
	OrderID    string    `gorm:"size:36;not null;index:ix_booking_slots_order"`
}

func (slotV1) TableName() string { return "booking_slots" }

type reviewV1 struct {
	ID         string    `gorm:"primaryKey;size:36"`
	OrderID    string    `gorm:"size:36;not null;uniqueIndex:ux_booking_reviews_order"`
	StreamerID string    `gorm:"size:36;not null;index:ix_booking_reviews_streamer,priority:1"`
	BuyerID    string    `gorm:"size:36;not null"`
	BuyerName  string    `gorm:"size:64;not null"`
	Rating     int       `gorm:"not null"`
	Comment    string    `gorm:"size:2000;not null"`
	CreatedAt  time.Time `gorm:"not null;index:ix_booking_reviews_streamer,priority:2"`
}

func (reviewV1) TableName() string { return "booking_reviews" }

type outboxV1 struct {
	ID        int64      `gorm:"primaryKey;autoIncrement"`
	UserID    string     `gorm:"size:36;not null"`
	Kind      string     `gorm:"size:32;not null"`
	OrderID   string     `gorm:"size:36;not null"`
	Payload   string     `gorm:"type:text;not null"`
	CreatedAt time.Time  `gorm:"not null"`
	SentAt    *time.Time `gorm:"index:ix_booking_outbox_sent"`
}

func (outboxV1) TableName() string { return "booking_outbox" }
