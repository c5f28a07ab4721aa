package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/onstagehq/onstage/internal/authn"
)

// tokenType is the token_type of every token answer.
const tokenType = "Bearer"

// LoginInput is a login.
type LoginInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// CaptchaToken is the human verification widget's token, required after
	// captchaAfter failed logins when a Verifier is configured.
	CaptchaToken string `json:"captcha_token,omitempty"`
	// IP is the client address (set by the handler, passed to the Verifier).
	IP string `json:"-"`
}

// Login checks credentials and returns a new access and refresh token pair. Wrong
// credentials are ErrInvalidCredentials; MaxFailedLogin failures in a row lock the account
// for LockoutFor, during which every login, with the right password too, is
// ErrAccountLocked carrying the time left. A successful login forgets past failures.
func (s *Service) Login(ctx context.Context, in LoginInput) (*Tokens, error) {
	email := normalizeEmail(in.Email)
	emailKey := hashToken(email)
	left, err := s.lockedFor(ctx, emailKey)
	if err != nil {
		return nil, err
	}
	if left > 0 {
		return nil, ErrAccountLocked.WithRetry(left)
	}
	if err := s.checkHuman(ctx, emailKey, in); err != nil {
		return nil, err
	}
	u, err := s.store.userByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrUserNotFound):
		_ = bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(in.Password))
	case err != nil:
		return nil, err
	}
	if u == nil || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(in.Password)) != nil {
		if err := s.recordFailure(ctx, emailKey); err != nil {
			return nil, err
		}
		return nil, ErrInvalidCredentials
	}
	if err := s.clearFailures(ctx, emailKey); err != nil {
		return nil, err
	}
	return s.issue(ctx, u, randomID(16), 1)
}

// refreshRecord is what the cache keeps about a live refresh token.
type refreshRecord struct {
	UserID string `json:"u"`
	// Family is the login the token descends from; Gen counts rotations within it.
	Family string `json:"f"`
	Gen    int    `json:"g"`
	// Epoch is the user's revocation epoch when the token was issued.
	Epoch int64 `json:"e"`
	// Expires is the token's end (unix nanoseconds), read against the service clock.
	Expires int64 `json:"x"`
}

// issue mints an access token for u and a refresh token of family (generation gen).
func (s *Service) issue(ctx context.Context, u *User, family string, gen int) (*Tokens, error) {
	if u.LockedAt != nil {
		return nil, ErrAccountDisabled
	}
	epoch, err := s.epoch(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	// The access token names its login, so that a socket opened with it can be closed when
	// the login is revoked (SessionValid).
	access, _, err := s.issuer.MintSession(u.Identity(), authn.Session{Family: family, Epoch: epoch}, s.cfg.AccessTTL)
	if err != nil {
		return nil, fmt.Errorf("mint access token: %w", err)
	}
	refresh := randomToken()
	rec, _ := json.Marshal(refreshRecord{
		UserID: u.ID, Family: family, Gen: gen, Epoch: epoch,
		Expires: s.now().Add(s.cfg.RefreshTTL).UnixNano(),
	})
	if err := s.cache.Set(ctx, keyRefresh+hashToken(refresh), rec, s.cfg.RefreshTTL); err != nil {
		return nil, s.unavailable(ctx, "store refresh token", err)
	}
	return &Tokens{
		AccessToken: access, RefreshToken: refresh, TokenType: tokenType,
		ExpiresIn: int(s.cfg.AccessTTL / time.Second), User: u.View(),
	}, nil
}

// Refresh exchanges a refresh token for a new pair; the token presented is spent. A token
// presented a second time means it leaked (or a client misbehaves): its whole family is
// revoked, the newest token included. Anything wrong is ErrInvalidRefresh.
func (s *Service) Refresh(ctx context.Context, token string) (*Tokens, error) {
	if token == "" {
		return nil, ErrInvalidRefresh
	}
	h := hashToken(token)
	raw, err := s.cache.GetDel(ctx, keyRefresh+h)
	if isMiss(err) {
		return nil, s.reused(ctx, h)
	}
	if err != nil {
		return nil, s.unavailable(ctx, "take refresh token", err)
	}
	var rec refreshRecord
	if json.Unmarshal(raw, &rec) != nil {
		return nil, ErrInvalidRefresh
	}
	now := s.now()
	left := time.Unix(0, rec.Expires).Sub(now)
	if left <= 0 {
		return nil, ErrInvalidRefresh
	}
	// Remember the spent token for as long as it would have lived, to catch its reuse.
	if err := s.cache.Set(ctx, keyRefreshUsed+h, []byte(rec.Family), left); err != nil {
		return nil, s.unavailable(ctx, "mark refresh token used", err)
	}
	if err := s.checkFamily(ctx, rec); err != nil {
		return nil, err
	}
	u, err := s.store.userByID(ctx, rec.UserID)
	if errors.Is(err, ErrUserNotFound) {
		return nil, ErrInvalidRefresh
	}
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, u, rec.Family, rec.Gen+1)
}

