package booking

import (
	"encoding/json"
	"time"
)

// ProfileStatus is where a streamer's profile stands with the admins.
type ProfileStatus string

// The profile statuses. Only an approved, active profile is listed and bookable; a changed
// profile goes back to pending until an admin approves it again.
const (
	ProfilePending  ProfileStatus = "pending"
	ProfileApproved ProfileStatus = "approved"
	ProfileRejected ProfileStatus = "rejected"
)

// Profile is a streamer's public profile, schedule and rating. Its primary key is the
// streamer's user id: a streamer's id everywhere is its user id.
type Profile struct {
	UserID       string `gorm:"primaryKey"`
	DisplayName  string
	Bio          string
	City         string
	CityKey      string // lower-cased, for the filter
	Games        string // JSON array of lower-cased names
	Languages    string // JSON array of lower-cased codes or names
	PricePerHour int64
	Currency     string
	TimeZone     string
	Photos       string // JSON array of image URLs
	Status       ProfileStatus
	RejectReason string
	Active       bool
	// Schedule is the JSON of a Schedule.
	Schedule    string
	RatingSum   int64
	ReviewCount int64
	Views       int64
	// LockSeq is bumped by every order placed for the streamer: the UPDATE that bumps it is
	// the row lock that serializes one streamer's bookings.
	LockSeq    int64
	ApprovedAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// TableName is the profiles table.
func (Profile) TableName() string { return "streamer_profiles" }

func jsonList(s string) []string {
	var out []string
	_ = json.Unmarshal([]byte(s), &out)
	if out == nil {
		out = []string{}
	}
	return out
}

func (p *Profile) schedule() Schedule {
	var s Schedule
	_ = json.Unmarshal([]byte(p.Schedule), &s)
	if s.Weekly == nil {
		s.Weekly = []WeeklyRule{}
	}
	if s.Exceptions == nil {
		s.Exceptions = []Exception{}
	}
	return s
}

// Rating is the average rating, rounded to two decimals; 0 without reviews.
func (p *Profile) Rating() float64 {
	if p.ReviewCount == 0 {
		return 0
	}
	return float64(p.RatingSum*100/p.ReviewCount) / 100
}

func (p *Profile) listed() bool { return p.Status == ProfileApproved && p.Active }

// OrderStatus is where an order stands.
type OrderStatus string

// The order statuses: pending_payment → paid → completed; pending_payment → expired or
// cancelled; paid → cancelled (refunded).
const (
	OrderPending   OrderStatus = "pending_payment"
	OrderPaid      OrderStatus = "paid"
	OrderCompleted OrderStatus = "completed"
	OrderExpired   OrderStatus = "expired"
	OrderCancelled OrderStatus = "cancelled"
)

// holds reports whether an order in s keeps its time.
func (s OrderStatus) holds() bool { return s == OrderPending || s == OrderPaid || s == OrderCompleted }

// Order is one booking of a streamer's time by a player.
type Order struct {
	ID              string `gorm:"primaryKey"`
	BuyerID         string
	StreamerID      string
	Start           time.Time `gorm:"column:start_at"`
	End             time.Time `gorm:"column:end_at"`
	DurationMinutes int
	Amount          int64
	Currency        string
	Status          OrderStatus
	HoldExpiresAt   time.Time
	MeetingID       *string
	MeetingCode     string
	CancelReason    string
	CancelledBy     string
	Refunded        bool
	PaidAt          *time.Time
	CompletedAt     *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// TableName is the orders table.
func (Order) TableName() string { return "booking_orders" }

// Slot is one unit of a streamer's time held by an order. The unique index on (streamer_id,
// slot_start) is what makes two orders for overlapping time impossible, whatever races.
type Slot struct {
	StreamerID string    `gorm:"primaryKey"`
	SlotStart  time.Time `gorm:"primaryKey"`
	OrderID    string
}

// TableName is the slots table.
func (Slot) TableName() string { return "booking_slots" }

// SlotUnit is the granularity of Slot rows: an order holds every unit its time touches.
const SlotUnit = 5 * time.Minute

// units returns the starts of the slot units [start, end) touches.
func units(start, end time.Time) []time.Time {
	var out []time.Time
	for t := start.UTC().Truncate(SlotUnit); t.Before(end); t = t.Add(SlotUnit) {
		out = append(out, t)
	}
	return out
}

// Review is a buyer's rating of a completed order; one per order.
type Review struct {
	ID         string `gorm:"primaryKey"`
	OrderID    string
	StreamerID string
	BuyerID    string
	BuyerName  string
	Rating     int
	Comment    string
	CreatedAt  time.Time
}

// TableName is the reviews table.
func (Review) TableName() string { return "booking_reviews" }

// outboxRow is a notification written in the transaction that causes it and sent after it
// commits, so a paid order's mail cannot be lost to a crash nor sent for a rollback.
type outboxRow struct {
	ID        int64 `gorm:"primaryKey;autoIncrement"`
	UserID    string
	Kind      string
	OrderID   string
	Payload   string
	CreatedAt time.Time
	SentAt    *time.Time
}

func (outboxRow) TableName() string { return "booking_outbox" }

// ---- views ----

// Card is a streamer in the catalogue.
type Card struct {
	ID           string     `json:"id"`
	DisplayName  string     `json:"display_name"`
	Avatar       string     `json:"avatar"`
	City         string     `json:"city"`
	Games        []string   `json:"games"`
	Languages    []string   `json:"languages"`
	PricePerHour int64      `json:"price_per_hour"`
	Currency     string     `json:"currency"`
	Rating       float64    `json:"rating"`
	ReviewCount  int64      `json:"review_count"`
	NextFreeSlot *time.Time `json:"next_free_slot"`
	// Sponsored marks the one card a live ad placed on this page (AdToken counts its click).
	Sponsored bool   `json:"sponsored,omitempty"`
	AdID      string `json:"ad_id,omitempty"`
	AdToken   string `json:"ad_token,omitempty"`
}

func (p *Profile) card(next *time.Time) Card {
	photos := jsonList(p.Photos)
	avatar := ""
	if len(photos) > 0 {
		avatar = photos[0]
	}
	return Card{ID: p.UserID, DisplayName: p.DisplayName, Avatar: avatar, City: p.City, Games: jsonList(p.Games),
		Languages: jsonList(p.Languages), PricePerHour: p.PricePerHour, Currency: p.Currency, Rating: p.Rating(),
		ReviewCount: p.ReviewCount, NextFreeSlot: next}
}

// Detail is a streamer's public page.
type Detail struct {
	Card
	Bio       string       `json:"bio"`
	Photos    []string     `json:"photos"`
	TimeZone  string       `json:"time_zone"`
	Views     int64        `json:"views"`
	Reviews   []ReviewView `json:"recent_reviews"`
	FreeSlots []Interval   `json:"free_slots"`
}

// ProfileView is a streamer's own profile, with its approval state.
type ProfileView struct {
	ID           string        `json:"id"`
	DisplayName  string        `json:"display_name"`
	Bio          string        `json:"bio"`
	City         string        `json:"city"`
	Games        []string      `json:"games"`
	Languages    []string      `json:"languages"`
	PricePerHour int64         `json:"price_per_hour"`
	Currency     string        `json:"currency"`
	TimeZone     string        `json:"time_zone"`
	Photos       []string      `json:"photos"`
	Status       ProfileStatus `json:"status"`
	RejectReason string        `json:"reject_reason,omitempty"`
	Rating       float64       `json:"rating"`
	ReviewCount  int64         `json:"review_count"`
	UpdatedAt    time.Time     `json:"updated_at"`
}

func (p *Profile) view() ProfileView {
	return ProfileView{ID: p.UserID, DisplayName: p.DisplayName, Bio: p.Bio, City: p.City, Games: jsonList(p.Games),
		Languages: jsonList(p.Languages), PricePerHour: p.PricePerHour, Currency: p.Currency, TimeZone: p.TimeZone,
		Photos: jsonList(p.Photos), Status: p.Status, RejectReason: p.RejectReason, Rating: p.Rating(),
		ReviewCount: p.ReviewCount, UpdatedAt: p.UpdatedAt.UTC()}
}

// OrderView is an order as its buyer and its streamer see it.
type OrderView struct {
	ID              string      `json:"id"`
	BuyerID         string      `json:"buyer_id"`
	StreamerID      string      `json:"streamer_id"`
	Start           time.Time   `json:"start"`
	End             time.Time   `json:"end"`
	DurationMinutes int         `json:"duration_minutes"`
	Amount          int64       `json:"amount"`
	Currency        string      `json:"currency"`
	Status          OrderStatus `json:"status"`
	HoldExpiresAt   *time.Time  `json:"hold_expires_at,omitempty"`
	MeetingID       *string     `json:"meeting_id"`
	MeetingCode     *string     `json:"meeting_code"`
	CancelReason    string      `json:"cancel_reason,omitempty"`
	Refunded        bool        `json:"refunded"`
	CreatedAt       time.Time   `json:"created_at"`
	UpdatedAt       time.Time   `json:"updated_at"`
}

func (o *Order) view() OrderView {
	v := OrderView{ID: o.ID, BuyerID: o.BuyerID, StreamerID: o.StreamerID, Start: o.Start.UTC(), End: o.End.UTC(),
		DurationMinutes: o.DurationMinutes, Amount: o.Amount, Currency: o.Currency, Status: o.Status,
		MeetingID: o.MeetingID, CancelReason: o.CancelReason, Refunded: o.Refunded, CreatedAt: o.CreatedAt.UTC(),
		UpdatedAt: o.UpdatedAt.UTC()}
	if o.Status == OrderPending {
		h := o.HoldExpiresAt.UTC()
		v.HoldExpiresAt = &h
	}
	if o.MeetingCode != "" {
		c := o.MeetingCode
		v.MeetingCode = &c
	}
	return v
}

// ReviewView is a review as the API shows it.
type ReviewView struct {
	ID        string    `json:"id"`
	OrderID   string    `json:"order_id"`
	BuyerName string    `json:"buyer_name"`
	Rating    int       `json:"rating"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
}

func (r *Review) view() ReviewView {
	return ReviewView{ID: r.ID, OrderID: r.OrderID, BuyerName: r.BuyerName, Rating: r.Rating, Comment: r.Comment,
		CreatedAt: r.CreatedAt.UTC()}
}
