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
		// Both are stored under the bare address, so --to finds the display-name one too.
		only, err := o.Recent(ctx, "ada@example.com", 10)
		if err != nil || len(only) != 2 {
			t.Fatalf("Recent(ada@example.com) = %d rows, %v; want 2", len(only), err)
		}
		if one, err := o.Recent(ctx, "", 1); err != nil || len(one) != 1 || one[0].Text != "second" {
			t.Fatalf("Recent(limit 1) = %+v, %v; want the newest", one, err)
		}
		if none, err := o.Recent(ctx, "bob@example.com", 10); err != nil || len(none) != 0 {
			t.Fatalf("Recent(bob@example.com) = %d rows, %v; want 0", len(none), err)
		}
	}, Migrations()...)
}

// TestOutboxSendLogsNoText: a link in the text is a secret (it sets a password), so the log
// names the message and how to read it, never the text.
func TestOutboxSendLogsNoText(t *testing.T) {
	gdb := dbtest.Open(t, Migrations()...)
	var logs bytes.Buffer
	o := NewOutbox(gdb, slog.New(slog.NewTextHandler(&logs, nil)))
	const token = "fake-token-5d1c9e07"
	err := o.Send(context.Background(), Message{To: "Ada <ada@example.com>", Subject: "Reset your password",
		Text: "open https://x.test/reset-password?code=" + token + " within an hour"})
	if err != nil {
		t.Fatal(err)
	}
	got := logs.String()
	for _, want := range []string{"ada@example.com", "Reset your password", "id=1", "onstage mail outbox --to ada@example.com"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, token) || strings.Contains(got, "reset-password") {
		t.Errorf("log holds the text:\n%s", got)
	}
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
