package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/db"
)

// Store reads and writes users and their one-time tokens.
type Store struct {
	db *gorm.DB
}

// NewStore returns a store over gdb (migrated with Migrations).
func NewStore(gdb *gorm.DB) *Store { return &Store{db: gdb} }

// createUser inserts u and, when tok is not nil, its email verification token, in one
// transaction. A taken email is ErrEmailTaken.
func (s *Store) createUser(ctx context.Context, u *User, tok *oneTimeToken) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		if err := authz.AssignInTx(tx, u.ID, u.Role, u.CreatedAt); err != nil {
			return fmt.Errorf("assign role: %w", err)
		}
		if tok != nil {
			return tx.Table(verificationTable).Create(tok).Error
		}
		return nil
	})
	if db.IsUniqueViolation(err) {
		return ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// userByID returns the user with id, or ErrUserNotFound.
func (s *Store) userByID(ctx context.Context, id string) (*User, error) {
	return s.first(ctx, "id = ?", id)
}

// userByEmail returns the user with the (lower-cased) email, or ErrUserNotFound.
func (s *Store) userByEmail(ctx context.Context, email string) (*User, error) {
	return s.first(ctx, "email = ?", email)
}

func (s *Store) first(ctx context.Context, where string, arg any) (*User, error) {
	var u User
	err := s.db.WithContext(ctx).Where(where, arg).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrUserNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	return &u, nil
}

// displayNames returns the display names of the users among ids, in one query.
func (s *Store) displayNames(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID          string
		DisplayName string
	}
	if err := s.db.WithContext(ctx).Model(&User{}).Select("id", "display_name").Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read display names: %w", err)
	}
	for _, r := range rows {
		out[r.ID] = r.DisplayName
	}
	return out, nil
}

// updateUser writes the given columns of user id and returns the user as it is now.
func (s *Store) updateUser(ctx context.Context, id string, cols map[string]any) (*User, error) {
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Updates(cols)
	if res.Error != nil {
		return nil, fmt.Errorf("update user: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, ErrUserNotFound
	}
	return s.userByID(ctx, id)
}

// addToken stores a one-time token in table.
func (s *Store) addToken(ctx context.Context, table string, tok *oneTimeToken) error {
	if err := s.db.WithContext(ctx).Table(table).Create(tok).Error; err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	return nil
}

// consumeToken marks the token with hash in table used at now, provided it exists, is
// unused and has not expired, then runs then (in the same transaction) for its user. Any
// failure of the token itself is ErrInvalidLink; of two concurrent consumers one wins.
func (s *Store) consumeToken(ctx context.Context, table, hash string, now time.Time, then func(tx *gorm.DB, userID string) error) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var tok oneTimeToken
		err := tx.Table(table).Where("token_hash = ?", hash).Take(&tok).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrInvalidLink
		}
		if err != nil {
			return fmt.Errorf("read token: %w", err)
		}
		// Expiry is compared here rather than in SQL: SQLite keeps times as text.
		if tok.UsedAt != nil || !now.Before(tok.ExpiresAt) {
			return ErrInvalidLink
		}
		res := tx.Table(table).Where("token_hash = ? AND used_at IS NULL", hash).Update("used_at", now)
		if res.Error != nil {
			return fmt.Errorf("use token: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrInvalidLink
		}
		return then(tx, tok.UserID)
	})
}
