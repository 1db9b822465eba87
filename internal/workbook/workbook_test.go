package workbook_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
)

// build writes a workbook made by fill into a temporary file.
func build(t *testing.T, fill func(f *excelize.File)) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	fill(f)
	path := filepath.Join(t.TempDir(), "book.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// patchZip replaces text inside one part of a zip file.
func patchZip(t *testing.T, path, part, old, new string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	must(t, err)
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	found := false
	for _, f := range zr.File {
		rc, err := f.Open()
		must(t, err)
		data, err := io.ReadAll(rc)
		must(t, err)
		rc.Close()
		if f.Name == part {
			found = strings.Contains(string(data), old)
			data = []byte(strings.Replace(string(data), old, new, 1))
		}
		w, err := zw.Create(f.Name)
		must(t, err)
		w.Write(data)
	}
	zr.Close()
	must(t, zw.Close())
	if !found {
		t.Fatalf("%s has no %q", part, old)
	}
	must(t, os.WriteFile(path, out.Bytes(), 0o600))
}

func write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// readAll opens path and returns the header and every row.
func readAll(t *testing.T, path string, lim workbook.Limits) (*workbook.Reader, []workbook.Row) {
	t.Helper()
	r, err := workbook.Open(path, filepath.Base(path), lim, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	var rows []workbook.Row
	for r.Next() {
		rows = append(rows, r.Row())
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return r, rows
}

func openErr(t *testing.T, path string, lim workbook.Limits) error {
	t.Helper()
	r, err := workbook.Open(path, filepath.Base(path), lim, t.TempDir(), nil)
	if err == nil {
		r.Close()
	}
	return err
}

func wantCode(t *testing.T, err error, code string, mention ...string) {
	t.Helper()
	if muster.ErrorCode(err) != code {
		t.Fatalf("error %v; want code %s", err, code)
	}
	for _, m := range mention {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q should mention %q", err, m)
		}
	}
}

// A real client file: an instructions sheet first, then a sheet with a
// merged title, a note, a blank row, Russian headers, a formula, a phone
// typed as a number, inline and shared strings, blank rows in between.
func TestRealisticWorkbook(t *testing.T) {
	t.Parallel()
	path := build(t, func(f *excelize.File) {
		must(t, f.SetSheetName("Sheet1", "Инструкция"))
		must(t, f.SetCellStr("Инструкция", "A1", "Заполните лист «Команда». Столбец Email обязателен."))
		_, err := f.NewSheet("Команда")
		must(t, err)
		s := "Команда"
		must(t, f.SetCellStr(s, "A1", "Список исполнителей ООО «Ромашка»"))
		must(t, f.MergeCell(s, "A1", "F1"))
		must(t, f.SetCellStr(s, "A2", "Выгружено 01.03.2026"))
		must(t, f.SetSheetRow(s, "A4", &[]any{"№", "ФИО", "Электронная почта", "Телефон", "Комментарий", "Табельный номер", "Язык"}))
		must(t, f.SetSheetRow(s, "A5", &[]any{1, "  Анна Смирнова ", " Anna@Example.COM ", 79161234567, "<b>Figma</b>, UI kits", "T-1", "русский"}))
		must(t, f.SetSheetRow(s, "A7", &[]any{2, "Boris", "boris@example.com", "8 (916) 765-43-21", "", "", "English"}))
		must(t, f.SetCellFormula(s, "C8", `LOWER("VERA@EXAMPLE.COM")`))
		must(t, f.SetCellStr(s, "B8", "Вера"))
		must(t, f.SetCellStr(s, "C9", "not-an-email"))
		must(t, f.SetCellStr(s, "B9", "Bad\r\nName"))
		must(t, f.SetCellStr(s, "G9", "deutsch"))
		must(t, f.SetCellStr(s, "C10", "anna@example.com"))
	})
	// excelize computes no formulas: write C8 as Excel does, with its cached value.
	patchZip(t, path, "xl/worksheets/sheet2.xml", `EXAMPLE.COM&#34;)</f></c>`, `EXAMPLE.COM&#34;)</f><v>vera@example.com</v></c>`)

	r, rows := readAll(t, path, workbook.Limits{})
	if r.Format != workbook.XLSX || r.Header.Sheet != "Команда" || r.Header.Line != 4 || r.Estimate != 6 {
		t.Fatalf("header found at %q row %d (format %s, estimate %d)", r.Header.Sheet, r.Header.Line, r.Format, r.Estimate)
	}
	if !slices.Equal(r.Header.Ignored, []string{"№", "Табельный номер"}) {
		t.Errorf("ignored columns %q", r.Header.Ignored)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5 (blank rows skipped): %+v", len(rows), rows)
	}
	anna := rows[0]
	if anna.Line != 5 || anna.Email != "anna@example.com" || anna.FullName != "Анна Смирнова" || anna.Phone != "+79161234567" ||
		anna.Feature != "<b>Figma</b>, UI kits" || anna.Locale != muster.Russian || anna.Failed() {
		t.Errorf("row 5: %+v", anna)
	}
	if b := rows[1]; b.Line != 7 || b.Phone != "+79167654321" || b.Locale != muster.English || b.Failed() {
		t.Errorf("row 7: %+v", b)
	}
	if v := rows[2]; v.Line != 8 || v.Email != "vera@example.com" || v.Failed() {
		t.Errorf("formula row 8 should read its cached value: %+v", v)
	}
	bad := rows[3]
	if bad.Line != 9 || len(bad.Errors) != 3 {
		t.Fatalf("row 9 errors: %+v", bad.Errors)
	}
	for i, want := range []struct{ col, code string }{
		{"Электронная почта", "invalid_email"}, {"ФИО", "invalid_full_name"}, {"Язык", "unsupported_locale"},
	} {
		if e := bad.Errors[i]; e.Line != 9 || e.Column != want.col || e.Code != want.code {
			t.Errorf("row 9 error %d: %+v, want column %q code %s", i, e, want.col, want.code)
		}
	}
	if bad.Raw[2] != "not-an-email" {
		t.Errorf("raw cells kept for the report: %q", bad.Raw)
	}
	// Duplicates are the importer's business; the reader reports rows as they are.
	if rows[4].Line != 10 || rows[4].Email != "anna@example.com" {
		t.Errorf("row 10: %+v", rows[4])
	}
}

func TestEnglishAndLegacyHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header []any
		row    []any
		want   muster.ImportRow
	}{
		{"english", []any{"E-mail", "Full name", "Phone", "Notes", "Manager", "Language"},
			[]any{"x@y.test", "Ann Lee", "+44 20 7946 0958", "React", "Boss@Acme.test; ops@acme.test", "en"},
			muster.ImportRow{Email: "x@y.test", FullName: "Ann Lee", Phone: "+442079460958", Feature: "React",
				Locale: muster.English, Managers: []string{"boss@acme.test", "ops@acme.test"}}},
		{"legacy template", []any{"email", "phone", "fname", "sname", "specialization_code", "invite_in_english", "note"},
			[]any{"a@b.test", "9161112233", "Иван", "Петров", "DEV-3", 1, "senior"},
			muster.ImportRow{Email: "a@b.test", FullName: "Иван Петров", Phone: "+79161112233", Feature: "DEV-3\nsenior", Locale: muster.English}},
		{"russian variants", []any{"Фамилия Имя", "Эл. почта*", "Моб. телефон", "Особенности", "Ответственный", "Язык приглашения"},
			[]any{"Петров Иван", "ivan@b.test", "", "", "", "англ."},
			muster.ImportRow{Email: "ivan@b.test", FullName: "Петров Иван", Locale: muster.English}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := build(t, func(f *excelize.File) {
				must(t, f.SetSheetRow("Sheet1", "A1", &tt.header))
				must(t, f.SetSheetRow("Sheet1", "A2", &tt.row))
			})
			r, rows := readAll(t, path, workbook.Limits{})
			if len(r.Header.Ignored) != 0 || len(rows) != 1 {
				t.Fatalf("ignored %q, %d rows", r.Header.Ignored, len(rows))
			}
			got := rows[0].ImportRow
			tt.want.Line = 2
			if got.Email != tt.want.Email || got.FullName != tt.want.FullName || got.Phone != tt.want.Phone ||
				got.Feature != tt.want.Feature || got.Locale != tt.want.Locale || !slices.Equal(got.Managers, tt.want.Managers) || rows[0].Failed() {
				t.Errorf("got %+v (errors %v)\nwant %+v", got, rows[0].Errors, tt.want)
			}
		})
	}
}

