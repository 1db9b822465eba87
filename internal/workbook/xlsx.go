package workbook

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/muster-dev/muster/internal/muster"
)

// xmlInMemory is the largest worksheet or shared-string part excelize keeps
// in memory; larger ones are inflated to a temporary file and streamed from
// there, which keeps a 100k-row import's memory flat.
const xmlInMemory = 1 << 20

// xlsxSource reads an .xlsx through excelize's streaming row reader.
type xlsxSource struct {
	f    *excelize.File
	path string
	name string
	// scans are each sheet's rows as scanRowTags found them at open.
	scans map[string]rowScan
}

// xmlPerRecord is how much more than a row's text its XML may take: tags,
// attributes and styles around every cell.
const xmlPerRecord = 16

func openXLSX(path, name string, lim Limits, tmpDir string) (*xlsxSource, error) {
	f, err := excelize.OpenFile(path, excelize.Options{
		UnzipSizeLimit:    lim.MaxUnzipped,
		UnzipXMLSizeLimit: min(xmlInMemory, lim.MaxUnzipped),
		TmpDir:            tmpDir,
	})
	if err != nil {
		if f != nil {
			f.Close()
		}
		switch {
		case errors.Is(err, excelize.ErrWorkbookPassword), errors.Is(err, excelize.ErrWorkbookFileFormat):
			return nil, muster.Invalid("encrypted_workbook", "%q is protected with a password or is not a workbook Muster can read; remove the password and save it as .xlsx", name)
		default:
			return nil, muster.Invalid("corrupt_workbook", "%q is damaged and cannot be read (%v); open it in Excel and save it again", name, err)
		}
	}
	s := &xlsxSource{f: f, path: path, name: name}
	if err := s.scan(lim); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// scan reads every sheet's XML once, without parsing it, before excelize
// reads a row: it counts the rows for the estimate, and refuses a row
// whose XML is so large (a cell of hundreds of MB) that excelize would
// hold it in memory before the caps on cells and rows could see it.
func (s *xlsxSource) scan(lim Limits) error {
	zr, err := zip.OpenReader(s.path)
	if err != nil {
		return muster.Invalid("corrupt_workbook", "%q is damaged and cannot be read (%v); open it in Excel and save it again", s.name, err)
	}
	defer zr.Close()
	s.scans = map[string]rowScan{}
	for _, sheet := range s.sheets() {
		f := findPart(zr, partOf(zr, sheet))
		if f == nil {
			continue // excelize found it; the estimate will say it does not know
		}
		rc, err := f.Open()
		if err != nil {
			return muster.Invalid("corrupt_workbook", "sheet %q of %q cannot be read: %v", sheet, s.name, err)
		}
		sc, err := scanRowTags(rc)
		rc.Close()
		if err != nil {
			return muster.Invalid("corrupt_workbook", "sheet %q of %q cannot be read: %v", sheet, s.name, err)
		}
		if limit := int64(xmlPerRecord * lim.MaxRecordBytes); sc.widest > limit {
			return recordTooLarge(s.name, fmt.Sprintf("row %d of sheet «%s»", sc.widestRow, sheet), sc.widest, xmlPerRecord*lim.MaxRecordBytes)
		}
		s.scans[sheet] = sc
	}
	return nil
}

func (s *xlsxSource) sheets() []string { return s.f.GetSheetList() }

// estimate is the number of rows below the header, from the row number of
// the last <row> element of the sheet's XML, found without parsing it (a
// few ms for 100k rows). Blank and formatted empty rows count too, so it
// is an upper bound. The sheet's <dimension> would be cheaper but is often
// missing or wrong ("A1").
func (s *xlsxSource) estimate(sheet string, header int) int {
	sc, ok := s.scans[sheet]
	switch {
	case !ok:
		return -1
	case sc.last > 0:
		return max(sc.last-header, 0)
	default: // rows without numbers follow one another
		return max(sc.count-header, 0)
	}
}

// partOf finds the zip path of a sheet through the workbook and its
// relationships (excelize keeps that map to itself).
func partOf(zr *zip.ReadCloser, sheet string) string {
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			ID   string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels struct {
		Rels []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if readXML(zr, "xl/workbook.xml", &wb) != nil || readXML(zr, "xl/_rels/workbook.xml.rels", &rels) != nil {
		return ""
	}
	for _, sh := range wb.Sheets {
		if sh.Name != sheet {
			continue
		}
		for _, r := range rels.Rels {
			if r.ID == sh.ID {
				if t, ok := strings.CutPrefix(r.Target, "/"); ok {
					return t
				}
				return path.Join("xl", r.Target)
			}
		}
	}
	return ""
}

func readXML(zr *zip.ReadCloser, name string, v any) error {
	f := findPart(zr, name)
	if f == nil || f.UncompressedSize64 > maxPartInMemory {
		return fmt.Errorf("no %s", name)
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return xml.NewDecoder(rc).Decode(v)
}

func findPart(zr *zip.ReadCloser, name string) *zip.File {
	if name == "" {
		return nil
	}
	for _, f := range zr.File {
		if strings.EqualFold(strings.ReplaceAll(f.Name, `\`, "/"), name) {
			return f
		}
	}
	return nil
}

// rowScan is what scanRowTags found in a worksheet's XML.
type rowScan struct {
	count, last int   // <row> tags, and the r="…" number of the last
	widest      int64 // the most bytes from one <row> tag to the next (or the end)
	widestRow   int   // the number of that row (counted when it has no r)
}

// scanRowTags counts the <row …> start tags (with or without a namespace
// prefix) of a worksheet's XML, reads the r="…" number of the last, and
// measures the widest row.
func scanRowTags(r io.Reader) (rowScan, error) {
	const keep = 256 // enough of a tag to read its r attribute
	const back = 32  // enough before it to see "<" or "<prefix:"
	var sc rowScan
	buf := make([]byte, 64<<10)
	carried, from := 0, 0
	var base int64            // where data[0] is in the XML
	prev, row := int64(-1), 0 // the last <row> tag seen and its number
	span := func(end int64) {
		if prev >= 0 && end-prev > sc.widest {
			sc.widest, sc.widestRow = end-prev, row
		}
	}
	for {
		m, rerr := io.ReadFull(r, buf[carried:])
		data := buf[:carried+m]
		eof := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
		if rerr != nil && !eof {
			return sc, rerr
		}
		// Tags starting in the last bytes are looked at with the next read.
		limit := len(data) - keep
		if eof {
			limit = len(data)
		}
		for i := from; ; {
			j := bytes.Index(data[i:], []byte("row"))
			if j < 0 || i+j >= limit {
				break
			}
			j += i
			if j+3 < len(data) && (data[j+3] == ' ' || data[j+3] == '>') && startTag(data, j) {
				sc.count++
				span(base + int64(j))
				prev, row = base+int64(j), row+1
				if n, ok := rowNumber(data[j+3 : min(j+keep, len(data))]); ok {
					sc.last, row = n, n
				}
			}
			i = j + 3
		}
		if eof {
			span(base + int64(len(data)))
			return sc, nil
		}
		carried, from = copy(buf, data[limit-back:]), back
		base += int64(limit - back)
	}
}

// startTag reports whether the name at data[j] opens a start tag: "<row"
// or "<x:row", not "</row" or text.
func startTag(data []byte, j int) bool {
	if j > 0 && data[j-1] == ':' {
		for j--; j > 0 && (data[j-1] >= 'a' && data[j-1] <= 'z' || data[j-1] >= 'A' && data[j-1] <= 'Z' || data[j-1] >= '0' && data[j-1] <= '9'); j-- {
		}
	}
	return j > 0 && data[j-1] == '<'
}

// rowNumber reads r="N" from the rest of a <row …> tag.
func rowNumber(tag []byte) (int, bool) {
	if end := bytes.IndexByte(tag, '>'); end >= 0 {
		tag = tag[:end]
	}
	k := bytes.Index(tag, []byte(` r="`))
	if k < 0 {
		return 0, false
	}
	n := 0
	for _, c := range tag[k+4:] {
		if c < '0' || c > '9' {
			return n, n > 0
		}
		n = n*10 + int(c-'0')
	}
	return 0, false
}

func (s *xlsxSource) rows(sheet string) (rowIter, error) {
	rows, err := s.f.Rows(sheet)
	if err != nil {
		return nil, muster.Invalid("corrupt_workbook", "sheet %q of %q cannot be read: %v", sheet, s.name, err)
	}
	return &xlsxRows{rows: rows, sheet: sheet}, nil
}

func (s *xlsxSource) close() error { return s.f.Close() }

type xlsxRows struct {
	rows  *excelize.Rows
	sheet string
	line  int
	err   error
}

// next returns the next row and its number; rows missing from the XML
// come back empty, so the numbers are the ones Excel shows.
func (r *xlsxRows) next() (int, []string, error, bool) {
	if r.err != nil || !r.rows.Next() {
		if r.err == nil {
			r.err = r.rows.Error()
		}
		return 0, nil, nil, false
	}
	r.line++
	cells, err := r.rows.Columns()
	if err != nil {
		r.err = muster.Invalid("corrupt_workbook", "sheet %q, row %d cannot be read: %v", r.sheet, r.line, err)
		return 0, nil, nil, false
	}
	return r.line, cells, nil, true
}

func (r *xlsxRows) error() error {
	if r.err != nil && muster.AsError(r.err) == nil {
		return fmt.Errorf("sheet %q: %w", r.sheet, r.err)
	}
	return r.err
}

func (r *xlsxRows) close() error { return r.rows.Close() }
