package auth

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/onstagehq/onstage/internal/apperr"
	"github.com/onstagehq/onstage/internal/authn"
)

// Limits of user input.
const (
	minPasswordChars  = 8
	maxPasswordBytes  = 72 // bcrypt ignores anything longer
	maxDisplayName    = 64
	maxEmailBytes     = 254
	displayNameReason = "must be 1 to 64 characters, without control characters"
)

// fieldErrs collects validation failures by field.
type fieldErrs map[string]string

func (f fieldErrs) err() error {
	if len(f) == 0 {
		return nil
	}
	return apperr.Invalidf(f)
}

// normalizeEmail returns the form emails are stored and looked up in.
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// checkEmail validates a normalized email address.
func (f fieldErrs) checkEmail(email string) {
	if email == "" {
		f["email"] = "required"
		return
	}
	addr, err := mail.ParseAddress(email)
	if len(email) > maxEmailBytes || err != nil || addr.Address != email || addr.Name != "" {
		f["email"] = "must be a valid email address"
	}
}

// checkPassword validates a new password under field.
func (f fieldErrs) checkPassword(field, pw string) {
	switch {
	case utf8.RuneCountInString(pw) < minPasswordChars:
		f[field] = "must be at least 8 characters"
	case len(pw) > maxPasswordBytes:
		f[field] = "must be at most 72 bytes"
	}
}

// cleanDisplayName trims name and validates it under "display_name".
func (f fieldErrs) cleanDisplayName(name string) string {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if n < 1 || n > maxDisplayName || strings.ContainsFunc(name, unicode.IsControl) {
		f["display_name"] = displayNameReason
	}
	return name
}

// selfServiceRole returns the role a registration asks for: player by default, streamer or
// agency on request; guest and admin are refused.
func (f fieldErrs) selfServiceRole(r authn.Role) authn.Role {
	switch r {
	case "":
		return authn.RolePlayer
	case authn.RolePlayer, authn.RoleStreamer, authn.RoleAgency:
		return r
	}
	f["role"] = "must be player, streamer or agency"
	return ""
}
