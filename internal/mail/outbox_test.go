package mail

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/db/dbtest"
)

func TestOutboxSend(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, gdb *gorm.DB) {
		var logs bytes.Buffer
		o := NewOutbox(gdb, slog.New(slog.NewTextHandler(&logs, nil)))
		ctx := context.Background()

		tests := []struct {
			name    string
			msg     Message
			wantErr error
		}{
			{"plain", Message{To: "ada@example.com", Subject: "Verify your email", Text: "open https://x.test/verify?token=abc"}, nil},
			{"display name recipient", Message{To: "Ada <ada@example.com>", Subject: "Hi", Text: "second"}, nil},
			{"bad recipient", Message{To: "not an address", Subject: "x", Text: "x"}, ErrInvalidMessage},
			{"header injection", Message{To: "ada@example.com", Subject: "x\r\nBcc: evil@example.com", Text: "x"}, ErrInvalidMessage},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := o.Send(ctx, tc.msg)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Send: err = %v, want %v", err, tc.wantErr)
				}
			})
		}

		rows, err := o.Recent(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 {
			t.Fatalf("outbox holds %d rows, want 2", len(rows))
		}
		if rows[0].Text != "second" || rows[1].Subject != "Verify your email" {
			t.Fatalf("outbox rows out of order: %+v", rows)
		}
		only, err := o.Recent(ctx, "ada@example.com", 10)
		if err != nil || len(only) != 1 {
			t.Fatalf("Recent(ada@example.com) = %d rows, %v; want 1", len(only), err)
		}
		// The link must reach the log: that is how a single-node operator follows it.
		if !strings.Contains(logs.String(), "https://x.test/verify?token=abc") || !strings.Contains(logs.String(), "ada@example.com") {
			t.Fatalf("log lacks the link or recipient:\n%s", logs.String())
		}
	}, Migrations()...)
}

func TestNewChoosesMailer(t *testing.T) {
	gdb := dbtest.Open(t, Migrations()...)
	if _, ok := New(config.Mail{}, gdb, nil).(*Outbox); !ok {
		t.Fatal("New without an SMTP host is not the outbox")
	}
	if _, ok := New(config.Mail{SMTPHost: "smtp.example.com"}, gdb, nil).(*SMTP); !ok {
		t.Fatal("New with an SMTP host is not SMTP")
	}
}
