// Command xlsgen writes the .xlsx sources of the .xls test fixtures; make.sh
// converts them with LibreOffice. The sources are committed beside the .xls
// files, so the tests can check that both read the same.
package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/xuri/excelize/v2"
)

func main() {
	dir := os.Args[1]
	if err := template(filepath.Join(dir, "template.xlsx")); err != nil {
		log.Fatal(err)
	}
	if err := long(filepath.Join(dir, "long.xlsx")); err != nil {
		log.Fatal(err)
	}
}

// template is the platform's template as clients fill it: an instructions
// sheet, a title, a phone typed as a number, a date, a formula, an amount,
// a bad row and a blank one.
func template(path string) error {
	f := excelize.NewFile()
	defer f.Close()
	must(f.SetSheetName("Sheet1", "Инструкция"))
	must(f.SetCellStr("Инструкция", "A1", "Заполните лист «Исполнители». Столбец Email обязателен."))
	s := "Исполнители"
	if _, err := f.NewSheet(s); err != nil {
		return err
	}
	date, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("dd.mm.yyyy")})
	if err != nil {
		return err
	}
	money, err := f.NewStyle(&excelize.Style{NumFmt: 4}) // #,##0.00
	if err != nil {
		return err
	}
	must(f.SetCellStr(s, "A1", "Импорт исполнителей ООО «Ромашка»"))
	must(f.MergeCell(s, "A1", "F1"))
	must(f.SetSheetRow(s, "A3", &[]any{"Электронная почта / Email", "ФИО", "Телефон", "Особенности", "Менеджер", "Язык", "Дата договора", "Ставка", "Контакт"}))
	must(f.SetSheetRow(s, "A4", &[]any{" Anna@Example.COM ", "Анна Смирнова", 79161234567, "Figma, UI-киты", "", "русский", time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), 1234.5, "anna.alt@example.com"}))
	must(f.SetCellStyle(s, "G4", "G4", date))
	must(f.SetCellStyle(s, "H4", "H4", money))
	must(f.SetSheetRow(s, "A5", &[]any{"boris@example.com", "Борис Ёлкин", "8 (916) 765-43-21", "", "", "English", "", 99, "boris.alt@example.com"}))
	must(f.SetCellFormula(s, "A6", `LOWER("VERA@EXAMPLE.COM")`))
	must(f.SetCellStr(s, "B6", "Вера"))
	must(f.SetCellStr(s, "F6", "en"))
	must(f.SetSheetRow(s, "A8", &[]any{"not-an-email", "Григорий", "", "", "", "deutsch"}))
	must(f.SetSheetRow(s, "A9", &[]any{"anna@example.com", "Анна again"}))
	f.SetActiveSheet(1)
	return f.SaveAs(path)
}

// long holds 600 rows of distinct Russian text, so the shared-string table
// spans many CONTINUE records and some strings are cut across them.
func long(path string) error {
	f := excelize.NewFile()
	defer f.Close()
	s := "Sheet1"
	must(f.SetSheetRow(s, "A1", &[]any{"Email", "ФИО", "Комментарий"}))
	for i := 1; i <= 600; i++ {
		row := []any{
			fmt.Sprintf("user%04d@example.com", i),
			fmt.Sprintf("Исполнитель Номер %04d Щукин-Ёжиков", i),
			fmt.Sprintf("Дизайн интерфейсов, вёрстка и сопровождение проекта № %d; ещё немного текста, чтобы строка была длиннее", i),
		}
		if i%7 == 0 {
			row[2] = fmt.Sprintf("Plain ASCII note number %d, compressed in BIFF8", i)
		}
		must(f.SetSheetRow(s, fmt.Sprintf("A%d", i+1), &row))
	}
	return f.SaveAs(path)
}

func ptr[T any](v T) *T { return &v }

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
