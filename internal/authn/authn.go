// Package authn owns onstage's token logic: minting and verifying access tokens (HS256 JWTs),
// signing opaque values such as resume tokens, reading a token from a request, and the HTTP
// middleware that puts the caller's Identity in the request context.
//
// Every node of a cluster shares one secret, so a token minted on one node verifies on all.
package authn

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Role is what a user may do. An admin is only ever made from the command line.
type Role string

// The roles.
const (
	RoleGuest    Role = "guest"
	RolePlayer   Role = "player"
	RoleStreamer Role = "streamer"
	RoleAgency   Role = "agency"
	RoleAdmin    Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleGuest, RolePlayer, RoleStreamer, RoleAgency, RoleAdmin:
		return true
	}
	return false
}

// Identity is who a verified token speaks for.
type Identity struct {
	UserID string
	Role   Role
	Name   string
}

// IsGuest reports whether the identity is a guest without an account.
func (id Identity) IsGuest() bool { return id.Role == RoleGuest }

var (
	// ErrInvalidToken is any token that fails verification: malformed, forged, expired, or
	// signed with another algorithm (alg=none included).
	ErrInvalidToken = errors.New("authn: invalid token")
	// ErrShortSecret is a signing secret under 32 bytes.
	ErrShortSecret = errors.New("authn: secret must be at least 32 bytes")
)

// Issuer mints and verifies tokens with one secret.
type Issuer struct {
	secret []byte
	now    func() time.Time
}

// NewIssuer returns an Issuer for secret.
func NewIssuer(secret []byte) (*Issuer, error) {
	if len(secret) < 32 {
		return nil, ErrShortSecret
	}
	return &Issuer{secret: secret, now: time.Now}, nil
}

// Session names the login an access token descends from, so that a long-lived consumer of the
// token (a WebSocket) can learn when that login is revoked. Tokens minted without one (guests,
// development tokens) carry the zero Session.
type Session struct {
	// Family is the refresh-token family of the login.
	Family string
	// Epoch is the user's revocation epoch when the token was minted; a later epoch revokes it.
	Epoch int64
}

type claims struct {
	Role Role   `json:"role"`
	Name string `json:"name,omitempty"`
	// Sid and Sep carry the Session.
	Sid string `json:"sid,omitempty"`
	Sep int64  `json:"sep,omitempty"`
	jwt.RegisteredClaims
}

const issuerName = "onstage"

// Mint returns an access token for id valid for ttl, and its expiry.
func (i *Issuer) Mint(id Identity, ttl time.Duration) (string, time.Time, error) {
	return i.MintSession(id, Session{}, ttl)
}

// MintSession returns an access token for id, belonging to the login s, valid for ttl, and
// its expiry.
func (i *Issuer) MintSession(id Identity, sess Session, ttl time.Duration) (string, time.Time, error) {
	now := i.now()
	exp := now.Add(ttl)
	c := claims{Role: id.Role, Name: id.Name, Sid: sess.Family, Sep: sess.Epoch, RegisteredClaims: jwt.RegisteredClaims{
		Subject: id.UserID, Issuer: issuerName,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(i.macKey("access"))
	return s, exp, err
}

// Verify checks an access token and returns its identity.
func (i *Issuer) Verify(token string) (Identity, error) {
	id, _, err := i.VerifySession(token)
	return id, err
}

// VerifySession checks an access token and returns its identity and the login it belongs to.
func (i *Issuer) VerifySession(token string) (Identity, Session, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return i.macKey("access"), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuerName), jwt.WithExpirationRequired(), jwt.WithTimeFunc(i.now))
	if err != nil || c.Subject == "" || !c.Role.Valid() {
		return Identity{}, Session{}, ErrInvalidToken
	}
	return Identity{UserID: c.Subject, Role: c.Role, Name: c.Name}, Session{Family: c.Sid, Epoch: c.Sep}, nil
}

// macKey derives a key per purpose, so a value signed for one purpose never verifies for another.
func (i *Issuer) macKey(purpose string) []byte {
	m := hmac.New(sha256.New, i.secret)
	m.Write([]byte("onstage/" + purpose))
	return m.Sum(nil)
}

// Sign returns payload and its MAC for purpose as one URL-safe string.
func (i *Issuer) Sign(purpose string, payload []byte) string {
	m := hmac.New(sha256.New, i.macKey(purpose))
	m.Write(payload)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(m.Sum(nil))
}

// Open verifies a value made by Sign for purpose and returns its payload.
func (i *Issuer) Open(purpose, signed string) ([]byte, error) {
	p, s, ok := strings.Cut(signed, ".")
	if !ok {
		return nil, ErrInvalidToken
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	sum, err2 := enc.DecodeString(s)
	if err1 != nil || err2 != nil {
		return nil, ErrInvalidToken
	}
	m := hmac.New(sha256.New, i.macKey(purpose))
	m.Write(payload)
	if !hmac.Equal(sum, m.Sum(nil)) {
		return nil, ErrInvalidToken
	}
	return payload, nil
}

// TokenFromRequest returns the bearer token of r's Authorization header. The REST API reads
// tokens only from there: a token in a URL ends up in proxy and access logs.
func TokenFromRequest(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return ""
	}
	if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "bearer") {
		return strings.TrimSpace(tok)
	}
	return ""
}

// TokenFromWebSocketRequest returns the token of a WebSocket upgrade: the Authorization
// header when present, or else the `token` query parameter, because a browser cannot set
// headers on a WebSocket. Only the /ws endpoint may use it.
func TokenFromWebSocketRequest(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		return TokenFromRequest(r)
	}
	return r.URL.Query().Get("token")
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity the middleware stored, if any.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Middleware authenticates requests. Authenticate stores the identity when a valid token is
// present and leaves anonymous requests alone; Require refuses anonymous ones (401) and, when
// roles are given, identities of other roles (403).
type Middleware struct {
	Issuer *Issuer
	// Reject writes a refusal; the REST layer plugs in its error shape.
	Reject func(w http.ResponseWriter, r *http.Request, status int)
}

// Authenticate verifies a token when one is present. A present but bad token is refused: a
// client that sent credentials should learn that they are bad.
func (m Middleware) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := TokenFromRequest(r)
		if tok == "" {
			next.ServeHTTP(w, r)
			return
		}
		id, err := m.Issuer.Verify(tok)
		if err != nil {
			m.Reject(w, r, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// Require refuses requests without an identity, or with a role not among roles (when given).
func (m Middleware) Require(roles ...Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := FromContext(r.Context())
			if !ok {
				m.Reject(w, r, http.StatusUnauthorized)
				return
			}
			if len(roles) > 0 && !slices.Contains(roles, id.Role) {
				m.Reject(w, r, http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Members are the roles of people with an account.
var Members = []Role{RolePlayer, RoleStreamer, RoleAgency, RoleAdmin}
