package muster

import "strings"

// Locale is the language of an email: Russian by default, English on request.
type Locale string

const (
	Russian Locale = "ru"
	English Locale = "en"
)

// DefaultLocale is used when nobody asked for a language.
const DefaultLocale = Russian

// Locales lists the languages Muster writes mail in.
var Locales = []Locale{Russian, English}

// ParseLocale accepts "", "ru", "en" and regional forms such as "en-US" or
// "ru_RU" in any case. The empty string means DefaultLocale.
func ParseLocale(field, raw string) (Locale, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	if s == "" {
		return DefaultLocale, nil
	}
	if i := strings.IndexAny(s, "-_"); i > 0 {
		s = s[:i]
	}
	for _, l := range Locales {
		if string(l) == s {
			return l, nil
		}
	}
	return "", Invalid("unsupported_locale", "%s %q is not supported; use \"ru\" or \"en\"", field, raw)
}
