package auth

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/mail"
)

// ForgotInput asks for a password reset link.
type ForgotInput struct {
	Email string `json:"email"`
}

// ForgotPassword mails a password reset link (valid one hour, single use) when the email
// has an account. Whether it has one is never revealed: the answer is the same, even for
// something that is not an email address at all.
func (s *Service) ForgotPassword(ctx context.Context, in ForgotInput) error {
	email := normalizeEmail(in.Email)
	f := fieldErrs{}
	if f.checkEmail(email); len(f) > 0 {
		return nil
	}
	u, err := s.store.userByEmail(ctx, email)
	if errors.Is(err, ErrUserNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	tok := randomToken()
	now := s.now().UTC()
	if err := s.store.addToken(ctx, resetTable, &oneTimeToken{
		TokenHash: hashToken(tok), UserID: u.ID, ExpiresAt: now.Add(resetTTL), CreatedAt: now,
	}); err != nil {
		return err
	}
	s.send(ctx, mail.Message{
		To:      u.Email,
		Subject: "Reset your onstage password",
		Text: fmt.Sprintf("Hello %s,\n\nto choose a new password, open this link within one hour:\n\n%s\n\n"+
			"(or send this token with your new password to /api/v1/auth/password/reset: %s)\n\n"+
			"If you did not ask for this, ignore this message; your password stays as it is.\n",
			u.DisplayName, s.link("/reset-password?code="+tok), tok),
	})
	return nil
}

// ResetInput sets a new password with a mailed reset token.
type ResetInput struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// ResetPassword consumes a reset token and sets the new password. Every refresh token of
// the user is revoked and any login lock is lifted. An unknown, used or expired token is
// ErrInvalidLink.
func (s *Service) ResetPassword(ctx context.Context, in ResetInput) error {
	f := fieldErrs{}
	f.checkPassword("password", in.Password)
	if err := f.err(); err != nil {
		return err
	}
	if in.Token == "" {
		return ErrInvalidLink
	}
	hash, err := s.hash(in.Password)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	var u User
	err = s.store.consumeToken(ctx, resetTable, hashToken(in.Token), now, func(tx *gorm.DB, userID string) error {
		res := tx.Model(&User{}).Where("id = ?", userID).
			Updates(map[string]any{"password_hash": hash, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("set password: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrInvalidLink
		}
		return tx.Where("id = ?", userID).Take(&u).Error
	})
	if err != nil {
		return err
	}
	if err := s.revokeAll(ctx, u.ID); err != nil {
		return err
	}
	if err := s.clearFailures(ctx, hashToken(u.Email)); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "password reset", "user_id", u.ID)
	s.sendPasswordChanged(ctx, &u)
	return nil
}