// StreamWriter writes inline strings (SetCellValue wrote shared strings
// above); dates come out as a person sees them.
func TestInlineStringsAndDates(t *testing.T) {
	t.Parallel()
	path := build(t, func(f *excelize.File) {
		sw, err := f.NewStreamWriter("Sheet1")
		must(t, err)
		date, err := f.NewStyle(&excelize.Style{NumFmt: 14})
		must(t, err)
		must(t, sw.SetRow("A1", []any{"Email", "Комментарий"}))
		must(t, sw.SetRow("A2", []any{"c@d.test", excelize.Cell{StyleID: date, Value: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)}}))
		must(t, sw.Flush())
	})
	_, rows := readAll(t, path, workbook.Limits{})
	if len(rows) != 1 || rows[0].Email != "c@d.test" || rows[0].Feature != "03-05-26" {
		t.Fatalf("%+v", rows)
	}
}

func TestCSVEncodingsAndSeparators(t *testing.T) {
	t.Parallel()
	text := "Список исполнителей;;;\n\nЭлектронная почта;ФИО;Телефон;Комментарий\nanna@example.com;Анна Смирнова;8 916 123-45-67;\"Figma; UI\"\n\n" +
		"boris@example.com;Борис;;\"две\nстроки\"\n"
	cp1251, err := charmap.Windows1251.NewEncoder().String(text)
	must(t, err)
	files := map[string]string{
		"utf8.csv":     text,
		"bom.csv":      "\xEF\xBB\xBF" + text,
		"cp1251.csv":   cp1251,
		"comma.csv":    strings.NewReplacer(";", ",").Replace(strings.ReplaceAll(text, "\"Figma; UI\"", "\"Figma, UI\"")),
		"trailing.csv": "Email,Name\r\nx@y.test,X\r\n",
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, rows := readAll(t, write(t, name, []byte(data)), workbook.Limits{})
			if r.Format != workbook.CSV {
				t.Fatalf("format %s", r.Format)
			}
			if name == "trailing.csv" {
				if len(rows) != 1 || rows[0].Email != "x@y.test" || rows[0].FullName != "X" || rows[0].Line != 2 || r.Estimate != 1 {
					t.Fatalf("%+v", rows)
				}
				return
			}
			if r.Header.Line != 3 || len(rows) != 2 {
				t.Fatalf("header at %d, %d rows: %+v", r.Header.Line, len(rows), rows)
			}
			a, b := rows[0], rows[1]
			if a.Line != 4 || a.FullName != "Анна Смирнова" || a.Phone != "+79161234567" || !strings.HasPrefix(a.Feature, "Figma") {
				t.Errorf("row 4: %+v", a)
			}
			if b.Line != 6 || b.Email != "boris@example.com" || b.Feature != "две\nстроки" {
				t.Errorf("row 6: %+v", b)
			}
		})
	}
}

