package muster

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzNormalizeEmail: an accepted address is clean, stable, and safe in a
// header; a refusal is an invalid_email naming the field.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"anna@example.com", " Anna@Example.COM ", "иван@пример.рф", "x@[127.0.0.1]",
		"vic\u200btim@x.test", "a@b.com\r\nBcc: c@d.com", "\"quoted local\"@x.test", "a@b", "\xff@x.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := NormalizeEmail("email", raw)
		if err != nil {
			if ErrorCode(err) != "invalid_email" || !strings.Contains(err.Error(), "email") {
				t.Fatalf("refusal %v", err)
			}
			return
		}
		again, err := NormalizeEmail("email", got)
		if err != nil || again != got {
			t.Fatalf("%q normalizes to %q, then to %q (%v)", raw, got, again, err)
		}
		if !utf8.ValidString(got) || strings.ContainsAny(got, "\r\n\x00<>[], ") {
			t.Fatalf("accepted %q", got)
		}
		for _, r := range got {
			if unicode.Is(unicode.Cf, r) || unicode.IsControl(r) || r == utf8.RuneError {
				t.Fatalf("accepted %q with U+%04X", got, r)
			}
		}
	})
}

// FuzzListQuery: the list's query string either is refused as bad input or
// yields a query whose values PostgreSQL takes as they are.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{"", "q=designers&limit=10&sort=-full_name", "columns=email,phone&stage=registered",
		"q=a%00b", "cursor=%ff", "limit=0", "incomplete=maybe", "send_status=bounced&tax_status=none", "x=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := NewListQuery(1, v)
		if err != nil {
			if ErrorKind(err) != KindInvalid {
				t.Fatalf("refusal of kind %d: %v", ErrorKind(err), err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxPageSize || len(q.Columns) == 0 {
			t.Fatalf("query %+v", q)
		}
		for _, s := range []string{q.Q, q.Cursor, q.Sort, q.Stage, q.Status, q.SendStatus, q.TaxStatus} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("value %q reaches PostgreSQL", s)
			}
		}
	})
}

// FuzzNewEvent: an onboarding event is refused as bad input or is one
// PostgreSQL stores.
func FuzzNewEvent(f *testing.F) {
	f.Add("anna@example.com", "registered", "2026-11-22T10:30:00Z", "Анна", "+79161234567", "")
	f.Add("anna@example.com", "tax_status_set", "2026-11-22T10:30:00+03:00", "", "", "self_employed")
	f.Add("a@b.co", "registered", "0001-01-01T00:00:00Z", "\u202e", "\x00", "x")
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, email, typ, at, name, phone, tax string) {
		ev, err := NewEvent(email, typ, at, name, phone, tax, now)
		if err != nil {
			if ErrorKind(err) != KindInvalid {
				t.Fatalf("refusal of kind %d: %v", ErrorKind(err), err)
			}
			return
		}
		if ev.At.Year() < 2000 || ev.At.After(now.Add(maxClockSkew)) {
			t.Fatalf("at %v", ev.At)
		}
		for _, s := range []string{ev.FullName, ev.Phone} {
			if CheckText("x", s, false) != nil || strings.ContainsAny(s, "\r\n") {
				t.Fatalf("value %q accepted", s)
			}
		}
	})
}

// FuzzNewInvite: an invitation is refused as bad input or holds values
// that are clean for headers and PostgreSQL.
func FuzzNewInvite(f *testing.F) {
	f.Add("anna@example.com", "Анна", "Figma\nUI", "en")
	f.Add("x@[127.0.0.1]", "Call +1 555 0100\u202e", "<script>", "de")
	f.Fuzz(func(t *testing.T, email, name, feature, locale string) {
		in, err := NewInvite(1, email, name, feature, []int64{1, 2, 2}, locale)
		if err != nil {
			if ErrorKind(err) != KindInvalid {
				t.Fatalf("refusal of kind %d: %v", ErrorKind(err), err)
			}
			return
		}
		if CheckText("full_name", in.FullName, false) != nil || strings.ContainsAny(in.FullName, "\r\n") {
			t.Fatalf("name %q accepted", in.FullName)
		}
		if CheckText("feature", in.Feature, true) != nil {
			t.Fatalf("feature %q accepted", in.Feature)
		}
		if in.Locale != Russian && in.Locale != English {
			t.Fatalf("locale %q", in.Locale)
		}
	})
}
