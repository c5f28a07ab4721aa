package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/mail"
)

func createUser(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer, email, password, name string, role authn.Role) error {
	if email == "" || password == "" || name == "" {
		return usageError{"usage: onstage user create --email E --password P --name N [--admin]"}
	}
	svc, cleanup, err := initAuth(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()
	u, err := svc.CreateUser(ctx, email, password, name, role)
	if err != nil {
		return err
	}
	granted := string(u.Role)
	if role == authn.RoleAdmin {
		granted = "super_admin"
	}
	fmt.Fprintf(stdout, "created %s user %s (%s) with role %s\n", u.Role, u.Email, u.ID, granted)
	return nil
}

func mintToken(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer, user string) error {
	if user == "" {
		return usageError{"usage: onstage token --user EMAIL_OR_ID "}
	}
	svc, cleanup, err := initAuth(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()
	tok, err := svc.MintToken(ctx, user)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

const (
	mailOutboxUsage = "usage: onstage mail outbox [--to EMAIL] [--limit N] [--config FILE]"
	maxOutboxLimit  = 100
)

// mailOutbox prints the newest messages of the outbox, where a node without an SMTP relay
// keeps its mail: this, not the log, is how an operator reads a verification or reset link.
// It opens only the database and migrates nothing, so reading mail never changes the schema.
func mailOutbox(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer, to string, limit int) error {
	gdb, cleanup, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()
	if !gdb.Migrator().HasTable(mail.OutboxMessage{}) {
		return fmt.Errorf("the database has no outbox table yet: run onstage migrate (or serve) first")
	}
	rows, err := mail.NewOutbox(gdb, log).Recent(ctx, to, limit)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "no messages")
		return nil
	}
	for i, m := range rows {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "#%d %s to %s: %s\n", m.ID, m.CreatedAt.UTC().Format(time.RFC3339), m.To, m.Subject)
		fmt.Fprintln(stdout, strings.TrimRight(m.Text, "\n"))
	}
	return nil
}