// cfb writes a minimal OLE compound file holding one 4 KiB stream: the
// container of both .xls (stream "Workbook") and encrypted .xlsx
// ("EncryptionInfo", "EncryptedPackage").
func cfb(stream string) []byte { return cfbWith(stream, nil) }

// cfbWith is cfb with the stream's first bytes given.
func cfbWith(stream string, data []byte) []byte {
	const sector = 512
	le := binary.LittleEndian
	buf := make([]byte, sector*11)
	h := buf[:sector]
	copy(h, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1})
	le.PutUint16(h[24:], 0x3E)
	le.PutUint16(h[26:], 3)
	le.PutUint16(h[28:], 0xFFFE)
	le.PutUint16(h[30:], 9)
	le.PutUint16(h[32:], 6)
	le.PutUint32(h[44:], 1)          // FAT sectors
	le.PutUint32(h[48:], 1)          // first directory sector
	le.PutUint32(h[56:], 4096)       // mini stream cutoff
	le.PutUint32(h[60:], 0xFFFFFFFE) // no mini FAT
	le.PutUint32(h[68:], 0xFFFFFFFE) // no DIFAT sectors
	for i := 76; i < sector; i += 4 {
		le.PutUint32(h[i:], 0xFFFFFFFF)
	}
	le.PutUint32(h[76:], 0) // the FAT is sector 0
	fat := buf[sector : 2*sector]
	for i := 0; i < sector; i += 4 {
		le.PutUint32(fat[i:], 0xFFFFFFFF)
	}
	le.PutUint32(fat[0:], 0xFFFFFFFD) // sector 0: FAT
	le.PutUint32(fat[4:], 0xFFFFFFFE) // sector 1: directory
	for s := 2; s < 9; s++ {
		le.PutUint32(fat[s*4:], uint32(s+1))
	}
	le.PutUint32(fat[9*4:], 0xFFFFFFFE)
	dir := buf[2*sector : 3*sector]
	entry := func(i int, name string, typ byte, child, start, size uint32) {
		e := dir[i*128 : (i+1)*128]
		u := utf16.Encode([]rune(name))
		for j, c := range u {
			le.PutUint16(e[j*2:], c)
		}
		le.PutUint16(e[64:], uint16(len(u)+1)*2)
		e[66], e[67] = typ, 1
		le.PutUint32(e[68:], 0xFFFFFFFF)
		le.PutUint32(e[72:], 0xFFFFFFFF)
		le.PutUint32(e[76:], child)
		le.PutUint32(e[116:], start)
		le.PutUint32(e[120:], size)
	}
	entry(0, "Root Entry", 5, 1, 0xFFFFFFFE, 0)
	entry(1, stream, 2, 0xFFFFFFFF, 2, 4096)
	copy(buf[3*sector:], data)
	return buf
}

