package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/config"
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
