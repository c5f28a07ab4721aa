package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/db"
	"github.com/onstagehq/onstage/internal/mail"
)

// inviteTTL is how long the set-password link of an account made by someone else stays valid.
const inviteTTL = 7 * 24 * time.Hour

// noPassword is stored as the hash of an account nobody has chosen a password for yet: it is
// not a bcrypt hash, so no password ever matches it, and a reset link is the only way in.
const noPassword = "!"

// ChildInput is an account that another account (an agency) creates for someone else.
type ChildInput struct {
	Email       string
	DisplayName string
}

// CheckChild normalizes in and validates it by the rules of registration; the problems are
// by field ("email", "display_name"). It is the agency import's row check, so that one place
// owns what a valid email and display name are.
func CheckChild(in ChildInput) (ChildInput, map[string]string) {
	f := fieldErrs{}
	in.Email = normalizeEmail(in.Email)
	f.checkEmail(in.Email)
	in.DisplayName = f.cleanDisplayName(in.DisplayName)
	return in, f
}

// TakenEmails returns which of emails (normalized) already belong to an account.
func (s *Service) TakenEmails(ctx context.Context, emails []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(emails); start += 500 {
		chunk := emails[start:min(start+500, len(emails))]
		var found []string
		if err := s.store.db.WithContext(ctx).Model(&User{}).Where("email IN ?", chunk).Pluck("email", &found).Error; err != nil {
			return nil, fmt.Errorf("read emails: %w", err)
		}
		for _, e := range found {
			out[e] = true
		}
	}
	return out, nil
}

// CreateChildrenInTx creates accounts of role whose parent is parentID inside tx, the
// caller's transaction, each without a password and with a set-password token. The inputs
// must have passed CheckChild. A taken email fails the whole call (ErrEmailTaken), so the
// caller's transaction rolls back. The returned func mails the set-password links; call it
// only after tx commits.
func (s *Service) CreateChildrenInTx(ctx context.Context, tx *gorm.DB, parentID string, role authn.Role, in []ChildInput) ([]*User, func(context.Context), error) {
	now := s.now().UTC()
	users := make([]*User, 0, len(in))
	tokens := make([]string, 0, len(in))
	rows := make([]*oneTimeToken, 0, len(in))
	for _, c := range in {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, nil, fmt.Errorf("new user id: %w", err)
		}
		parent := parentID
		u := &User{ID: id.String(), Email: c.Email, PasswordHash: noPassword, DisplayName: c.DisplayName, Role: role,
			ParentID: &parent, CreatedAt: now, UpdatedAt: now}
		tok := randomToken()
		users, tokens = append(users, u), append(tokens, tok)
		rows = append(rows, &oneTimeToken{TokenHash: hashToken(tok), UserID: u.ID, ExpiresAt: now.Add(inviteTTL), CreatedAt: now})
	}
	if len(users) == 0 {
		return users, func(context.Context) {}, nil
	}
	if err := tx.CreateInBatches(users, 200).Error; err != nil {
		if db.IsUniqueViolation(err) {
			return nil, nil, ErrEmailTaken
		}
		return nil, nil, fmt.Errorf("create users: %w", err)
	}
	for _, u := range users {
		if err := authz.AssignInTx(tx, u.ID, u.Role, now); err != nil {
			return nil, nil, fmt.Errorf("assign role: %w", err)
		}
	}
	if err := tx.Table(resetTable).CreateInBatches(rows, 200).Error; err != nil {
		return nil, nil, fmt.Errorf("store set-password tokens: %w", err)
	}
	mailAll := func(ctx context.Context) {
		for i, u := range users {
			s.send(ctx, mail.Message{
				To:      u.Email,
				Subject: "Your onstage account is ready: choose a password",
				Text: fmt.Sprintf("Hello %s,\n\nan onstage account was created for you. Choose its password within 7 days by opening this link:\n\n%s\n\n"+
					"(or send this token with your new password to /api/v1/auth/password/reset: %s)\n\n"+
					"If you do not expect this, ignore this message.\n",
					u.DisplayName, s.link("/reset-password?code="+tokens[i]), tokens[i]),
			})
		}
	}
	s.log.InfoContext(ctx, "child accounts created", "parent_id", parentID, "count", len(users))
	return users, mailAll, nil
}

// Children lists the accounts whose parent is parentID, newest first, filtered by q (email or
// display name contains, case-insensitive).
func (s *Service) Children(ctx context.Context, parentID, q string, page, size int) ([]View, int64, error) {
	tx := s.store.db.WithContext(ctx).Model(&User{}).Where("parent_id = ?", parentID)
	if q = strings.ToLower(strings.TrimSpace(q)); q != "" {
		like := "%" + strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(q) + "%"
		tx = tx.Where("(LOWER(email) LIKE ? ESCAPE '!' OR LOWER(display_name) LIKE ? ESCAPE '!')", like, like)
	}
	var total int64
	if err := tx.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count children: %w", err)
	}
	var users []User
	if err := tx.Order("created_at DESC, id").Limit(size).Offset((page - 1) * size).Find(&users).Error; err != nil {
		return nil, 0, fmt.Errorf("list children: %w", err)
	}
	out := make([]View, 0, len(users))
	for i := range users {
		out = append(out, users[i].View())
	}
	return out, total, nil
}
