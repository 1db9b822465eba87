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

// A mapping overrides detection for the fields it names, by header text
// or column letter, and leaves the rest detected.
func TestMappingOverridesDetection(t *testing.T) {
	t.Parallel()
	open := func(m workbook.Mapping) (*workbook.Reader, []workbook.Row, error) {
		r, err := workbook.Open("testdata/template.xls", "template.xls", workbook.Limits{}, t.TempDir(), m)
		if err != nil {
			return nil, nil, err
		}
		defer r.Close()
		var rows []workbook.Row
		for r.Next() {
			rows = append(rows, r.Row())
		}
		return r, rows, r.Err()
	}
	// The alternative address column by its header, the name by letter.
	r, rows, err := open(workbook.Mapping{"email": "Контакт", "full_name": "f"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Header.Line != 3 || rows[0].Email != "anna.alt@example.com" || rows[0].FullName != "русский" || rows[0].Phone != "+79161234567" {
		t.Errorf("row 4 with the mapping: %+v", rows[0].ImportRow)
	}
	// The detected email column is now ignored, and so is the detected name.
	if !slices.Contains(r.Header.Ignored, "Электронная почта / Email") || !slices.Contains(r.Header.Ignored, "ФИО") {
		t.Errorf("ignored %q", r.Header.Ignored)
	}
	cols := r.Header.Columns()
	want := []muster.Column{
		{Letter: "C", Header: "Телефон", Field: "phone"}, {Letter: "D", Header: "Особенности", Field: "feature"},
		{Letter: "E", Header: "Менеджер", Field: "manager"}, {Letter: "F", Header: "Язык", Field: "full_name", Mapped: true},
		{Letter: "I", Header: "Контакт", Field: "email", Mapped: true},
	}
	if !reflect.DeepEqual(cols, want) {
		t.Errorf("columns %+v\nwant %+v", cols, want)
	}

	_, _, err = open(workbook.Mapping{"email": "Почта клиента"})
	wantCode(t, err, "mapping_column_not_found", "Почта клиента", "row 3", "Исполнители")
	_, _, err = open(workbook.Mapping{"salary": "H"})
	wantCode(t, err, "invalid_mapping", "salary", "full_name")
	_, err = workbook.ParseMapping([]byte(`["email"]`))
	wantCode(t, err, "invalid_mapping", "JSON object")
	m, err := workbook.ParseMapping([]byte(`{"email":"C"}`))
	if err != nil || m["email"] != "C" {
		t.Errorf("ParseMapping: %v %v", m, err)
	}
}

// Without any recognizable header, a mapping by letters reads the file:
// its first non-blank row is the header.
func TestMappingWithoutKnownHeaders(t *testing.T) {
	t.Parallel()
	path := write(t, "odd.csv", []byte("Кто;Куда пишем\nАнна;anna@example.test\n"))
	wantCode(t, openErr(t, path, workbook.Limits{}), "no_email_column")
	r, err := workbook.Open(path, "odd.csv", workbook.Limits{}, t.TempDir(), workbook.Mapping{"email": "B", "full_name": "Кто"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Next() || r.Row().Email != "anna@example.test" || r.Row().FullName != "Анна" || r.Row().Line != 2 {
		t.Fatalf("%+v %v", r.Row(), r.Err())
	}
}
