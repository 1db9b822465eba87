package workbook_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
)

// The fixtures in testdata were written by LibreOffice from the .xlsx
// sources beside them (testdata/make-xls.sh).

func TestXLSTemplate(t *testing.T) {
	t.Parallel()
	r, rows := readAll(t, "testdata/template.xls", workbook.Limits{})
	if r.Format != workbook.XLS || r.Header.Sheet != "Исполнители" || r.Header.Line != 3 {
		t.Fatalf("format %s, header at %q row %d", r.Format, r.Header.Sheet, r.Header.Line)
	}
	if !slices.Equal(r.Header.Ignored, []string{"Дата договора", "Ставка", "Контакт"}) {
		t.Errorf("ignored %q", r.Header.Ignored)
	}
	if r.Estimate != 6 {
		t.Errorf("estimate %d, want 6", r.Estimate)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	anna := rows[0]
	if anna.Line != 4 || anna.Email != "anna@example.com" || anna.FullName != "Анна Смирнова" || anna.Phone != "+79161234567" ||
		anna.Feature != "Figma, UI-киты" || anna.Locale != muster.Russian || anna.Failed() {
		t.Errorf("row 4: %+v %v", anna.ImportRow, anna.Errors)
	}
	// Numbers and dates as a person sees them.
	if !slices.Equal(anna.Raw[6:9], []string{"05.03.2026", "1,234.50", "anna.alt@example.com"}) {
		t.Errorf("row 4 cells %q", anna.Raw)
	}
	if b := rows[1]; b.Line != 5 || b.FullName != "Борис Ёлкин" || b.Phone != "+79167654321" || b.Locale != muster.English || b.Raw[7] != "99" {
		t.Errorf("row 5: %+v %q", b.ImportRow, b.Raw)
	}
	if v := rows[2]; v.Line != 6 || v.Email != "vera@example.com" || v.Failed() {
		t.Errorf("row 6 should read the formula's cached value: %+v %v", v.ImportRow, v.Errors)
	}
	bad := rows[3]
	if bad.Line != 8 || len(bad.Errors) != 2 || bad.Errors[0].Column != "Электронная почта / Email" || bad.Errors[0].Code != "invalid_email" ||
		bad.Errors[1].Column != "Язык" || bad.Errors[1].Code != "unsupported_locale" {
		t.Errorf("row 8: %+v", bad.Errors)
	}
	if rows[4].Line != 9 || rows[4].Email != "anna@example.com" {
		t.Errorf("row 9: %+v", rows[4].ImportRow)
	}
}

// long.xls keeps 1,200 Russian strings in a shared-string table of some
// 40 CONTINUE records; it must read exactly as the .xlsx it came from.
func TestXLSSharedStringsAcrossContinue(t *testing.T) {
	t.Parallel()
	rx, want := readAll(t, "testdata/long.xlsx", workbook.Limits{})
	r, got := readAll(t, "testdata/long.xls", workbook.Limits{})
	if r.Header.Line != rx.Header.Line || !slices.Equal(r.Header.Cells, rx.Header.Cells) || r.Estimate != rx.Estimate {
		t.Fatalf("header %d %q (estimate %d), want %d %q (%d)", r.Header.Line, r.Header.Cells, r.Estimate, rx.Header.Line, rx.Header.Cells, rx.Estimate)
	}
	if len(got) != len(want) || len(got) != 600 {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("row %d:\n got %+v\nwant %+v", want[i].Line, got[i], want[i])
		}
	}
}
