package workbook

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/muster-dev/muster/internal/muster"
)

// Mapping is a caller's choice of columns, for when detection misses or
// picks wrong: field name → column letter ("C") or header text
// ("Контакт"). It overrides detection for the fields it names.
type Mapping map[string]string

// mappable are the field names a Mapping may use.
var mappable = map[string]field{
	"email": fieldEmail, "full_name": fieldFullName, "first_name": fieldFirstName, "middle_name": fieldMiddleName,
	"last_name": fieldLastName, "phone": fieldPhone, "feature": fieldFeature, "manager": fieldManager,
	"language": fieldLanguage, "invite_in_english": fieldEnglish,
}

var fieldNames = func() map[field]string {
	m := map[field]string{}
	for n, f := range mappable {
		m[f] = n
	}
	return m
}()

// ParseMapping reads a mapping given as a JSON object, checking its field
// names; empty input is no mapping.
func ParseMapping(data []byte) (Mapping, error) {
	if strings.TrimSpace(string(data)) == "" {
		return nil, nil
	}
	var m Mapping
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, muster.Invalid("invalid_mapping", `mapping must be a JSON object such as {"email": "C", "full_name": "Контакт"}: %v`, err)
	}
	return m, m.Check()
}

// Check reports an unknown field or an empty or overlong column.
func (m Mapping) Check() error {
	for name, col := range m {
		if _, ok := mappable[name]; !ok {
			names := make([]string, 0, len(mappable))
			for n := range mappable {
				names = append(names, n)
			}
			sort.Strings(names)
			return muster.Invalid("invalid_mapping", "mapping: %q is not a field; the fields are %s", name, strings.Join(names, ", "))
		}
		if strings.TrimSpace(col) == "" || len(col) > 200 {
			return muster.Invalid("invalid_mapping", "mapping: %s must name a column by its letter or its header text (up to 200 bytes), not %q", name, col)
		}
	}
	return nil
}

// letterIndex reads a column letter (A, AB, xfd) as a 0-based index.
func letterIndex(s string) (int, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" || len(s) > 3 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return 0, false
		}
		n = n*26 + int(c-'A') + 1
	}
	return n - 1, n <= 16384
}

// apply overrides the detected fields of a candidate header row with the
// mapping. A header text is looked for in the row (compared as headers
// are); otherwise a letter names the column. It returns how many header
// texts matched and the first entry that names no column of this row.
func (m Mapping) apply(cells []string, fields []field) (out []field, matched int, missing string) {
	if len(m) == 0 {
		return fields, 0, ""
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names) // the same result whatever the map's order
	for _, name := range names {
		f, target := mappable[name], m[name]
		col := -1
		for i, c := range cells {
			if strings.TrimSpace(c) != "" && key(c) == key(target) {
				col = i
				matched++
				break
			}
		}
		if col < 0 {
			if i, ok := letterIndex(target); ok {
				col = i
			}
		}
		if col < 0 {
			if missing == "" {
				missing = name
			}
			continue
		}
		for len(fields) <= col {
			fields = append(fields, fieldNone)
		}
		for i := range fields {
			if fields[i] == f {
				fields[i] = fieldNone
			}
		}
		fields[col] = f
	}
	return fields, matched, missing
}

// Columns lists the columns the import reads, in order, each with the
// field it fills and whether the mapping chose it: the first maxColumnsShown
// (notes and manager columns may repeat).
func (h *Header) Columns() []muster.Column {
	var out []muster.Column
	for i, f := range h.fields {
		if f == fieldNone || f == fieldReport {
			continue
		}
		if len(out) == maxColumnsShown {
			break
		}
		c := muster.Column{Letter: columnLetter(i), Field: fieldNames[f], Mapped: h.mapped[f]}
		if i < len(h.Cells) {
			c.Header = muster.Clip(strings.TrimSpace(h.Cells[i]), maxHeaderShown)
		}
		out = append(out, c)
	}
	return out
}

const maxColumnsShown = 40

// countFields says how many columns are recognized and whether one is the email.
func countFields(fields []field) (known int, email bool) {
	for _, f := range fields {
		if f != fieldNone && f != fieldReport {
			known++
		}
		email = email || f == fieldEmail
	}
	return known, email
}

func mappingMissing(name string, m Mapping, where string) error {
	return muster.Invalid("mapping_column_not_found",
		"mapping: %s names column %q, which is neither a header in %s nor a column letter", name, m[name], where)
}

// fields are the fields the mapping names.
func (m Mapping) fields() map[field]bool {
	out := map[field]bool{}
	for n := range m {
		out[mappable[n]] = true
	}
	return out
}
