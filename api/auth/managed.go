package auth

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/mail"
)

// setPasswordTTL is how long the mailed set-password link of a managed account stays valid.
const setPasswordTTL = 72 * time.Hour

// CreateManaged creates an account on behalf of parentID (its superior): the account's
// parent_id is parentID, it holds the one given role (an authz role name such as "agent"),
// has no usable password, and is mailed a single-use link to choose one. The email counts as
// verified: the superior vouches for it, and the link proves the mailbox.
func (s *Service) CreateManaged(ctx context.Context, parentID, email, displayName, role string) (*User, error) {
	f := fieldErrs{}
	// A random password no one knows: the account is usable only after the mailed link.
	u, err := s.newUser(f, email, randomToken(), displayName, authn.RolePlayer)
	if err != nil {
		return nil, err
	}
	verified := u.CreatedAt
	u.EmailVerifiedAt = &verified
	u.ParentID = &parentID
	tok := randomToken()
	err = s.store.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		if err := authz.GrantInTx(tx, u.ID, role, parentID, u.CreatedAt); err != nil {
			return fmt.Errorf("assign role: %w", err)
		}
		return tx.Table(resetTable).Create(&oneTimeToken{TokenHash: hashToken(tok), UserID: u.ID,
			ExpiresAt: u.CreatedAt.Add(setPasswordTTL), CreatedAt: u.CreatedAt}).Error
	})
	if db.IsUniqueViolation(err) {
		return nil, ErrEmailTaken
	}
	if err != nil {
		return nil, fmt.Errorf("create managed user: %w", err)
	}
	s.log.InfoContext(ctx, "managed user created", "user_id", u.ID, "parent_id", parentID, "role", role)
	s.send(ctx, mail.Message{
		To:      u.Email,
		Subject: "Your onstage account: choose a password",
		Text: fmt.Sprintf("Hello %s,\n\nan account was created for you on onstage. Choose your password within 72 hours:\n\n%s\n\n"+
			"(or send this token with your new password to /api/v1/auth/password/reset: %s)\n",
			u.DisplayName, s.link("/reset-password?code="+tok), tok),
	})
	return u, nil
}
