package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
	"github.com/onstagehq/onstage/internal/cache"
	"github.com/onstagehq/onstage/internal/config"
	"github.com/onstagehq/onstage/internal/mail"
)

// Lifetimes of the mailed one-time tokens.
const (
	verificationTTL = 24 * time.Hour
	resetTTL        = time.Hour
)

// ServiceParams are the Service's dependencies.
type ServiceParams struct {
	Store  *Store
	Cache  cache.Cache
	Issuer *authn.Issuer
	Mailer mail.Mailer
	// Config's zero fields take the defaults of config.Default().
	Config config.Auth
	// PublicURL is where users reach this service; mailed links start with it.
	PublicURL string
	Log       *slog.Logger
	// Now is the clock (default time.Now); tests move it instead of sleeping.
	Now func() time.Time
	// BcryptCost is the password hashing cost (default bcrypt.DefaultCost).
	BcryptCost int
	// Authz answers what a user's roles allow (GET /users/me).
	Authz *authz.Service
	// Verifier, when set, checks human verification tokens after repeated failed logins.
	Verifier Verifier
}

// Service holds the auth domain's rules. REST handlers, the command line and other
// domains call it; it never sees HTTP.
type Service struct {
	store     *Store
	cache     cache.Cache
	issuer    *authn.Issuer
	mailer    mail.Mailer
	cfg       config.Auth
	publicURL string
	log       *slog.Logger
	now       func() time.Time
	cost      int
	limiter   *cache.Limiter
	verifier  Verifier
	authz     *authz.Service

	dummyOnce sync.Once
	dummy     []byte // a hash to compare against when the email is unknown
}

// NewService returns a Service over p.
func NewService(p ServiceParams) *Service {
	def := config.Default().Auth
	cfg := p.Config
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = def.AccessTTL
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = def.RefreshTTL
	}
	if cfg.GuestTTL <= 0 {
		cfg.GuestTTL = def.GuestTTL
	}
	if cfg.MaxFailedLogin <= 0 {
		cfg.MaxFailedLogin = def.MaxFailedLogin
	}
	if cfg.LockoutFor <= 0 {
		cfg.LockoutFor = def.LockoutFor
	}
	if cfg.RatePerMinute <= 0 {
		cfg.RatePerMinute = def.RatePerMinute
	}
	s := &Service{
		store: p.Store, cache: p.Cache, issuer: p.Issuer, mailer: p.Mailer, cfg: cfg,
		publicURL: strings.TrimRight(p.PublicURL, "/"), log: p.Log, now: p.Now, cost: p.BcryptCost,
		verifier: p.Verifier, authz: p.Authz,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cost == 0 {
		s.cost = bcrypt.DefaultCost
	}
	s.limiter = cache.NewLimiter(p.Cache, keyRate, cfg.RatePerMinute, time.Minute)
	return s
}

// RegisterInput is a self-service registration.
type RegisterInput struct {
	Email       string     `json:"email"`
	Password    string     `json:"password"`
	DisplayName string     `json:"display_name"`
	Role        authn.Role `json:"role,omitempty"`
}

// Register creates a player, streamer or agency account and mails its email verification
// link. A taken email is ErrEmailTaken.
func (s *Service) Register(ctx context.Context, in RegisterInput) (*User, error) {
	f := fieldErrs{}
	role := f.selfServiceRole(in.Role)
	u, err := s.newUser(f, in.Email, in.Password, in.DisplayName, role)
	if err != nil {
		return nil, err
	}
	tok := randomToken()
	row := &oneTimeToken{TokenHash: hashToken(tok), UserID: u.ID, ExpiresAt: u.CreatedAt.Add(verificationTTL), CreatedAt: u.CreatedAt}
	if err := s.store.createUser(ctx, u, row); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user registered", "user_id", u.ID, "role", u.Role)
	s.send(ctx, mail.Message{
		To:      u.Email,
		Subject: "Confirm your email address",
		Text: fmt.Sprintf("Hello %s,\n\nconfirm your email address for onstage by opening this link within 24 hours:\n\n%s\n\nIf you did not sign up, ignore this message.\n",
			u.DisplayName, s.link("/verify-email?code="+tok)),
	})
	return u, nil
}

// CreateUser creates an account with any role but guest, admin included: it is the
// operator's path (the command line), so the email counts as verified and no mail is sent.
func (s *Service) CreateUser(ctx context.Context, email, password, displayName string, role authn.Role) (*User, error) {
	f := fieldErrs{}
	if !role.Valid() || role == authn.RoleGuest {
		f["role"] = "must be player, streamer, agency or admin"
	}
	u, err := s.newUser(f, email, password, displayName, role)
	if err != nil {
		return nil, err
	}
	verified := u.CreatedAt
	u.EmailVerifiedAt = &verified
	if err := s.store.createUser(ctx, u, nil); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user created", "user_id", u.ID, "role", u.Role)
	return u, nil
}

// newUser validates the input (adding to f) and returns the user to insert.
func (s *Service) newUser(f fieldErrs, email, password, displayName string, role authn.Role) (*User, error) {
	email = normalizeEmail(email)
	f.checkEmail(email)
	f.checkPassword("password", password)
	name := f.cleanDisplayName(displayName)
	if err := f.err(); err != nil {
		return nil, err
	}
	hash, err := s.hash(password)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new user id: %w", err)
	}
	now := s.now().UTC()
	return &User{
		ID: id.String(), Email: email, PasswordHash: hash, DisplayName: name, Role: role,
		CreatedAt: now, UpdatedAt: now,
	}, nil
}

