package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/onstagehq/onstage/internal/apperr"
)

// captchaAfter is the number of failed logins for an account after which a login must carry
// a human verification token (when a Verifier is configured).
const captchaAfter = 3

// Verifier checks a human verification token from a browser widget.
type Verifier interface {
	// Verify returns nil for a valid token; ErrCaptchaRequired for a missing or rejected one.
	Verify(ctx context.Context, token, remoteIP string) error
	// Widget names the browser widget (turnstile, hcaptcha, recaptcha) and its public site key.
	Widget() (provider, siteKey string)
}

// HTTPVerifier speaks the siteverify protocol shared by reCAPTCHA, hCaptcha and Cloudflare
// Turnstile: a form POST of secret, response and remoteip, answered with {"success": bool}.
type HTTPVerifier struct {
	URL, Secret, Site string
	// Provider names the browser widget: turnstile, hcaptcha or recaptcha.
	Provider string
	Client   *http.Client
}

// errVerifierDown is the verification service failing; logins then fail closed.
var errVerifierDown = errors.New("auth: human verification service unavailable")

// Verify implements Verifier.
func (v *HTTPVerifier) Verify(ctx context.Context, token, remoteIP string) error {
	if token == "" || len(token) > 4096 {
		return ErrCaptchaRequired
	}
	form := url.Values{"secret": {v.Secret}, "response": {token}}
	if remoteIP != "" {
		form.Set("remoteip", remoteIP)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%w: %v", errVerifierDown, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := v.Client
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errVerifierDown, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: status %s", errVerifierDown, strconv.Itoa(res.StatusCode))
	}
	var body struct {
		Success bool `json:"success"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&body); err != nil {
		return fmt.Errorf("%w: %v", errVerifierDown, err)
	}
	if !body.Success {
		return ErrCaptchaRequired
	}
	return nil
}

// Widget implements Verifier.
func (v *HTTPVerifier) Widget() (string, string) { return v.Provider, v.Site }

// checkHuman demands a verified token once the account behind emailKey has captchaAfter
// failed logins in a row. Without a Verifier (the default) it does nothing.
func (s *Service) checkHuman(ctx context.Context, emailKey string, in LoginInput) error {
	if s.verifier == nil {
		return nil
	}
	raw, err := s.cache.Get(ctx, keyFailures+emailKey)
	if isMiss(err) {
		return nil
	}
	if err != nil {
		return s.unavailable(ctx, "read failures", err)
	}
	if n, _ := strconv.Atoi(string(raw)); n < captchaAfter {
		return nil
	}
	err = s.verifier.Verify(ctx, in.CaptchaToken, in.IP)
	if errors.Is(err, errVerifierDown) {
		// Fail closed: an attacker must not get past the check by making it fail.
		s.log.ErrorContext(ctx, "auth: human verification", "err", err)
		return apperr.ErrUnavailable.WithMessage("human verification is unavailable; try again later")
	}
	if err != nil {
		provider, site := s.verifier.Widget()
		return ErrCaptchaRequired.WithFields(map[string]string{"provider": provider, "site_key": site})
	}
	return nil
}