func TestBadFiles(t *testing.T) {
	t.Parallel()
	good := build(t, func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"Email"}))
		for i := 2; i < 200; i++ {
			must(t, f.SetCellStr("Sheet1", "A"+strconv.Itoa(i), "user"+strconv.Itoa(i)+"@example.test"))
		}
	})
	goodBytes, err := os.ReadFile(good)
	must(t, err)
	encrypted := filepath.Join(t.TempDir(), "secret.xlsx")
	{
		f, err := excelize.OpenFile(good)
		must(t, err)
		must(t, f.SaveAs(encrypted, excelize.Options{Password: "s3cret"}))
		f.Close()
	}
	noEmail := build(t, func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"ФИО", "Телефон"}))
		must(t, f.SetSheetRow("Sheet1", "A2", &[]any{"Анна", "+79161234567"}))
	})
	var notXLSX bytes.Buffer
	zw := zip.NewWriter(&notXLSX)
	w, _ := zw.Create("word/document.xml")
	w.Write([]byte("<w:document/>"))
	zw.Close()
	wideSheet := build(t, func(f *excelize.File) {
		sw, err := f.NewStreamWriter("Sheet1")
		must(t, err)
		must(t, sw.SetRow("A1", []any{"Email"}))
		row := make([]any, 16384)
		for i := range row {
			row[i] = i
		}
		must(t, sw.SetRow("A2", row))
		must(t, sw.Flush())
	})
	bigCell := build(t, func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"Email", "ФИО", "Notes"}))
		must(t, f.SetSheetRow("Sheet1", "A2", &[]any{"a@b.test"}))
		must(t, f.SetSheetRow("Sheet1", "A3", &[]any{"c@d.test", "Вера", strings.Repeat("long ", 300)}))
	})
	bigRow := build(t, func(f *excelize.File) {
		sw, err := f.NewStreamWriter("Sheet1")
		must(t, err)
		must(t, sw.SetRow("A1", []any{"Email", "Notes"}))
		row := []any{"a@b.test"}
		rnd := rand.New(rand.NewPCG(1, 2)) // text that does not compress like a bomb
		for range 100 {
			text := make([]byte, 30_000)
			for i := range text {
				text[i] = 'a' + byte(rnd.IntN(26))
			}
			row = append(row, string(text))
		}
		must(t, sw.SetRow("A5", row))
		must(t, sw.Flush())
	})
	corrupt := slices.Clone(goodBytes)
	for i := 200; i < len(corrupt)-200; i++ { // the parts' data, not the zip directory
		corrupt[i] ^= 0x5A
	}

	tests := []struct {
		name    string
		path    string
		lim     workbook.Limits
		code    string
		mention []string
	}{
		{"pdf", write(t, "scan.pdf", []byte("%PDF-1.7\n\x00\x01\x02binary")), workbook.Limits{}, "not_a_workbook", []string{"scan.pdf", ".xlsx"}},
		{"png", write(t, "photo.xlsx", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")), workbook.Limits{}, "not_a_workbook", nil},
		{"word document", write(t, "letter.docx", notXLSX.Bytes()), workbook.Limits{}, "not_a_workbook", []string{"Word"}},
		{"excel 95 xls", write(t, "old.xls", cfb("Book")), workbook.Limits{}, "xls_not_supported", []string{".xlsx", "95"}},
		{"encrypted xls", write(t, "locked.xls", cfbWith("Workbook", biff(0x0809, 0x0600, 0x0005, 0x0000, 0x002F, 0))), workbook.Limits{}, "encrypted_workbook", []string{"password"}},
		{"empty xls stream", write(t, "zero.xls", cfb("Workbook")), workbook.Limits{}, "corrupt_workbook", nil},
		{"encrypted by excelize", encrypted, workbook.Limits{}, "encrypted_workbook", []string{"password"}},
		{"encrypted container", write(t, "locked.xlsx", cfb("EncryptionInfo")), workbook.Limits{}, "encrypted_workbook", nil},
		{"truncated", write(t, "cut.xlsx", goodBytes[:len(goodBytes)/2]), workbook.Limits{}, "corrupt_workbook", []string{"truncated"}},
		{"corrupt", write(t, "garbled.xlsx", corrupt), workbook.Limits{}, "corrupt_workbook", nil},
		{"empty", write(t, "empty.csv", nil), workbook.Limits{}, "empty_file", nil},
		{"no email column", noEmail, workbook.Limits{}, "no_email_column", []string{"Email", "Sheet1"}},
		{"too large", good, workbook.Limits{MaxBytes: 1000}, "file_too_large", []string{"limit"}},
		{"too many rows", good, workbook.Limits{MaxRows: 100}, "too_many_rows", []string{"100"}},
		{"too many CSV rows", write(t, "many.csv", []byte("email\na@b.test\nc@d.test\ne@f.test\n")), workbook.Limits{MaxRows: 2}, "too_many_rows", nil},
		{"ascii pdf", write(t, "scan.csv", []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n")), workbook.Limits{}, "not_a_workbook", []string{"PDF"}},
		{"prose", write(t, "notes.txt", []byte("Dear team\nplease find the list attached\nRegards\n")), workbook.Limits{}, "not_a_workbook", []string{"separator"}},
		{"html", write(t, "page.csv", []byte("  <!DOCTYPE html><html><body>email;name</body></html>")), workbook.Limits{}, "not_a_workbook", []string{"web page"}},
		{"million-column header", write(t, "wide.csv", []byte("email"+strings.Repeat(";x", 1_000_000)+"\na@b.test\n")), workbook.Limits{}, "record_too_large", []string{"row 1", "1.0 MiB"}},
		{"8 MiB line", write(t, "line.csv", bytes.Repeat([]byte("a;"), 4<<20)), workbook.Limits{}, "record_too_large", []string{"row 1"}},
		{"wide CSV header", write(t, "wide2.csv", []byte("email"+strings.Repeat(";x", 1100)+"\n")), workbook.Limits{}, "too_many_columns", []string{"row 1", "1101 columns", "1024"}},
		{"wide CSV row", write(t, "wide3.csv", []byte("email;name\na@b.test;"+strings.Repeat("x;", 40)+"\n")), workbook.Limits{MaxColumns: 30}, "too_many_columns", []string{"row 2", "30"}},
		{"large CSV cell", write(t, "cell.csv", []byte("email;name\na@b.test;"+strings.Repeat("я", 40<<10)+"\n")), workbook.Limits{}, "cell_too_large", []string{"B2", "64.0 KiB"}},
		{"large CSV record", write(t, "rec.csv", []byte("email;name;notes\na@b.test;"+strings.Repeat("x", 3000)+";"+strings.Repeat("y", 3000)+"\n")), workbook.Limits{MaxRecordBytes: 5000}, "record_too_large", []string{"row 2"}},
		{"wide sheet", wideSheet, workbook.Limits{}, "too_many_columns", []string{"row 2", "Sheet1", "16384 columns"}},
		{"large xlsx cell", bigCell, workbook.Limits{MaxCellBytes: 1000}, "cell_too_large", []string{"C3"}},
		// Refused from the sheet's XML before excelize holds the row.
		{"large xlsx row XML", bigRow, workbook.Limits{MaxRecordBytes: 64 << 10}, "record_too_large", []string{"row 5 of sheet «Sheet1»"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantCode(t, openErr(t, tt.path, tt.lim), tt.code, tt.mention...)
		})
	}
}

// A file of a few MB that would inflate to gigabytes is refused from its
// zip directory, fast and without inflating it.
func TestDecompressionBombs(t *testing.T) {
	t.Parallel()
	var real bytes.Buffer // 64 MiB of spaces, deflated to ~64 KiB
	zw := zip.NewWriter(&real)
	for _, name := range []string{"[Content_Types].xml", "xl/workbook.xml"} {
		w, _ := zw.Create(name)
		w.Write([]byte("<x/>"))
	}
	w, _ := zw.Create("xl/worksheets/sheet1.xml")
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for range 64 {
		w.Write(chunk)
	}
	must(t, zw.Close())

	var declared bytes.Buffer // directory entries that claim 2 × 4 GiB
	zw = zip.NewWriter(&declared)
	w, _ = zw.Create("xl/workbook.xml")
	w.Write([]byte("<x/>"))
	for _, name := range []string{"xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"} {
		raw, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CompressedSize64: 100 << 20, UncompressedSize64: 4 << 30})
		must(t, err)
		raw.Write(make([]byte, 1024))
	}
	must(t, zw.Close())

	for name, data := range map[string][]byte{"ratio.xlsx": real.Bytes(), "declared.xlsx": declared.Bytes()} {
		path := write(t, name, data)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		err := openErr(t, path, workbook.Limits{})
		runtime.ReadMemStats(&after)
		wantCode(t, err, "decompression_bomb", name)
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: refused after %s; should be at once", name, d)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
			t.Errorf("%s: %d bytes allocated to refuse it", name, alloc)
		}
	}
}

