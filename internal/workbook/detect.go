package workbook

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/richardlehane/mscfb"

	"github.com/muster-dev/muster/internal/muster"
)

// Formats Muster reads.
const (
	XLSX = "xlsx"
	XLS  = "xls"
	CSV  = "csv"
)

// Limits bound what one import may cost. Zero fields take the defaults.
type Limits struct {
	MaxBytes    int64 // the uploaded file
	MaxRows     int   // data rows (blank rows do not count)
	MaxUnzipped int64 // an .xlsx's parts, uncompressed, all together
	// What one row may hold, so that a hostile file cannot make a row (or
	// a header of a million columns) cost more than a few MiB.
	MaxColumns     int // up to the last non-blank cell
	MaxCellBytes   int
	MaxRecordBytes int // all the cells of a row, or one CSV record
}

// Default limits (README: IMPORT_MAX_BYTES, IMPORT_MAX_ROWS, IMPORT_MAX_UNZIPPED_BYTES).
const (
	DefaultMaxBytes    = 50 << 20
	DefaultMaxRows     = 200_000
	DefaultMaxUnzipped = 1 << 30
	// Excel has 16,384 columns; a contractor list has a dozen.
	DefaultMaxColumns = 1024
	// Excel holds 32,767 characters in a cell: 64 KiB of Cyrillic UTF-8.
	DefaultMaxCellBytes   = 64 << 10
	DefaultMaxRecordBytes = 1 << 20
)

// OrDefaults fills the zero fields with the defaults.
func (l Limits) OrDefaults() Limits { return l.withDefaults() }

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxRows <= 0 {
		l.MaxRows = DefaultMaxRows
	}
	if l.MaxUnzipped <= 0 {
		l.MaxUnzipped = DefaultMaxUnzipped
	}
	if l.MaxColumns <= 0 {
		l.MaxColumns = DefaultMaxColumns
	}
	if l.MaxCellBytes <= 0 {
		l.MaxCellBytes = DefaultMaxCellBytes
	}
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = DefaultMaxRecordBytes
	}
	return l
}

// Bounds on the parts of an .xlsx, checked from the zip directory before
// anything is inflated. Go's archive/zip refuses an entry that inflates
// past its declared size, so the declared sizes are what we get.
const (
	// A part that is neither a worksheet nor the shared strings is read
	// into memory whole by excelize (styles, the workbook, themes).
	maxPartInMemory = 32 << 20
	// Worksheet XML compresses 5–30× and very repetitive sheets up to
	// ~100×; deflate cannot exceed ~1030×, which is what bombs aim at.
	maxRatio = 200
	// Ratios of small parts mean nothing.
	ratioFloor = 1 << 20
	maxEntries = 10_000
)

var (
	cfbMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	zipMagic = []byte("PK\x03\x04")
)

// Detect reads the start and the directory of a file and says which format
// it is, refusing what Muster cannot read, each with a clear reason: an old
// binary .xls, an encrypted workbook, a damaged or truncated zip, a
// decompression bomb, a file over the size limit, or something that is no
// spreadsheet at all. It inflates nothing, so it is fast and bounded.
func Detect(r io.ReaderAt, size int64, name string, lim Limits) (string, error) {
	lim = lim.withDefaults()
	if size > lim.MaxBytes {
		return "", tooLarge(size, lim.MaxBytes)
	}
	if size == 0 {
		return "", muster.Invalid("empty_file", "the file %q is empty", name)
	}
	head := make([]byte, min(size, 64<<10))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	switch {
	case bytes.HasPrefix(head, zipMagic):
		return XLSX, checkZip(r, size, name, lim)
	case bytes.HasPrefix(head, cfbMagic):
		return XLS, checkCFB(r, name)
	case looksLikeText(head):
		if why := notCSV(head); why != "" {
			return "", notWorkbook(name, why)
		}
		return CSV, nil
	}
	return "", notWorkbook(name, "it is neither an Excel workbook (.xlsx) nor a CSV text file")
}

func tooLarge(size, limit int64) error {
	return muster.Errorf(muster.KindTooLarge, "file_too_large",
		"the file is %s, more than the limit of %s; split it into smaller files", human(size), human(limit))
}

