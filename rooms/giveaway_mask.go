package rooms

import (
	"strings"
	"unicode/utf8"
)

// maskName hides most of a display name: one rune kept for names of up to three runes, two
// for longer ones, always followed by "**" so the length does not show ("Kimberly" → "Ki**",
// "김철수" → "김**", "Bo" → "B**").
func maskName(name string) string {
	r := []rune(strings.TrimSpace(name))
	switch {
	case len(r) == 0:
		return "**"
	case len(r) <= 3:
		return string(r[:1]) + "**"
	}
	return string(r[:2]) + "**"
}

// maskContact hides a phone number or an e-mail address: "010-1234-5678" → "010-****-5678",
// "alice@example.com" → "a***@example.com".
func maskContact(c string) string {
	if c == "" {
		return ""
	}
	if at := strings.LastIndexByte(c, '@'); at >= 0 {
		first, _ := utf8.DecodeRuneInString(c)
		return string(first) + "***" + c[at:]
	}
	// A phone number: every digit but the first three and the last four becomes '*'; the
	// separators stay.
	digits := 0
	for i := 0; i < len(c); i++ {
		if c[i] >= '0' && c[i] <= '9' {
			digits++
		}
	}
	b := []byte(c)
	seen := 0
	for i := range b {
		if b[i] < '0' || b[i] > '9' {
			continue
		}
		if seen >= 3 && seen < digits-4 {
			b[i] = '*'
		}
		seen++
	}
	return string(b)
}

// validContact reports whether c is an e-mail address or a phone number (7 to 15 digits,
// with optional "+", spaces, dashes, dots and parentheses).
func validContact(c string) bool {
	if len(c) > 100 || !utf8.ValidString(c) {
		return false
	}
	if at := strings.LastIndexByte(c, '@'); at >= 0 {
		local, domain := c[:at], c[at+1:]
		return local != "" && !strings.ContainsAny(c, " \t\r\n\x00") &&
			strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") &&
			!strings.Contains(local, "@")
	}
	digits := 0
	for i := 0; i < len(c); i++ {
		switch ch := c[i]; {
		case ch >= '0' && ch <= '9':
			digits++
		case ch == '+' && i == 0, ch == ' ', ch == '-', ch == '.', ch == '(', ch == ')':
		default:
			return false
		}
	}
	return digits >= 7 && digits <= 15
}
