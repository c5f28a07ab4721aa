package rooms

import (
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
)

// Migrations returns the meeting domain's schema steps. Each step describes its tables with
// types frozen here, never with the live models, so it keeps doing what it did when it shipped.
func Migrations() []db.Migration {
	return []db.Migration{
		{ID: "0100_rooms_meetings", Up: migrate0100},
		{ID: "0110_rooms_giveaways", Up: migrate0110},
		{ID: "0130_rooms_invites", Up: migrate0130},
	}
}

type m0100Meeting struct {
	ID               string     `gorm:"primaryKey;size:36"`
	Code             string     `gorm:"size:6;not null;uniqueIndex:ux_meetings_code"`
	Title            string     `gorm:"size:200;not null"`
	Description      string     `gorm:"type:text;not null"`
	CreatorID        string     `gorm:"size:64;not null;index:ix_meetings_creator"`
	StartTime        time.Time  `gorm:"not null;index:ix_meetings_start"`
	DurationMinutes  int        `gorm:"not null"`
	PasswordHash     string     `gorm:"size:100;not null"`
	MaxParticipants  int        `gorm:"not null"`
	IsPublic         bool       `gorm:"not null"`
	RecordingEnabled bool       `gorm:"not null"`
	Status           string     `gorm:"size:16;not null;index:ix_meetings_status"`
	ActualStart      *time.Time ``
	ActualEnd        *time.Time ``
	EndReason        string     `gorm:"size:32;not null"`
	ChatSeq          int64      `gorm:"not null"`
	CreatedAt        time.Time  `gorm:"not null"`
	UpdatedAt        time.Time  `gorm:"not null"`
}

func (m0100Meeting) TableName() string { return "meetings" }

type m0100Participant struct {
	ID          string     `gorm:"primaryKey;size:36"`
	MeetingID   string     `gorm:"size:36;not null;index:ix_meeting_participants_meeting"`
	UserID      string     `gorm:"size:64;not null;index:ix_meeting_participants_user"`
	DisplayName string     `gorm:"size:200;not null"`
	Role        string     `gorm:"size:16;not null"`
	JoinedAt    time.Time  `gorm:"not null"`
	LeftAt      *time.Time ``
	LeaveReason string     `gorm:"size:32;not null"`
	Microphone  bool       `gorm:"not null"`
	Camera      bool       `gorm:"not null"`
	Screen      bool       `gorm:"not null"`
}

func (m0100Participant) TableName() string { return "meeting_participants" }

type m0100Chat struct {
	ID                string    `gorm:"primaryKey;size:36"`
	MeetingID         string    `gorm:"size:36;not null;uniqueIndex:ux_meeting_chat_seq,priority:1"`
	Seq               int64     `gorm:"not null;uniqueIndex:ux_meeting_chat_seq,priority:2"`
	FromParticipantID string    `gorm:"size:36;not null"`
	FromName          string    `gorm:"size:200;not null"`
	ToParticipantID   string    `gorm:"size:36;not null"`
	Text              string    `gorm:"type:text;not null"`
	SentAt            time.Time `gorm:"not null"`
}

func (m0100Chat) TableName() string { return "meeting_chat_messages" }

type m0100Handover struct {
	ID                string    `gorm:"primaryKey;size:36"`
	MeetingID         string    `gorm:"size:36;not null;index:ix_meeting_host_handovers_meeting"`
	FromParticipantID string    `gorm:"size:36;not null"`
	ToParticipantID   string    `gorm:"size:36;not null"`
	FromUserID        string    `gorm:"size:64;not null"`
	ToUserID          string    `gorm:"size:64;not null"`
	Reason            string    `gorm:"size:32;not null"`
	At                time.Time `gorm:"not null"`
}

func (m0100Handover) TableName() string { return "meeting_host_handovers" }

type m0100Kick struct {
	ID        string    `gorm:"primaryKey;size:36"`
	MeetingID string    `gorm:"size:36;not null;uniqueIndex:ux_meeting_kicks,priority:1"`
	UserID    string    `gorm:"size:64;not null;uniqueIndex:ux_meeting_kicks,priority:2"`
	ByUserID  string    `gorm:"size:64;not null"`
	At        time.Time `gorm:"not null"`
}

func (m0100Kick) TableName() string { return "meeting_kicks" }

func migrate0100(tx *gorm.DB) error {
	if err := tx.Migrator().CreateTable(&m0100Meeting{}, &m0100Participant{}, &m0100Chat{},
		&m0100Handover{}, &m0100Kick{}); err != nil {
		return err
	}
	// One active stay per user and meeting: a racing duplicate join fails on this index.
	if db.Dialect(tx) == db.DialectMySQL {
		// MySQL has no partial indexes. A generated column that is 1 while the stay is
		// active and NULL once it has ended does the same: NULLs never collide in a
		// unique index.
		if err := tx.Exec("ALTER TABLE meeting_participants ADD COLUMN active_stay TINYINT GENERATED ALWAYS AS (CASE WHEN left_at IS NULL THEN 1 END) STORED").Error; err != nil {
			return err
		}
		return tx.Exec("CREATE UNIQUE INDEX ux_meeting_participants_active ON meeting_participants (meeting_id, user_id, active_stay)").Error
	}
	return tx.Exec("CREATE UNIQUE INDEX ux_meeting_participants_active ON meeting_participants (meeting_id, user_id) WHERE left_at IS NULL").Error
}
