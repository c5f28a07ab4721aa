package auth

import (
	"time"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/db"
)

// Migrations returns the auth domain's schema steps. Each step describes its tables with
// its own frozen types, never with the live models.
func Migrations() []db.Migration {
	return []db.Migration{
		{ID: "0001_auth_users", Up: migrateUsersV1},
		{ID: "0001_auth_verification_tokens", Up: func(tx *gorm.DB) error {
			return tx.Migrator().CreateTable(&verificationTokenV1{})
		}},
		{ID: "0001_auth_reset_tokens", Up: func(tx *gorm.DB) error {
			return tx.Migrator().CreateTable(&resetTokenV1{})
		}},
		{ID: "0120_auth_users_parent_lock", Up: migrateUsersV2},
	}
}

// userV1 is the users table as 0001_auth_users created it.
type userV1 struct {
	ID              string     `gorm:"primaryKey;size:36"`
	Email           string     `gorm:"size:254;not null;uniqueIndex:idx_users_email"`
	PasswordHash    string     `gorm:"size:255;not null"`
	DisplayName     string     `gorm:"size:64;not null"`
	Role            string     `gorm:"size:16;not null"`
	EmailVerifiedAt *time.Time ``
	CreatedAt       time.Time  `gorm:"not null"`
	UpdatedAt       time.Time  `gorm:"not null"`
}

func (userV1) TableName() string { return "users" }

func migrateUsersV1(tx *gorm.DB) error { return tx.Migrator().CreateTable(&userV1{}) }

// verificationTokenV1 is email_verification_tokens as 0001_auth_verification_tokens created it.
type verificationTokenV1 struct {
	TokenHash string     `gorm:"primaryKey;size:64"`
	UserID    string     `gorm:"size:36;not null;index:idx_email_verification_tokens_user"`
	ExpiresAt time.Time  `gorm:"not null"`
	UsedAt    *time.Time ``
	CreatedAt time.Time  `gorm:"not null"`
}

func (verificationTokenV1) TableName() string { return "email_verification_tokens" }

// resetTokenV1 is password_reset_tokens as 0001_auth_reset_tokens created it.
type resetTokenV1 struct {
	TokenHash string     `gorm:"primaryKey;size:64"`
	UserID    string     `gorm:"size:36;not null;index:idx_password_reset_tokens_user"`
	ExpiresAt time.Time  `gorm:"not null"`
	UsedAt    *time.Time ``
	CreatedAt time.Time  `gorm:"not null"`
}

func (resetTokenV1) TableName() string { return "password_reset_tokens" }

// userV2 adds to users who created the account (an agent admin's scope covers the users it
// created) and when an admin locked it.
type userV2 struct {
	ParentID *string    `gorm:"size:36;index:idx_users_parent"`
	LockedAt *time.Time ``
}

func (userV2) TableName() string { return "users" }

func migrateUsersV2(tx *gorm.DB) error {
	for _, col := range []string{"ParentID", "LockedAt"} {
		if err := tx.Migrator().AddColumn(&userV2{}, col); err != nil {
			return err
		}
	}
	return tx.Migrator().CreateIndex(&userV2{}, "idx_users_parent")
}