func notWorkbook(name, why string) error {
	return muster.Errorf(muster.KindUnsupported, "not_a_workbook", "%q cannot be imported: %s. Save it as .xlsx (Excel workbook) or .csv", name, why)
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkZip reads the zip directory: it must be an Office Open XML
// spreadsheet whose declared sizes and compression ratios are sane.
func checkZip(r io.ReaderAt, size int64, name string, lim Limits) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return muster.Invalid("corrupt_workbook", "%q is damaged or truncated (%v); open it in Excel and save it again, or upload it again", name, err)
	}
	if len(zr.File) > maxEntries {
		return muster.Invalid("corrupt_workbook", "%q has %d parts; a workbook has a few dozen", name, len(zr.File))
	}
	var total uint64
	workbook := false
	for _, f := range zr.File {
		p := strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))
		switch {
		case p == "xl/workbook.xml":
			workbook = true
		case p == "mimetype" || p == "content.xml":
			return notWorkbook(name, "it is an OpenDocument (.ods) file")
		case p == "word/document.xml":
			return notWorkbook(name, "it is a Word document")
		}
		total += f.UncompressedSize64
		if total > uint64(lim.MaxUnzipped) {
			return bomb(name, fmt.Sprintf("its parts inflate to more than %s", human(lim.MaxUnzipped)))
		}
		if f.UncompressedSize64 > ratioFloor && f.UncompressedSize64 > uint64(maxRatio)*max(f.CompressedSize64, 1) {
			return bomb(name, fmt.Sprintf("part %s inflates %d times (%s from %s)", f.Name,
				f.UncompressedSize64/max(f.CompressedSize64, 1), human(int64(f.UncompressedSize64)), human(int64(f.CompressedSize64))))
		}
		sheetish := strings.HasPrefix(p, "xl/worksheets/") || p == "xl/sharedstrings.xml"
		if !sheetish && f.UncompressedSize64 > maxPartInMemory {
			return bomb(name, fmt.Sprintf("part %s is %s", f.Name, human(int64(f.UncompressedSize64))))
		}
	}
	if !workbook {
		return notWorkbook(name, "it is a zip archive without an Excel workbook inside")
	}
	return nil
}

func bomb(name, why string) error {
	return muster.Errorf(muster.KindTooLarge, "decompression_bomb", "%q was refused: %s, which is not what a spreadsheet of contractors looks like", name, why)
}

// checkCFB tells an encrypted (password-protected) .xlsx from a legacy
// binary .xls: both are OLE compound files. An .xls protected with a
// password says so in its first records, which openXLS reads.
func checkCFB(r io.ReaderAt, name string) error {
	doc, err := mscfb.New(r)
	if err != nil {
		return muster.Invalid("corrupt_workbook", "%q looks like an old Office file but is damaged (%v)", name, err)
	}
	// Look at every entry first: Excel 97 could save both a BIFF8
	// "Workbook" and a BIFF5 "Book" in one file, in either order.
	var workbook *mscfb.File
	book := false
	for {
		entry, err := doc.Next()
		if err != nil {
			break
		}
		switch {
		case entry.Name == "EncryptionInfo", entry.Name == "EncryptedPackage":
			return muster.Invalid("encrypted_workbook",
				"%q is protected with a password; open it in Excel, remove the password (File → Info → Protect Workbook → Encrypt with Password) and upload it again", name)
		case strings.EqualFold(entry.Name, "Workbook") && workbook == nil:
			workbook = entry
		case strings.EqualFold(entry.Name, "Book"):
			book = true
		}
	}
	switch {
	case workbook != nil:
		return checkXLS(workbook, name)
	case book:
		return muster.Errorf(muster.KindUnsupported, "xls_not_supported",
			"%q is an Excel 5.0/95 workbook, older than the Excel 97–2003 .xls Muster reads; open it in Excel and save it as .xlsx (File → Save As → Excel Workbook)", name)
	}
	return notWorkbook(name, "it is an Office file that is not a workbook")
}

// looksLikeText accepts UTF-8 or single-byte text (Windows-1251) without
// NUL bytes and with few control characters.
func looksLikeText(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	bad := 0
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			bad++
		}
	}
	return bad*100 <= len(b)
}

// textSignatures start text files that are documents, not tables.
var textSignatures = []struct{ prefix, what string }{
	{"%PDF-", "a PDF document"}, {"%!PS", "a PostScript document"}, {"{\\rtf", "an RTF document"},
	{"<?xml", "an XML document"}, {"<!doctype", "a web page"}, {"<html", "a web page"}, {"<svg", "an SVG image"},
	{"{", "JSON"}, {"[", "JSON"},
}

// notCSV says why text is not a CSV table, or "" when it may be one: a
// document by its signature, or text whose first lines have no separator
// and no email address (one column of emails is a table; prose is not).
func notCSV(head []byte) string {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF")), " \t\r\n")
	lower := bytes.ToLower(trimmed[:min(len(trimmed), 16)])
	for _, sig := range textSignatures {
		if bytes.HasPrefix(lower, bytes.ToLower([]byte(sig.prefix))) {
			return "it is " + sig.what + ", not a table"
		}
	}
	lines := bytes.SplitN(trimmed, []byte("\n"), 31)
	if len(lines) > 30 {
		lines = lines[:30]
	}
	for _, l := range lines {
		if bytes.ContainsAny(l, ";,\t@") {
			return ""
		}
	}
	return "it is text without columns (no separator such as ; or , and no email address in its first lines)"
}

// isUTF8 reports whether the head of a text file is UTF-8, forgiving a rune
// cut at the end of the sample.
func isUTF8(b []byte) bool {
	for i := 0; i < 3 && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1]
	}
	return utf8.Valid(b)
}
