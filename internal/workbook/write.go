package workbook

import (
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Template headers: Russian first, English after the slash; both halves
// are recognized on import.
var templateHeader = []string{
	"Электронная почта / Email",
	"ФИО / Full name",
	"Телефон / Phone",
	"Особенности / Feature",
	"Менеджер / Manager",
	"Язык приглашения / Language",
}

var instructions = []string{
	"Как заполнить / How to fill it in",
	"",
	"1. Заполните лист «Исполнители»: одна строка — один исполнитель. Строку заголовков не меняйте.",
	"   Fill in the «Исполнители» (Contractors) sheet, one contractor per row. Keep the header row.",
	"2. Электронная почта обязательна: она станет логином исполнителя. Остальные столбцы можно оставить пустыми.",
	"   The email is required: it becomes the contractor's login. Every other column may stay empty.",
	"3. Телефон — в любом виде (8 916 123-45-67, +7 (916) 123-45-67): мы приведём его к формату +79161234567.",
	"   Phone: any form; it is stored as +79161234567. Countries other than Russia need their + code.",
	"4. Особенности — любой текст о сотрудничестве: навыки, проект, ставка.",
	"   Feature: free text about the collaboration: skills, project, rate.",
	"5. Менеджер — email сотрудника вашей компании с доступом к этому аккаунту; несколько — через запятую.",
	"   Manager: the email of your employee with access to this account; several separated by commas.",
	"6. Язык приглашения — ru или en (русский или английский). Пусто — по-русски.",
	"   Language: ru or en (Russian or English). Empty means Russian.",
	"7. Исполнители, которые уже зарегистрированы на платформе, будут добавлены в аккаунт сразу и получат уведомление.",
	"   Contractors already registered on the platform are linked at once and get a short notice.",
	"8. Строки с ошибками не импортируются; отчёт об ошибках можно скачать, исправить и загрузить снова.",
	"   Rows with errors are not imported; download the error report, fix it and upload it again.",
}

// Template writes the import template: a "Исполнители" sheet with the
// header row and an instructions sheet, in Russian and English.
func Template(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	const data = "Исполнители"
	if err := f.SetSheetName("Sheet1", data); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49}) // "@": what is typed stays text
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	header := make([]any, len(templateHeader))
	for i, h := range templateHeader {
		header[i] = h
	}
	if err := f.SetSheetRow(data, "A1", &header); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	steps := []error{
		f.SetRowStyle(data, 1, 1, bold),
		f.SetColStyle(data, "A:F", text), // a phone stays 89161234567, not 8.92E+10
		f.SetColWidth(data, "A", "A", 32),
		f.SetColWidth(data, "B", "B", 30),
		f.SetColWidth(data, "C", "C", 20),
		f.SetColWidth(data, "D", "D", 40),
		f.SetColWidth(data, "E", "E", 28),
		f.SetColWidth(data, "F", "F", 22),
		f.SetPanes(data, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}),
	}
	dv := excelize.NewDataValidation(true)
	dv.Sqref = "F2:F1048576"
	steps = append(steps, dv.SetDropList([]string{"ru", "en"}), f.AddDataValidation(data, dv))
	if _, err := f.NewSheet("Инструкция"); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	for i, line := range instructions {
		steps = append(steps, f.SetCellStr("Инструкция", fmt.Sprintf("A%d", i+1), line))
	}
	steps = append(steps, f.SetCellStyle("Инструкция", "A1", "A1", bold), f.SetColWidth("Инструкция", "A", "A", 110))
	for _, err := range steps {
		if err != nil {
			return fmt.Errorf("template: %w", err)
		}
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("write template: %w", err)
	}
	return nil
}

// ErrorColumn heads the column of reasons in the error report. It is
// ignored when the corrected report is imported again.
const ErrorColumn = "Ошибка / Error"

// ErrorReport writes the failed rows of an import as a workbook with the
// file's own columns plus a reason, so the client fixes the rows and
// uploads the report again. It streams: rows go to a temporary file, not
// to memory.
type ErrorReport struct {
	f    *excelize.File
	sw   *excelize.StreamWriter
	text int
	line int
	cols int
}

// NewErrorReport starts a report under the file's header row.
func NewErrorReport(header []string) (*ErrorReport, error) {
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("error report: %w", err)
	}
	e := &ErrorReport{f: f, sw: sw, cols: len(header)}
	if e.text, err = f.NewStyle(&excelize.Style{NumFmt: 49}); err != nil {
		f.Close()
		return nil, fmt.Errorf("error report: %w", err)
	}
	if err := e.add(header, ErrorColumn); err != nil {
		f.Close()
		return nil, err
	}
	return e, nil
}

// Add writes one failed row with its reason.
func (e *ErrorReport) Add(raw []string, reason string) error { return e.add(raw, reason) }

func (e *ErrorReport) add(raw []string, reason string) error {
	cells := make([]any, max(e.cols, len(raw))+1)
	for i := range cells[:len(cells)-1] {
		v := ""
		if i < len(raw) {
			v = raw[i]
		}
		cells[i] = e.cell(v)
	}
	cells[len(cells)-1] = e.cell(reason)
	e.line++
	if err := e.sw.SetRow(fmt.Sprintf("A%d", e.line), cells); err != nil {
		return fmt.Errorf("error report row %d: %w", e.line, err)
	}
	return nil
}

// cell writes text as a text cell. Text that a spreadsheet would take for
// a formula (=, +, -, @) also gets a leading apostrophe, so that it stays
// text even after the file goes through CSV; import takes it off again.
func (e *ErrorReport) cell(v string) excelize.Cell {
	if v != "" && strings.IndexByte(formulaStart, v[0]) >= 0 {
		v = "'" + v
	}
	return excelize.Cell{StyleID: e.text, Value: v}
}

// WriteTo finishes the report and writes it to w.
func (e *ErrorReport) WriteTo(w io.Writer) (int64, error) {
	defer e.f.Close()
	if err := e.sw.Flush(); err != nil {
		return 0, fmt.Errorf("error report: %w", err)
	}
	n, err := e.f.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("write error report: %w", err)
	}
	return n, nil
}

// WriteErrorReport writes a whole report to w: the header, then the rows
// that each hands to add, one at a time.
func WriteErrorReport(w io.Writer, header []string, each func(add func(raw []string, reason string) error) error) error {
	rep, err := NewErrorReport(header)
	if err != nil {
		return err
	}
	defer rep.Close()
	if err := each(rep.Add); err != nil {
		return err
	}
	_, err = rep.WriteTo(w)
	return err
}

// Close discards an unfinished report.
func (e *ErrorReport) Close() error { return e.f.Close() }
