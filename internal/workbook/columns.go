package workbook

import (
	"strings"
	"unicode"

	"github.com/muster-dev/muster/internal/muster"
)

// field is what a column holds.
type field int

const (
	fieldNone field = iota
	fieldEmail
	fieldFullName
	fieldFirstName
	fieldMiddleName
	fieldLastName
	fieldPhone
	fieldFeature
	fieldManager
	fieldLanguage
	fieldEnglish // the legacy invite_in_english 1/0 column
	fieldReport  // the reason column of our own error report: skipped
)

// aliases are the headers people write, in Russian and English, and the
// platform's legacy template (email, phone, fname, sname,
// specialization_code, invite_in_english, note). They are compared by key.
var aliases = map[field][]string{
	fieldEmail: {"email", "e-mail", "e mail", "email address", "e-mail address", "mail", "электронная почта",
		"эл. почта", "эл почта", "почта", "адрес электронной почты", "емейл", "имейл", "емэйл", "логин", "login"},
	fieldFullName: {"фио", "ф.и.о.", "фамилия имя", "фамилия имя отчество", "имя фамилия", "имя и фамилия",
		"фамилия и имя", "фио исполнителя", "full name", "fullname", "name", "contractor name", "contractor", "исполнитель"},
	fieldFirstName:  {"имя", "first name", "firstname", "fname", "given name"},
	fieldMiddleName: {"отчество", "middle name", "patronymic"},
	fieldLastName:   {"фамилия", "last name", "lastname", "sname", "surname", "family name"},
	fieldPhone: {"телефон", "тел", "тел.", "номер телефона", "мобильный", "мобильный телефон", "моб. телефон",
		"phone", "phone number", "mobile", "mobile phone", "tel"},
	fieldFeature: {"особенности", "особенность", "feature", "features", "комментарий", "комментарии", "comment",
		"comments", "примечание", "примечания", "заметка", "заметки", "note", "notes", "описание", "description",
		"специализация", "specialization", "specialization_code", "специализация код", "навыки", "skills"},
	fieldManager: {"менеджер", "менеджеры", "manager", "managers", "manager email", "email менеджера",
		"ответственный", "ответственный менеджер", "пользователь", "пользователи", "user", "users", "куратор"},
	fieldLanguage: {"язык", "язык приглашения", "язык письма", "language", "invitation language", "locale", "lang"},
	fieldEnglish: {"invite_in_english", "invite in english", "in english", "приглашение на английском",
		"пригласить на английском", "на английском"},
	fieldReport: {ErrorColumn, "ошибка", "ошибки", "error", "errors"},
}

var byKey = func() map[string]field {
	m := map[string]field{}
	for f, names := range aliases {
		for _, n := range names {
			m[key(n)] = f
		}
	}
	return m
}()

// key reduces a header to lower-case letters and digits, so that "E-mail",
// "EMAIL*", "Электронная  почта" and "invite_in_english" compare equal to
// their aliases; ё is е.
func key(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == 'ё':
			b.WriteRune('е')
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// recognize maps one header cell to a field. Bilingual headers such as
// "Электронная почта / Email" or "Телефон (Phone)" match by either part.
func recognize(header string) field {
	if f, ok := byKey[key(header)]; ok {
		return f
	}
	parts := strings.FieldsFunc(header, func(r rune) bool { return strings.ContainsRune("/|()[],;\n", r) })
	for _, p := range parts {
		if f, ok := byKey[key(p)]; ok {
			return f
		}
	}
	return fieldNone
}

// Header is the header row Muster found and what each column means.
type Header struct {
	Sheet   string   // the sheet's name; empty for CSV
	Line    int      // the header's row number as the spreadsheet shows it
	Cells   []string // the header cells as written
	Ignored []string // headers of the first columns Muster does not read (MaxIgnored)
	// IgnoredCount is how many columns were ignored in all.
	IgnoredCount int
	fields       []field // by column
	mapped       map[field]bool
}

// mapHeader reads a candidate header row. It returns the columns' fields and
// how many were recognized; the row can be the header only if it has an
// email column.
func mapHeader(cells []string) (fields []field, known int, email bool) {
	fields = make([]field, len(cells))
	seen := map[field]bool{}
	for i, c := range cells {
		f := recognize(c)
		// A second email (or language) column is ignored, not mixed in.
		if f != fieldNone && f != fieldFeature && f != fieldManager && seen[f] {
			f = fieldNone
		}
		fields[i] = f
		if f != fieldNone && f != fieldReport {
			seen[f] = true
			known++
		}
	}
	return fields, known, seen[fieldEmail]
}

func newHeader(sheet string, line int, cells []string, fields []field) *Header {
	h := &Header{Sheet: sheet, Line: line, Cells: cells, fields: fields}
	for i, c := range cells {
		if fields[i] == fieldNone && strings.TrimSpace(c) != "" {
			if h.IgnoredCount++; len(h.Ignored) < MaxIgnored {
				h.Ignored = append(h.Ignored, muster.Clip(strings.TrimSpace(c), maxHeaderShown))
			}
		}
	}
	return h
}

// MaxIgnored is how many ignored headers an import keeps and shows; the
// rest are only counted.
const MaxIgnored = 20

// maxHeaderShown is how much of a header an import keeps to show: in
// ignored_columns, the preview's columns and each row error's column.
const maxHeaderShown = 100

// ManagerColumn is the header of the (first) manager column.
func (h *Header) ManagerColumn() string {
	for i, f := range h.fields {
		if f == fieldManager {
			return h.column(i)
		}
	}
	return ""
}

// column returns the header text of column i, or its letter when blank.
func (h *Header) column(i int) string {
	if i < 0 {
		return ""
	}
	if i < len(h.Cells) {
		if c := strings.TrimSpace(h.Cells[i]); c != "" {
			return muster.Clip(c, maxHeaderShown)
		}
	}
	return columnLetter(i)
}

// columnLetter turns a 0-based index into A, B, …, Z, AA, ….
func columnLetter(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}