func TestTemplateRoundTrip(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	must(t, workbook.Template(&buf))
	path := write(t, "template.xlsx", buf.Bytes())
	f, err := excelize.OpenFile(path)
	must(t, err)
	if sheets := f.GetSheetList(); !slices.Equal(sheets, []string{"Исполнители", "Инструкция"}) {
		t.Fatalf("sheets %q", sheets)
	}
	must(t, f.SetSheetRow("Исполнители", "A2", &[]any{"new@example.test", "Новый Исполнитель", "89161234567", "Go", "", "en"}))
	must(t, f.Save())
	f.Close()
	r, rows := readAll(t, path, workbook.Limits{})
	if len(r.Header.Ignored) != 0 || len(r.Header.Cells) != 6 {
		t.Errorf("template header %q ignored %q", r.Header.Cells, r.Header.Ignored)
	}
	if len(rows) != 1 || rows[0].Email != "new@example.test" || rows[0].Phone != "+79161234567" || rows[0].Locale != muster.English || rows[0].Failed() {
		t.Fatalf("%+v", rows)
	}
}

// The error report keeps the file's columns, adds the reason, and keeps
// formula-looking text as text; imported again it reads as typed.
func TestErrorReportRoundTrip(t *testing.T) {
	t.Parallel()
	rep, err := workbook.NewErrorReport([]string{"Email", "ФИО", "Комментарий"})
	must(t, err)
	must(t, rep.Add([]string{"bad@", "=HYPERLINK(\"http://evil\")", "+7 916"}, "row 3, column \"Email\": not valid"))
	must(t, rep.Add([]string{"@handle", "-1", "ok"}, "row 4: x"))
	var buf bytes.Buffer
	_, err = rep.WriteTo(&buf)
	must(t, err)
	path := write(t, "errors.xlsx", buf.Bytes())

	f, err := excelize.OpenFile(path)
	must(t, err)
	got, err := f.GetRows("Sheet1")
	must(t, err)
	if !slices.Equal(got[0], []string{"Email", "ФИО", "Комментарий", workbook.ErrorColumn}) || got[1][0] != "bad@" || got[2][0] != "'@handle" {
		t.Errorf("report rows %q", got)
	}
	for _, cell := range []string{"A2", "B2", "C2", "A3", "B3"} {
		if formula, _ := f.GetCellFormula("Sheet1", cell); formula != "" {
			t.Errorf("%s became a formula: %q", cell, formula)
		}
	}
	f.Close()
	r, rows := readAll(t, path, workbook.Limits{})
	if len(r.Header.Ignored) != 0 {
		t.Errorf("the reason column should not be reported as unknown: %q", r.Header.Ignored)
	}
	if len(rows) != 2 || rows[0].FullName != `=HYPERLINK("http://evil")` || rows[1].FullName != "-1" || rows[1].Feature != "ok" {
		t.Fatalf("%+v", rows)
	}
	if rows[1].Errors[0].Code != "invalid_email" || rows[1].Raw[0] != "'@handle" {
		t.Errorf("%+v", rows[1])
	}
}

