package rooms

import (
	"time"

	"gorm.io/gorm"
)

// Step 0110: giveaways, their entries, the draw log and the entry statistics.

type m0110Giveaway struct {
	ID            string     `gorm:"primaryKey;size:36"`
	MeetingID     string     `gorm:"size:36;not null;index:ix_meeting_giveaways_meeting"`
	Title         string     `gorm:"size:200;not null"`
	Prize         string     `gorm:"size:200;not null"`
	WinnerCount   int        `gorm:"not null"`
	EntrySeconds  int        `gorm:"not null"`
	BonusMinutes  int        `gorm:"not null"`
	BonusWeight   int        `gorm:"not null"`
	Status        string     `gorm:"size:16;not null;index:ix_meeting_giveaways_status,priority:1"`
	Seed          string     `gorm:"size:64;not null"`
	Commitment    string     `gorm:"size:64;not null"`
	Algorithm     string     `gorm:"size:32;not null"`
	OpenedBy      string     `gorm:"size:64;not null"`
	OpenedAt      time.Time  `gorm:"not null"`
	ClosesAt      time.Time  `gorm:"not null;index:ix_meeting_giveaways_status,priority:2"`
	ClosedAt      *time.Time ``
	EntrySeq      int64      `gorm:"not null"`
	EntryListHash string     `gorm:"size:64;not null"`
	DrawnAt       *time.Time ``
	Rounds        int        `gorm:"not null"`
	CreatedAt     time.Time  `gorm:"not null"`
	UpdatedAt     time.Time  `gorm:"not null"`
}

func (m0110Giveaway) TableName() string { return "meeting_giveaways" }

type m0110Entry struct {
	ID            string    `gorm:"primaryKey;size:36"`
	GiveawayID    string    `gorm:"size:36;not null;uniqueIndex:ux_giveaway_entries_user,priority:1;uniqueIndex:ux_giveaway_entries_number,priority:1"`
	MeetingID     string    `gorm:"size:36;not null"`
	UserID        string    `gorm:"size:64;not null;uniqueIndex:ux_giveaway_entries_user,priority:2"`
	ParticipantID string    `gorm:"size:36;not null"`
	EntryNumber   int64     `gorm:"not null;uniqueIndex:ux_giveaway_entries_number,priority:2"`
	Name          string    `gorm:"size:200;not null"`
	Contact       string    `gorm:"size:100;not null"`
	Source        string    `gorm:"size:16;not null"`
	Weight        int       `gorm:"not null"`
	EnteredAt     time.Time `gorm:"not null"`
}

func (m0110Entry) TableName() string { return "meeting_giveaway_entries" }

type m0110Draw struct {
	ID            string    `gorm:"primaryKey;size:36"`
	GiveawayID    string    `gorm:"size:36;not null;uniqueIndex:ux_giveaway_draws_round,priority:1"`
	Round         int       `gorm:"not null;uniqueIndex:ux_giveaway_draws_round,priority:2"`
	Algorithm     string    `gorm:"size:32;not null"`
	Seed          string    `gorm:"size:64;not null"`
	EntryListHash string    `gorm:"size:64;not null"`
	Weights       string    `gorm:"type:text;not null"`
	Excluded      string    `gorm:"type:text;not null"`
	Winners       string    `gorm:"type:text;not null"`
	Replaced      int64     `gorm:"not null"`
	Reason        string    `gorm:"size:200;not null"`
	ByUserID      string    `gorm:"size:64;not null"`
	At            time.Time `gorm:"not null"`
}

func (m0110Draw) TableName() string { return "meeting_giveaway_draws" }

type m0110Stat struct {
	GiveawayID string    `gorm:"primaryKey;size:36"`
	Minute     time.Time `gorm:"primaryKey"`
	Source     string    `gorm:"primaryKey;size:16"`
	MeetingID  string    `gorm:"size:36;not null;index:ix_giveaway_entry_stats_meeting"`
	Entries    int64     `gorm:"not null"`
}

func (m0110Stat) TableName() string { return "meeting_giveaway_entry_stats" }

func migrate0110(tx *gorm.DB) error {
	return tx.Migrator().CreateTable(&m0110Giveaway{}, &m0110Entry{}, &m0110Draw{}, &m0110Stat{})
}
