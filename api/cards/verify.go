package cards

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
	"github.com/onstagehq/onstage/internal/authz"
)

// The signed API's headers.
const (
	HeaderKey       = "X-Onstage-Key"
	HeaderTimestamp = "X-Onstage-Timestamp"
	HeaderNonce     = "X-Onstage-Nonce"
	HeaderSignature = "X-Onstage-Signature"
)

// Signature limits: a timestamp more than MaxSkew off is stale; a nonce is remembered for
// NonceTTL (longer than twice MaxSkew, so a request cannot be replayed while its timestamp
// is still accepted).
const (
	MaxSkew  = 5 * time.Minute
	NonceTTL = 10 * time.Minute
)

// The stable codes of a verify or query answer.
const (
	CodeValid           = "VALID"
	CodeNotFound        = "NOT_FOUND"
	CodeExpired         = "EXPIRED"
	CodeDisabled        = "DISABLED"
	CodeDeviceMismatch  = "DEVICE_MISMATCH"
	CodeProjectDisabled = "PROJECT_DISABLED"
	CodeGrantExpired    = "GRANT_EXPIRED"
)

// StringToSign is what a client signs: METHOD, PATH, TIMESTAMP, NONCE and the lowercase
// hex SHA-256 of the raw body, joined by "\n".
func StringToSign(method, path, timestamp, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	return method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n" + hex.EncodeToString(sum[:])
}

// Sign returns the lowercase hex HMAC-SHA256 of StringToSign under secret (as a client
// computes X-Onstage-Signature).
func Sign(secret, method, path, timestamp, nonce string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(StringToSign(method, path, timestamp, nonce, body)))
	return hex.EncodeToString(m.Sum(nil))
}

// Authenticate checks a signed request and returns its project. The checks run in this
// order: unknown API key, stale timestamp, bad signature (constant-time, against the
// current secret and, within its grace period, the previous one), replayed nonce (kept in
// the shared cache, so a replay fails on any node), then the project's rate limit.
func (s *Service) Authenticate(ctx context.Context, method, path string, h http.Header, body []byte) (*Project, error) {
	apiKey := h.Get(HeaderKey)
	if apiKey == "" || len(apiKey) > 64 {
		return nil, ErrUnknownKey
	}
	var p Project
	err := s.db.WithContext(ctx).Where("api_key = ?", apiKey).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrUnknownKey
	}
	if err != nil {
		return nil, err
	}
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	now := s.clock()
	if err != nil || sec < now.Add(-MaxSkew).Unix() || sec > now.Add(MaxSkew).Unix() {
		return nil, ErrStaleTimestamp
	}
	nonce := h.Get(HeaderNonce)
	if len(nonce) < 8 || len(nonce) > 64 || !printable(nonce) {
		return nil, ErrBadSignature.WithMessage("X-Onstage-Nonce must be 8 to 64 printable ASCII characters")
	}
	got, err := hex.DecodeString(h.Get(HeaderSignature))
	if err != nil || len(got) != sha256.Size {
		return nil, ErrBadSignature
	}
	if !s.signatureMatches(&p, now, got, method, path, ts, nonce, body) {
		return nil, ErrBadSignature
	}
	fresh, err := s.cache.SetNX(ctx, "cards:nonce:"+p.ID+":"+nonce, []byte{1}, NonceTTL)
	if err != nil {
		s.log.ErrorContext(ctx, "cards: nonce cache", "err", err)
		return nil, apperr.ErrUnavailable
	}
	if !fresh {
		return nil, ErrReplayedNonce
	}
	if ok, retry, err := s.projectLimit.Allow(ctx, p.ID); err != nil {
		return nil, apperr.ErrUnavailable
	} else if !ok {
		return nil, apperr.ErrRateLimited.WithRetry(retry)
	}
	return &p, nil
}

func (s *Service) signatureMatches(p *Project, now time.Time, got []byte, method, path, ts, nonce string, body []byte) bool {
	msg := []byte(StringToSign(method, path, ts, nonce, body))
	try := func(enc string) bool {
		secret, err := s.seal.open(enc, p.ID)
		if err != nil {
			return false
		}
		m := hmac.New(sha256.New, secret)
		m.Write(msg)
		return hmac.Equal(m.Sum(nil), got)
	}
	if try(p.SecretEnc) {
		return true
	}
	return p.PrevSecretEnc != "" && p.PrevValidUntil != nil && now.Before(*p.PrevValidUntil) && try(p.PrevSecretEnc)
}

