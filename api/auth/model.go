// Package auth is onstage's accounts domain: registration with email verification, login
// with lockout, rotating refresh tokens, password reset, guest tokens and the caller's own
// profile. Model, store, service and HTTP handler live side by side here.
package auth

import (
	"time"

	"github.com/onstagehq/onstage/internal/authn"
)

// User is an account. Guests have none.
type User struct {
	ID              string `gorm:"primaryKey"`
	Email           string // lower-cased; unique
	PasswordHash    string
	DisplayName     string
	Role            authn.Role
	EmailVerifiedAt *time.Time
	// ParentID is the user that created this account (an agent admin's scope).
	ParentID *string
	// LockedAt is when an admin locked the account; a superior unlocks it.
	LockedAt  *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TableName is the users table.
func (User) TableName() string { return "users" }

// Identity is the access-token identity of u.
func (u *User) Identity() authn.Identity {
	return authn.Identity{UserID: u.ID, Role: u.Role, Name: u.DisplayName}
}

// View is a user as the API shows it.
type View struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	DisplayName   string     `json:"display_name"`
	Role          authn.Role `json:"role"`
	EmailVerified bool       `json:"email_verified"`
	CreatedAt     time.Time  `json:"created_at"`
}

// View returns u as the API shows it: no password hash, times in UTC.
func (u *User) View() View {
	return View{
		ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Role: u.Role,
		EmailVerified: u.EmailVerifiedAt != nil, CreatedAt: u.CreatedAt.UTC(),
	}
}

// GuestView is a guest as the API shows it: only what its token carries.
type GuestView struct {
	ID          string     `json:"id"`
	DisplayName string     `json:"display_name"`
	Role        authn.Role `json:"role"`
}

// Tokens is the answer to a login or a refresh.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	User         View   `json:"user"`
}

// GuestToken is the answer to a guest sign-in: an access token only.
type GuestToken struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresIn   int       `json:"expires_in"`
	User        GuestView `json:"user"`
}

// oneTimeToken is a row of email_verification_tokens or password_reset_tokens: the
// sha256 of a token mailed to a user, its expiry and when it was used.
type oneTimeToken struct {
	TokenHash string `gorm:"primaryKey"`
	UserID    string
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
}

// Table names of the one-time tokens.
const (
	verificationTable = "email_verification_tokens"
	resetTable        = "password_reset_tokens"
)
