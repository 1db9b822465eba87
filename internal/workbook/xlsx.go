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
}

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
	return &xlsxSource{f: f, path: path, name: name}, nil
}

func (s *xlsxSource) sheets() []string { return s.f.GetSheetList() }

// estimate is the number of rows below the header, from the row number of
// the last <row> element of the sheet's XML, found without parsing it (a
// few ms for 100k rows). Blank and formatted empty rows count too, so it
// is an upper bound. The sheet's <dimension> would be cheaper but is often
// missing or wrong ("A1").
func (s *xlsxSource) estimate(sheet string, header int) int {
	zr, err := zip.OpenReader(s.path)
	if err != nil {
		return -1
	}
	defer zr.Close()
	f := findPart(zr, partOf(zr, sheet))
	if f == nil {
		return -1
	}
	rc, err := f.Open()
	if err != nil {
		return -1
	}
	defer rc.Close()
	count, last, err := scanRowTags(rc)
	switch {
	case err != nil:
		return -1
	case last > 0:
		return max(last-header, 0)
	default: // rows without numbers follow one another
		return max(count-header, 0)
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

// scanRowTags counts the <row …> start tags (with or without a namespace
// prefix) of a worksheet's XML and returns the r="…" number of the last.
func scanRowTags(r io.Reader) (count, last int, err error) {
	const keep = 256 // enough of a tag to read its r attribute
	const back = 32  // enough before it to see "<" or "<prefix:"
	buf := make([]byte, 64<<10)
	carried, from := 0, 0
	for {
		m, rerr := io.ReadFull(r, buf[carried:])
		data := buf[:carried+m]
		eof := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
		if rerr != nil && !eof {
			return count, last, rerr
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
				count++
				if n, ok := rowNumber(data[j+3 : min(j+keep, len(data))]); ok {
					last = n
				}
			}
			i = j + 3
		}
		if eof {
			return count, last, nil
		}
		carried, from = copy(buf, data[limit-back:]), back
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
