package workbook

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/muster-dev/muster/internal/muster"
)

// readAll opens data as a file named name and reads every row. Whatever
// the bytes, it must end with rows or a muster error, never a panic, and
// every row that did not fail holds values that pass validation again.
func readAll(t *testing.T, name string, data []byte) {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	lim := Limits{MaxBytes: 1 << 20, MaxRows: 1000, MaxUnzipped: 8 << 20}
	r, err := Open(path, name, lim, t.TempDir(), nil)
	if err != nil {
		if muster.AsError(err) == nil {
			t.Fatalf("Open: a bare error reaches the client as a 500: %v", err)
		}
		return
	}
	defer r.Close()
	for r.Next() {
		row := r.Row()
		if row.Failed() {
			for _, e := range row.Errors {
				if e.Reason == "" || !utf8.ValidString(e.Reason) {
					t.Fatalf("row %d: error without a readable reason: %+v", row.Line, e)
				}
			}
			continue
		}
		if e, err := muster.NormalizeEmail("email", row.Email); err != nil || e != row.Email {
			t.Fatalf("row %d: email %q accepted but not clean: %v", row.Line, row.Email, err)
		}
		if n, err := muster.CleanLine("full_name", row.FullName, muster.MaxNameLen); err != nil || n != row.FullName {
			t.Fatalf("row %d: name %q accepted but not clean: %v", row.Line, row.FullName, err)
		}
		if err := muster.CheckText("feature", row.Feature, true); err != nil {
			t.Fatalf("row %d: feature accepted with %v", row.Line, err)
		}
	}
	if err := r.Err(); err != nil && muster.AsError(err) == nil {
		t.Fatalf("Next: a bare error: %v", err)
	}
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"email\nanna@example.com\n",
		"Имя;Email;Телефон;Особенность\nАнна;anna@example.com;8 916 123-45-67;Figma\n",
		"\xef\xbb\xbfemail,full name,english\nbob@example.com,Bob,yes\n",
		"email,manager\n\"a@b.co\",\"m1@x.co; m2@x.co\"\n",
		"email\n=HYPERLINK(\"x\")\n'=1+1@x.co\n",
		"ФИО,почта\n\xc0\xed\xed\xe0,a@b.co\n", // Windows-1251
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { readAll(t, "team.csv", data) })
}

func FuzzXLSX(f *testing.F) {
	var tmpl bytes.Buffer
	if err := Template(&tmpl); err != nil {
		f.Fatal(err)
	}
	f.Add(tmpl.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) { readAll(t, "team.xlsx", data) })
}

func FuzzXLS(f *testing.F) {
	seed, err := os.ReadFile("testdata/template.xls")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) { readAll(t, "team.xls", data) })
}

// FuzzCell is the cell normalizer alone: one row of cells under the
// template's header.
func FuzzCell(f *testing.F) {
	f.Add("anna@example.com", "Анна Петрова", "+7 916 123-45-67", "Figma\nUI", "m@x.co; n@x.co", "en")
	f.Add(" Anna@Example.COM ", "'=cmd", "8(916)1234567", "<b>x</b>", "", "ru")
	f.Add("x@[127.0.0.1]", "Vic\u202etor", "\x00", "\xff", "a@b", "да")
	cells := []string{"Email", "ФИО", "Телефон", "Особенность", "Менеджер", "Язык"}
	fields, _, _ := mapHeader(cells)
	h := newHeader("Sheet1", 1, cells, fields)
	f.Fuzz(func(t *testing.T, email, name, phone, feature, managers, lang string) {
		row := h.parseRow(2, []string{email, name, phone, feature, managers, lang})
		if row.Failed() {
			return
		}
		if e, err := muster.NormalizeEmail("email", row.Email); err != nil || e != row.Email {
			t.Fatalf("email %q accepted but not clean: %v", row.Email, err)
		}
		if err := muster.CheckText("full_name", row.FullName, false); err != nil {
			t.Fatalf("name %q accepted: %v", row.FullName, err)
		}
		if err := muster.CheckText("phone", row.Phone, false); err != nil || utf8.RuneCountInString(row.Phone) > 40 {
			t.Fatalf("phone %q accepted: %v", row.Phone, err)
		}
		for _, m := range row.Managers {
			if e, err := muster.NormalizeEmail("manager", m); err != nil || e != m {
				t.Fatalf("manager %q accepted but not clean: %v", m, err)
			}
		}
	})
}