// checkFamily refuses a token whose family was revoked, or which predates its user's
// revocation epoch.
func (s *Service) checkFamily(ctx context.Context, rec refreshRecord) error {
	_, err := s.cache.Get(ctx, keyFamilyDead+rec.Family)
	switch {
	case err == nil:
		return ErrInvalidRefresh
	case !isMiss(err):
		return s.unavailable(ctx, "read family", err)
	}
	epoch, err := s.epoch(ctx, rec.UserID)
	if err != nil {
		return err
	}
	if rec.Epoch < epoch {
		return ErrInvalidRefresh
	}
	return nil
}

// reused handles a refresh token that is not live: when it was spent before, its family
// is revoked. It returns the error for the caller either way.
func (s *Service) reused(ctx context.Context, h string) error {
	fam, err := s.cache.Get(ctx, keyRefreshUsed+h)
	if isMiss(err) {
		return ErrInvalidRefresh
	}
	if err != nil {
		return s.unavailable(ctx, "read used refresh token", err)
	}
	if err := s.revokeFamily(ctx, string(fam)); err != nil {
		return err
	}
	s.log.WarnContext(ctx, "refresh token reused; session revoked", "family", string(fam))
	return ErrInvalidRefresh
}

// revokeFamily revokes every token of a family. The mark outlives any of its tokens:
// none was issued before now, and each lives RefreshTTL at most.
func (s *Service) revokeFamily(ctx context.Context, family string) error {
	if err := s.cache.Set(ctx, keyFamilyDead+family, []byte("1"), s.cfg.RefreshTTL); err != nil {
		return s.unavailable(ctx, "revoke family", err)
	}
	return nil
}

// Logout revokes a refresh token and its family. Unknown tokens are ignored.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	raw, err := s.cache.GetDel(ctx, keyRefresh+hashToken(token))
	if isMiss(err) {
		return nil
	}
	if err != nil {
		return s.unavailable(ctx, "revoke refresh token", err)
	}
	var rec refreshRecord
	if json.Unmarshal(raw, &rec) != nil || rec.Family == "" {
		return nil
	}
	return s.revokeFamily(ctx, rec.Family)
}

// SessionValid reports whether the login an access token belongs to still stands: its
// refresh-token family is not revoked (logout, reuse) and its user's sessions were not all
// revoked since it was minted (password change or reset). A token without a session (a
// guest's, a development token) has nothing to revoke and stays valid until it expires.
func (s *Service) SessionValid(ctx context.Context, userID string, sess authn.Session) (bool, error) {
	if sess.Family == "" {
		return true, nil
	}
	_, err := s.cache.Get(ctx, keyFamilyDead+sess.Family)
	switch {
	case err == nil:
		return false, nil
	case !isMiss(err):
		return false, s.unavailable(ctx, "read family", err)
	}
	epoch, err := s.epoch(ctx, userID)
	if err != nil {
		return false, err
	}
	return sess.Epoch >= epoch, nil
}

// epoch returns the user's revocation epoch: refresh tokens issued under an older one are
// revoked. 0 when none was ever set (or it expired, which only happens once every token
// issued before it has expired too).
func (s *Service) epoch(ctx context.Context, userID string) (int64, error) {
	raw, err := s.cache.Get(ctx, keyEpoch+userID)
	if isMiss(err) {
		return 0, nil
	}
	if err != nil {
		return 0, s.unavailable(ctx, "read epoch", err)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, nil
	}
	return n, nil
}

// revokeAll revokes every refresh token of the user by moving its epoch past every value
// it held before. The new epoch is the current time when that is larger, so an epoch that
// expired and comes back never falls behind tokens issued under the old one.
// RevokeSessions revokes every login of the user (an admin locked it): refresh tokens stop
// working and its sockets are closed at the hub's next check.
func (s *Service) RevokeSessions(ctx context.Context, userID string) error {
	return s.revokeAll(ctx, userID)
}

func (s *Service) revokeAll(ctx context.Context, userID string) error {
	cur, err := s.epoch(ctx, userID)
	if err != nil {
		return err
	}
	next := max(s.now().UnixNano(), cur+1)
	if err := s.cache.Set(ctx, keyEpoch+userID, []byte(strconv.FormatInt(next, 10)), s.cfg.RefreshTTL); err != nil {
		return s.unavailable(ctx, "revoke sessions", err)
	}
	return nil
}

// GuestInput asks for a guest token.
type GuestInput struct {
	DisplayName string `json:"display_name"`
}

// Guest returns an access token for a guest without an account: role guest, a random
// guest_ id, valid for GuestTTL. Guests are not stored.
func (s *Service) Guest(ctx context.Context, in GuestInput) (*GuestToken, error) {
	f := fieldErrs{}
	name := f.cleanDisplayName(in.DisplayName)
	if err := f.err(); err != nil {
		return nil, err
	}
	id := authn.Identity{UserID: "guest_" + randomID(12), Role: authn.RoleGuest, Name: name}
	tok, _, err := s.issuer.Mint(id, s.cfg.GuestTTL)
	if err != nil {
		return nil, fmt.Errorf("mint guest token: %w", err)
	}
	return &GuestToken{
		AccessToken: tok, TokenType: tokenType, ExpiresIn: int(s.cfg.GuestTTL / time.Second),
		User: GuestViewOf(id),
	}, nil
}

// GuestViewOf returns a guest identity as the API shows it.
func GuestViewOf(id authn.Identity) GuestView {
	return GuestView{ID: id.UserID, DisplayName: id.Name, Role: id.Role}
}