// biff writes BIFF records given as type, then one uint16 of data per
// record (enough for BOF's version and FILEPASS).
func biff(recs ...uint16) []byte {
	var b []byte
	for i := 0; i+1 < len(recs); i += 2 {
		b = binary.LittleEndian.AppendUint16(b, recs[i])
		b = binary.LittleEndian.AppendUint16(b, 2)
		b = binary.LittleEndian.AppendUint16(b, recs[i+1])
	}
	return b
}

// Ignored columns are kept as the first few and a count: a header of
// thousands of columns cannot swell the import's status.
func TestIgnoredColumnsCapped(t *testing.T) {
	t.Parallel()
	header := "email"
	for i := range 300 {
		header += ";extra " + strconv.Itoa(i) + strings.Repeat("!", 200)
	}
	r, rows := readAll(t, write(t, "wide.csv", []byte(header+"\na@b.test\n")), workbook.Limits{})
	if r.Header.IgnoredCount != 300 || len(r.Header.Ignored) != workbook.MaxIgnored || len(rows) != 1 {
		t.Fatalf("ignored %d, kept %d, rows %d", r.Header.IgnoredCount, len(r.Header.Ignored), len(rows))
	}
	if h := r.Header.Ignored[0]; len(h) > 110 || !strings.HasPrefix(h, "extra 0!") || !strings.HasSuffix(h, "…") {
		t.Errorf("a long header is clipped: %q", h)
	}
}
