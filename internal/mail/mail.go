// Package mail sends onstage's outgoing mail: email verification and password reset links,
// and notices. A single node without an SMTP relay keeps every message in the outbox table,
// where its operator reads them with `onstage mail outbox` to follow the links (the log only
// notes that a message was stored); a configured SMTP relay delivers them for real.
package mail

import (
	"context"
	"errors"
	"log/slog"
	"net/mail"
	"strings"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/config"
)

// Message is one plain-text mail to one recipient.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Mailer sends messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// ErrInvalidMessage is a message that cannot be sent as given: a malformed recipient or a
// subject that would break the header it is written into.
var ErrInvalidMessage = errors.New("mail: invalid message")

// New returns the mailer cfg asks for: SMTP when an SMTP host is configured, otherwise the
// outbox (the database).
func New(cfg config.Mail, db *gorm.DB, log *slog.Logger) Mailer {
	if cfg.SMTPHost != "" {
		return NewSMTP(cfg)
	}
	return NewOutbox(db, log)
}

// check validates m and returns the bare recipient address.
func check(m Message) (string, error) {
	if strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") {
		return "", ErrInvalidMessage
	}
	addr, err := mail.ParseAddress(m.To)
	if err != nil {
		return "", ErrInvalidMessage
	}
	return addr.Address, nil
}