func printable(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// Result is the answer about a key.
type Result struct {
	Valid            bool       `json:"valid"`
	Code             string     `json:"code"`
	ExpiresAt        *time.Time `json:"expires_at,omitempty"`
	RemainingSeconds *int64     `json:"remaining_seconds,omitempty"`
	// License is the offline proof of a VALID verify: checkable with the project's public key.
	License *License `json:"license,omitempty"`
}

// License is a signed statement that key is bound to device until ExpiresAt.
type License struct {
	Algorithm string `json:"algorithm"`
	// Payload is base64url (no padding) of the JSON {project_id, key, device_id,
	// expires_at, issued_at}; Signature is base64url of Ed25519(payload bytes).
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

// Check is one verify (bind true: binds an unbound key to deviceID) or query (bind false)
// of key in project p. Every call is logged.
func (s *Service) Check(ctx context.Context, p *Project, key, deviceID string, bind bool, ip string) (Result, error) {
	key = normalizeKey(key)
	if key == "" || len(key) > 32 {
		return Result{}, fieldsErr(map[string]string{"key": "required"})
	}
	if bind && (deviceID == "" || len(deviceID) > 128 || !utf8.ValidString(deviceID)) {
		return Result{}, fieldsErr(map[string]string{"device_id": "required, at most 128 characters"})
	}
	if ok, retry, err := s.keyLimit.Allow(ctx, p.ID+":"+key); err != nil {
		return Result{}, apperr.ErrUnavailable
	} else if !ok {
		return Result{}, apperr.ErrRateLimited.WithRetry(retry)
	}
	r, k, activated, err := s.check(ctx, p, key, deviceID, bind)
	if err != nil {
		return Result{}, err
	}
	action := "query"
	if bind {
		action = "verify"
	}
	row := verificationRow{ProjectID: p.ID, DeviceID: deviceID, Action: action, Code: r.Code, IP: ip, CreatedAt: s.clock()}
	if k != nil {
		row.KeyID = k.ID
	}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		s.log.ErrorContext(ctx, "cards: log verification", "err", err)
	}
	if activated {
		s.hooks.activated(ctx, p, k)
	}
	if bind && r.Valid {
		lic, err := s.license(p, k)
		if err != nil {
			return Result{}, err
		}
		r.License = lic
	}
	return r, nil
}

func (s *Service) check(ctx context.Context, p *Project, key, deviceID string, bind bool) (Result, *Key, bool, error) {
	var k Key
	err := s.db.WithContext(ctx).Where("card_key = ? AND project_id = ?", key, p.ID).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Result{Code: CodeNotFound}, nil, false, nil
	}
	if err != nil {
		return Result{}, nil, false, err
	}
	if p.Disabled {
		return Result{Code: CodeProjectDisabled}, &k, false, nil
	}
	if k.Status == KeyDisabled {
		return Result{Code: CodeDisabled}, &k, false, nil
	}
	if ok, err := s.grantActive(ctx, s.db, p.ID, k.OwnerID); err != nil {
		return Result{}, nil, false, err
	} else if !ok {
		return Result{Code: CodeGrantExpired}, &k, false, nil
	}
	now := s.clock()
	activated := false
	if bind && k.DeviceID == nil && k.status(now) != KeyExpired {
		// Racing first uses: the conditional UPDATE lets exactly one device bind.
		q := s.db.WithContext(ctx).Model(&Key{}).Where("id = ? AND device_id IS NULL AND status = ?", k.ID, k.Status)
		cols := map[string]any{"device_id": deviceID, "updated_at": now}
		if k.Status == KeyUnused {
			exp := now.Add(time.Duration(k.ValidDays) * 24 * time.Hour)
			cols["status"], cols["activated_at"], cols["expires_at"] = KeyActive, now, exp
		}
		res := q.Updates(cols)
		if res.Error != nil {
			return Result{}, nil, false, res.Error
		}
		activated = res.RowsAffected == 1 && k.Status == KeyUnused
		if err := s.db.WithContext(ctx).Where("id = ?", k.ID).Take(&k).Error; err != nil {
			return Result{}, nil, false, err
		}
	}
	r := Result{Valid: true, Code: CodeValid}
	switch {
	case k.status(now) == KeyExpired:
		r = Result{Code: CodeExpired}
	case bind && (k.DeviceID == nil || *k.DeviceID != deviceID):
		r = Result{Code: CodeDeviceMismatch}
	}
	if k.ExpiresAt != nil {
		exp := k.ExpiresAt.UTC()
		left := int64(exp.Sub(now) / time.Second)
		if left < 0 {
			left = 0
		}
		r.ExpiresAt, r.RemainingSeconds = &exp, &left
	}
	return r, &k, activated, nil
}

func (s *Service) license(p *Project, k *Key) (*License, error) {
	priv, err := s.signingKey(p)
	if err != nil {
		return nil, err
	}
	payload, _ := json.Marshal(map[string]any{"project_id": p.ID, "key": k.Key, "device_id": *k.DeviceID,
		"expires_at": k.ExpiresAt.UTC().Format(time.RFC3339), "issued_at": s.clock().Format(time.RFC3339)})
	return &License{Algorithm: "Ed25519", Payload: base64.RawURLEncoding.EncodeToString(payload),
		Signature: base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, payload))}, nil
}

// Gate is what card-gated meetings ask (rooms.CardGate).
type Gate struct{ s *Service }

// Gate returns the meeting domain's view of the service.
func (s *Service) Gate() Gate { return Gate{s} }

// Check verifies key for projectID with the verify API's rules (binding deviceID on first
// use) and returns the code.
func (g Gate) Check(ctx context.Context, projectID, key, deviceID string) (string, error) {
	p, err := g.s.project(ctx, g.s.db, projectID)
	if errors.Is(err, ErrNotFound) {
		return CodeProjectDisabled, nil
	}
	if err != nil {
		return "", err
	}
	r, err := g.s.Check(ctx, p, key, deviceID, true, "")
	if err != nil {
		return "", err
	}
	return r.Code, nil
}

// CanUse reports whether caller may gate a meeting with projectID: a holder of
// cards:projects, the project's creator, or an agent with an unexpired grant of it.
// Anyone else gets ErrNotFound (the project's existence is not revealed).
func (g Gate) CanUse(ctx context.Context, caller authn.Identity, projectID string) error {
	p, err := g.s.project(ctx, g.s.db, projectID)
	if err != nil {
		return err
	}
	if p.CreatedBy == caller.UserID {
		return nil
	}
	if err := g.s.az.Can(ctx, caller, authz.CardsProjects, nil); err == nil {
		return nil
	}
	ok, err := g.s.grantActive(ctx, g.s.db, p.ID, caller.UserID)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound.WithMessage("no such project")
	}
	return nil
}
