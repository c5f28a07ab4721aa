package rooms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
)

// Invite lets a user into a private meeting without its password (the buyer of a booked
// session). A meeting's creator needs none anyway.
type Invite struct {
	MeetingID string `gorm:"primaryKey"`
	UserID    string `gorm:"primaryKey"`
	CreatedAt time.Time
}

// TableName is the invites table.
func (Invite) TableName() string { return "meeting_invites" }

// BookedInput is a private meeting made for a paid booking.
type BookedInput struct {
	HostID          string
	GuestIDs        []string
	Title           string
	Start           time.Time
	DurationMinutes int
}

// BookedMeeting is what CreateBookedTx made.
type BookedMeeting struct {
	ID   string
	Code string
}

// CreateBookedTx creates a scheduled private meeting hosted by in.HostID with in.GuestIDs
// invited, inside the caller's transaction tx: it commits or rolls back with whatever else
// tx writes (a payment's success and an order's paid state). The meeting has a random
// password nobody is told, so only the host and the invited guests get in.
func (s *Service) CreateBookedTx(ctx context.Context, tx *gorm.DB, in BookedInput) (BookedMeeting, error) {
	if in.HostID == "" || in.Start.IsZero() || in.DurationMinutes < 1 {
		return BookedMeeting{}, fmt.Errorf("rooms: booked meeting needs a host, a start and a duration")
	}
	title := truncateRunes(in.Title, MaxTitle)
	if title == "" {
		title = "Session"
	}
	secret := make([]byte, 18)
	_, _ = rand.Read(secret)
	hash, err := hashPassword(hex.EncodeToString(secret), s.pwCost)
	if err != nil {
		return BookedMeeting{}, err
	}
	now := s.clock()
	dur := in.DurationMinutes
	if dur > MaxDuration*3 {
		dur = MaxDuration * 3
	}
	m := &Meeting{
		ID: newID(), Title: title, CreatorID: in.HostID, StartTime: in.Start.UTC().Truncate(time.Second),
		DurationMinutes: dur, PasswordHash: hash, MaxParticipants: max(MinParticipants, len(in.GuestIDs)+1),
		Status: StatusScheduled, CreatedAt: now, UpdatedAt: now,
	}
	gtx := tx.WithContext(ctx)
	for attempt := 0; ; attempt++ {
		if attempt == codeAttempts {
			return BookedMeeting{}, ErrCodeExhausted
		}
		m.Code = s.newCode()
		// A savepoint keeps a code collision from aborting the caller's transaction
		// (PostgreSQL fails every later statement of a transaction after an error).
		if err := gtx.SavePoint("booked_code").Error; err != nil {
			return BookedMeeting{}, err
		}
		err := gtx.Create(m).Error
		if err == nil {
			break
		}
		if !db.IsUniqueViolation(err) {
			return BookedMeeting{}, fmt.Errorf("create booked meeting: %w", err)
		}
		if err := gtx.RollbackTo("booked_code").Error; err != nil {
			return BookedMeeting{}, err
		}
	}
	for _, g := range in.GuestIDs {
		if err := gtx.Create(&Invite{MeetingID: m.ID, UserID: g, CreatedAt: now}).Error; err != nil {
			return BookedMeeting{}, fmt.Errorf("invite: %w", err)
		}
	}
	return BookedMeeting{ID: m.ID, Code: m.Code}, nil
}

// invited reports whether userID holds an invite to the meeting.
func (s *Store) invited(meetingID, userID string) (bool, error) {
	if userID == "" {
		return false, nil
	}
	var n int64
	err := s.db.Model(&Invite{}).Where("meeting_id = ? AND user_id = ?", meetingID, userID).Count(&n).Error
	return n > 0, err
}

// Statuses returns the status of each known meeting of ids.
func (s *Service) Statuses(ctx context.Context, ids []string) (map[string]Status, error) {
	out := make(map[string]Status, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var ms []Meeting
	if err := s.store.with(ctx).db.Select("id", "status").Where("id IN ?", ids).Find(&ms).Error; err != nil {
		return nil, err
	}
	for _, m := range ms {
		out[m.ID] = m.Status
	}
	return out, nil
}

type m0130Invite struct {
	MeetingID string    `gorm:"primaryKey;size:36"`
	UserID    string    `gorm:"primaryKey;size:64"`
	CreatedAt time.Time `gorm:"not null"`
}

func (m0130Invite) TableName() string { return "meeting_invites" }

func migrate0130(tx *gorm.DB) error { return tx.Migrator().CreateTable(&m0130Invite{}) }
