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
// mail header. Invisible formatting characters and address literals
// (x@[127.0.0.1]) are refused: the first make two logins look alike, the
// second mail hosts by number. Internationalized domains are kept as typed.
// field names the input in the error message.
func NormalizeEmail(field, raw string) (string, error) {
	if err := CheckText(field, raw, false); err != nil {
		return "", Invalid("invalid_email", "%s", err.(*Error).Message)
	}
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
	if strings.HasPrefix(domain, "[") {
		return "", Invalid("invalid_email", "%s %q names a host by address; use a domain name", field, raw)
	}
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
// other control characters, because such values reach mail headers, and
// invisible formatting characters, which can make a name read backwards.
// field is the input's snake_case name; the error code is "invalid_" + field.
func CleanLine(field, raw string, max int) (string, error) {
	if err := CheckText(field, raw, false); err != nil {
		return "", err
	}
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
// breaks and tabs stay; other control characters but NUL are dropped. HTML
// is kept as typed: it is escaped where it is shown, not mangled here.
// Joiners stay (emoji and some scripts need them); bidi overrides do not.
func CleanText(field, raw string, max int) (string, error) {
	if err := CheckText(field, raw, true); err != nil {
		return "", err
	}
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

// CheckText refuses what no input may hold: invalid UTF-8, NUL, and bidi
// controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C). Unless
// multiline free text is allowed its other invisible formatting characters
// (joiners), every character of Unicode category Cf is refused too. The
// error is "invalid_" + field, and its message names the field and the
// character's position.
func CheckText(field, s string, freeText bool) error {
	pos := 0
	for i, r := range s {
		pos++
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return Invalid("invalid_"+field, "%s is not valid UTF-8 (byte %d)", field, i+1)
		case r == utf8.RuneError && !freeText:
			// A JSON decoder turns invalid UTF-8 into U+FFFD; no name or
			// address holds one on purpose.
			return Invalid("invalid_"+field, "%s is not valid UTF-8: it holds U+FFFD (character %d)", field, pos)
		case r == 0:
			return Invalid("invalid_"+field, "%s contains a NUL character (character %d)", field, pos)
		case unicode.Is(unicode.Bidi_Control, r):
			return Invalid("invalid_"+field, "%s contains the bidirectional control U+%04X (character %d)", field, r, pos)
		case !freeText && unicode.Is(unicode.Cf, r):
			return Invalid("invalid_"+field, "%s contains the invisible formatting character U+%04X (character %d)", field, r, pos)
		}
	}
	return nil
}

var newlines = strings.NewReplacer("\r\n", "\n", "\r", "\n")

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}
