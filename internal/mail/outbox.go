package mail

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
)

// OutboxMessage is one row of the outbox table: a message the outbox mailer "sent".
type OutboxMessage struct {
	ID        int64  `gorm:"primaryKey;autoIncrement"`
	To        string `gorm:"column:recipient"`
	Subject   string
	Text      string
	CreatedAt time.Time
}

// TableName is the outbox table.
func (OutboxMessage) TableName() string { return "outbox" }

// Outbox is the default mailer of a single node: it keeps each message in the outbox table,
// where `onstage mail outbox` reads it, so the operator can follow a verification or reset
// link without a mail server. The log only notes that a message was stored: the links are
// secrets (anyone holding one can set the password), and logs travel to places that must
// not hold them.
type Outbox struct {
	db  *gorm.DB
	log *slog.Logger
	now func() time.Time
}

// NewOutbox returns an outbox mailer writing to db and log (nil log: slog.Default()).
func NewOutbox(gdb *gorm.DB, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.Default()
	}
	return &Outbox{db: gdb, log: log, now: time.Now}
}

// Send stores m and logs where to read it, never its text. The recipient is stored as the
// bare address, so `onstage mail outbox --to ADDR` finds it whatever display name m.To had.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	addr, err := check(m)
	if err != nil {
		return err
	}
	row := OutboxMessage{To: addr, Subject: m.Subject, Text: m.Text, CreatedAt: o.now().UTC()}
	if err := o.db.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("mail: store in outbox: %w", err)
	}
	o.log.InfoContext(ctx, "mail stored in the outbox (no SMTP relay configured)", "to", addr, "subject", m.Subject,
		"id", row.ID, "read", "onstage mail outbox --to "+addr)
	return nil
}

// Recent returns the newest messages to the address to (all recipients when empty),
// newest first, at most limit of them.
func (o *Outbox) Recent(ctx context.Context, to string, limit int) ([]OutboxMessage, error) {
	q := o.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if to != "" {
		q = q.Where("recipient = ?", to)
	}
	var rows []OutboxMessage
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("mail: read outbox: %w", err)
	}
	return rows, nil
}

// outboxV1 is the outbox table as migration 0002 created it; it never changes.
type outboxV1 struct {
	ID        int64     `gorm:"primaryKey;autoIncrement"`
	Recipient string    `gorm:"size:320;not null;index"`
	Subject   string    `gorm:"size:998;not null"`
	Text      string    `gorm:"type:text;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

func (outboxV1) TableName() string { return "outbox" }

// Migrations returns the mail package's schema steps.
func Migrations() []db.Migration {
	return []db.Migration{{
		ID: "0002_mail_outbox",
		Up: func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&outboxV1{}) },
	}}
}
