package workbook

import (
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/muster-dev/muster/internal/muster"
)

// Row is one data row of the file: its cells as read (for the error
// report), and the values Muster understood from them, or what is wrong.
type Row struct {
	muster.ImportRow
	Raw    []string
	Errors []muster.RowError
}

// Failed reports whether the row cannot be imported.
func (r *Row) Failed() bool { return len(r.Errors) > 0 }

// cell cleans a value as read: surrounding spaces (no-break spaces
// included) go, and the apostrophe that the error report puts before text
// that would otherwise look like a formula ('=…, '+…, '-…, '@…) is
// taken off again, so a corrected report imports exactly what was typed.
func cell(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1 && s[0] == '\'' && strings.IndexByte(formulaStart, s[1]) >= 0 {
		s = s[1:]
	}
	return s
}

// formulaStart are the first characters that make a spreadsheet read text
// as a formula.
const formulaStart = "=+-@"

// parseRow normalizes and validates one row. Every problem is reported
// with the column it is in.
func (h *Header) parseRow(line int, raw []string) Row {
	row := Row{Raw: raw}
	row.Line = line
	var first, middle, last, features []string
	emailCol, nameCol, phoneCol, langCol, englishCol, managerCol, featureCol := -1, -1, -1, -1, -1, -1, -1
	var email, name, phone, lang, english, managers string
	for i, f := range h.fields {
		if i >= len(raw) || f == fieldNone {
			continue
		}
		v := cell(raw[i])
		switch f {
		case fieldEmail:
			email, emailCol = v, i
		case fieldFullName:
			name, nameCol = v, i
		case fieldFirstName:
			first = appendNonEmpty(first, v)
			nameCol = i
		case fieldMiddleName:
			middle = appendNonEmpty(middle, v)
		case fieldLastName:
			last = appendNonEmpty(last, v)
			if nameCol < 0 {
				nameCol = i
			}
		case fieldPhone:
			phone, phoneCol = v, i
		case fieldFeature:
			features = appendNonEmpty(features, v)
			if featureCol < 0 {
				featureCol = i
			}
		case fieldManager:
			managers, managerCol = joinNonEmpty(managers, v), i
		case fieldLanguage:
			lang, langCol = v, i
		case fieldEnglish:
			english, englishCol = v, i
		}
	}
	if name == "" {
		name = strings.Join(append(append(first, middle...), last...), " ")
	}
	fail := func(col int, err error) {
		row.Errors = append(row.Errors, muster.CellError(line, h.column(col), err))
	}
	var err error
	if row.Email, err = muster.NormalizeEmail("email", email); err != nil {
		fail(max(emailCol, h.emailColumn()), err)
	}
	if row.FullName, err = muster.CleanLine("full_name", name, muster.MaxNameLen); err != nil {
		fail(nameCol, err)
	}
	if row.Phone, err = normalizePhone(phone); err != nil {
		fail(phoneCol, err)
	}
	if row.Feature, err = muster.CleanText("feature", strings.Join(features, "\n"), muster.MaxFeatureLen); err != nil {
		fail(featureCol, err)
	}
	switch {
	case lang != "":
		if row.Locale, err = muster.ParseLanguage("language", lang); err != nil {
			fail(langCol, err)
		}
	default:
		if row.Locale, err = muster.ParseEnglishFlag(h.column(englishCol), english); err != nil {
			fail(englishCol, err)
		}
	}
	for _, m := range strings.FieldsFunc(managers, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		addr, err := muster.NormalizeEmail("manager", m)
		if err != nil {
			fail(managerCol, err)
			continue
		}
		row.Managers = append(row.Managers, addr)
	}
	return row
}

func (h *Header) emailColumn() int {
	for i, f := range h.fields {
		if f == fieldEmail {
			return i
		}
	}
	return 0
}

func appendNonEmpty(list []string, v string) []string {
	if v == "" {
		return list
	}
	return append(list, v)
}

func joinNonEmpty(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "," + b
}

// blank reports whether a row holds nothing but spaces.
func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// normalizePhone writes a phone number in E.164 (+79161234567) where it
// can be read as one, Russia being the default country. The common Russian
// forms (8 916 …, +7 (916) …, 916 …) take a fast path; the rest go through
// libphonenumber. A value that is not a number is an error; one that is a
// number but not a known one is kept as typed.
func normalizePhone(raw string) (string, error) {
	s, err := muster.CleanLine("phone", raw, 40)
	if err != nil || s == "" {
		return s, err
	}
	if p, ok := fastRussian(s); ok {
		return p, nil
	}
	num, err := phonenumbers.Parse(s, "RU")
	if err != nil {
		return "", muster.Invalid("invalid_phone", "phone %q is not a phone number", raw)
	}
	if !phonenumbers.IsValidNumber(num) {
		return s, nil
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// fastRussian handles digits with spaces, dashes, dots and brackets that
// form a Russian mobile or city number: 11 digits from 7 or 8, or 10 from 9.
func fastRussian(s string) (string, bool) {
	var d [16]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return "", false
			}
			d[n] = c
			n++
		case c == ' ' || c == '-' || c == '(' || c == ')' || c == '.' || (c == '+' && n == 0 && i == 0):
		default:
			return "", false
		}
	}
	switch {
	case n == 11 && (d[0] == '7' || (d[0] == '8' && s[0] != '+')) && d[1] != '0':
		return "+7" + string(d[1:11]), true
	case n == 10 && d[0] == '9' && s[0] != '+':
		return "+7" + string(d[:10]), true
	}
	return "", false
}
