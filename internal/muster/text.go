package muster

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on free text, in characters.
const (
	MaxEmailLen   = 254 // RFC 5321 path limit
	MaxNameLen    = 200
	MaxFeatureLen = 4000
)

// NormalizeEmail trims and lower-cases an address and checks that it is one
// bare mailbox (no display name, no CR/LF), since it becomes a login and a
// mail header. field names the input in the error message.
func NormalizeEmail(field, raw string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case s == "":
		return "", Invalid("invalid_email", "%s is empty", field)
	case hasControl(s):
		return "", Invalid("invalid_email", "%s %q contains a line break or control character", field, raw)
	case utf8.RuneCountInString(s) > MaxEmailLen:
		return "", Invalid("invalid_email", "%s is longer than %d characters", field, MaxEmailLen)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", Invalid("invalid_email", "%s %q is not a valid email address", field, raw)
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", Invalid("invalid_email", "%s %q has no valid domain", field, raw)
	}
	return s, nil
}

// Clip shortens s to at most n bytes on a rune boundary, marking the cut
// with "…": for what a file says that is shown back (headers, reasons).
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// CleanLine trims a one-line value (a name, a title) and refuses CR, LF and
// other control characters, because such values reach mail headers. field is
// the input's snake_case name; the error code is "invalid_" + field.
func CleanLine(field, raw string, max int) (string, error) {
	s := strings.TrimSpace(raw)
	if hasControl(s) {
		return "", Invalid("invalid_"+field, "%s contains a line break or control character", field)
	}
	if utf8.RuneCountInString(s) > max {
		return "", Invalid("invalid_"+field, "%s is longer than %d characters", field, max)
	}
	return s, nil
}

// CleanText trims free text that may span lines (a feature, a note). Line
// breaks and tabs stay; other control characters are dropped. HTML is kept
// as typed: it is escaped where it is shown, not mangled here.
func CleanText(field, raw string, max int) (string, error) {
	s := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return -1
	}, newlines.Replace(strings.TrimSpace(raw)))
	if utf8.RuneCountInString(s) > max {
		return "", Invalid("invalid_"+field, "%s is longer than %d characters", field, max)
	}
	return s, nil
}

var newlines = strings.NewReplacer("\r\n", "\n", "\r", "\n")

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}