// VerifyEmail consumes an email verification token and marks its user's email verified.
// An unknown, used or expired token is ErrInvalidLink.
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	if token == "" {
		return ErrInvalidLink
	}
	now := s.now().UTC()
	return s.store.consumeToken(ctx, verificationTable, hashToken(token), now, func(tx *gorm.DB, userID string) error {
		return tx.Model(&User{}).Where("id = ? AND email_verified_at IS NULL", userID).
			Update("email_verified_at", now).Error
	})
}

// UserByID returns the user with id, or ErrUserNotFound.
func (s *Service) UserByID(ctx context.Context, id string) (*User, error) {
	return s.store.userByID(ctx, id)
}

// MeView is the caller as GET /users/me shows it: the account with its roles and effective
// permissions (guests have neither).
type MeView struct {
	View
	Roles       []string      `json:"roles"`
	Permissions []authz.Grant `json:"permissions"`
}

// Me returns the caller's account, roles and effective permissions.
func (s *Service) Me(ctx context.Context, who authn.Identity) (*MeView, error) {
	u, err := s.store.userByID(ctx, who.UserID)
	if err != nil {
		return nil, err
	}
	me := &MeView{View: u.View(), Roles: []string{}, Permissions: []authz.Grant{}}
	if s.authz == nil {
		return me, nil
	}
	eff, err := s.authz.Effective(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if eff.Roles != nil {
		me.Roles = eff.Roles
	}
	if !eff.Locked {
		me.Permissions = eff.PermissionList()
	}
	return me, nil
}

// DisplayNames returns the display names of the users among ids (one query); ids without
// an account (guests, deleted users) are absent from the map.
func (s *Service) DisplayNames(ctx context.Context, ids []string) (map[string]string, error) {
	return s.store.displayNames(ctx, ids)
}

// UpdateMeInput changes the caller's own account; nil fields stay as they are.
type UpdateMeInput struct {
	DisplayName     *string `json:"display_name,omitempty"`
	Password        *string `json:"password,omitempty"`
	CurrentPassword *string `json:"current_password,omitempty"`
}

// UpdateMe changes the caller's display name and/or password. A new password needs the
// current one, and revokes every refresh token of the user. Guests have no account:
// ErrGuestForbidden.
func (s *Service) UpdateMe(ctx context.Context, who authn.Identity, in UpdateMeInput) (*User, error) {
	if who.IsGuest() {
		return nil, ErrGuestForbidden
	}
	u, err := s.store.userByID(ctx, who.UserID)
	if err != nil {
		return nil, err
	}
	f := fieldErrs{}
	cols := map[string]any{}
	if in.DisplayName != nil {
		cols["display_name"] = f.cleanDisplayName(*in.DisplayName)
	}
	if in.Password != nil {
		f.checkPassword("password", *in.Password)
		if in.CurrentPassword == nil || *in.CurrentPassword == "" {
			f["current_password"] = "required to change the password"
		}
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	if in.Password != nil {
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(*in.CurrentPassword)) != nil {
			return nil, apperr.Invalidf(map[string]string{"current_password": "does not match"})
		}
		hash, err := s.hash(*in.Password)
		if err != nil {
			return nil, err
		}
		cols["password_hash"] = hash
	}
	if len(cols) == 0 {
		return u, nil
	}
	cols["updated_at"] = s.now().UTC()
	u, err = s.store.updateUser(ctx, u.ID, cols)
	if err != nil {
		return nil, err
	}
	if in.Password != nil {
		if err := s.revokeAll(ctx, u.ID); err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "password changed", "user_id", u.ID)
		s.sendPasswordChanged(ctx, u)
	}
	return u, nil
}

// MintToken returns an access token for the user with the email or id given: the
// development token of the command line.
func (s *Service) MintToken(ctx context.Context, emailOrID string) (string, error) {
	var (
		u   *User
		err error
	)
	if strings.Contains(emailOrID, "@") {
		u, err = s.store.userByEmail(ctx, normalizeEmail(emailOrID))
	} else {
		u, err = s.store.userByID(ctx, emailOrID)
	}
	if err != nil {
		return "", err
	}
	tok, _, err := s.issuer.Mint(u.Identity(), s.cfg.AccessTTL)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return tok, nil
}

// hash returns the bcrypt hash of a password.
func (s *Service) hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when a login names an unknown email, so that answering
// takes as long as for a known one.
func (s *Service) dummyHash() []byte {
	s.dummyOnce.Do(func() {
		s.dummy, _ = bcrypt.GenerateFromPassword([]byte(randomToken()[:32]), s.cost)
	})
	return s.dummy
}

// link returns the absolute URL of path on this service.
func (s *Service) link(path string) string { return s.publicURL + path }

// send mails m. A mail that cannot be sent is logged, not returned: the action that sent
// it has happened, and the API must not reveal whether an address has an account.
func (s *Service) send(ctx context.Context, m mail.Message) {
	if err := s.mailer.Send(ctx, m); err != nil {
		s.log.ErrorContext(ctx, "send mail", "subject", m.Subject, "err", err)
	}
}

func (s *Service) sendPasswordChanged(ctx context.Context, u *User) {
	s.send(ctx, mail.Message{
		To:      u.Email,
		Subject: "Your onstage password was changed",
		Text: fmt.Sprintf("Hello %s,\n\nthe password of your onstage account was changed at %s, and every device was signed out.\nIf this was not you, reset your password at once.\n",
			u.DisplayName, s.now().UTC().Format(time.RFC1123)),
	})
}

// unavailable logs a cache failure and returns the error the caller sees.
func (s *Service) unavailable(ctx context.Context, op string, err error) error {
	s.log.ErrorContext(ctx, "auth: cache", "op", op, "err", err)
	return apperr.ErrUnavailable
}

// isMiss reports whether err is a cache miss.
func isMiss(err error) bool { return errors.Is(err, cache.ErrMiss) }
