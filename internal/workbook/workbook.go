// Package workbook reads the files clients import contractors from: Excel
// workbooks (.xlsx, through excelize's streaming reader) and CSV. It finds
// the sheet and the header row, recognizes the columns by their Russian or
// English headers, and yields one normalized row at a time, with every
// problem tied to its row and column. It refuses what it cannot read
// safely (old .xls, encrypted or damaged files, decompression bombs, files
// over the limits) before reading any rows. It knows nothing of the
// database or the job queue, and never holds a whole sheet in memory.
package workbook

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/muster-dev/muster/internal/muster"
)

// headerScan is how many rows of each sheet are searched for the header:
// titles, notes and blank rows often come first.
const headerScan = 30

// source is a file format: a list of sheets, each a stream of rows.
type source interface {
	sheets() []string
	estimate(sheet string, header int) int
	rows(sheet string) (rowIter, error)
	close() error
}

// rowIter streams the rows of one sheet with their numbers as the
// spreadsheet shows them. A row that cannot be read at all comes back
// with rowErr set; the stream goes on.
type rowIter interface {
	next() (line int, cells []string, rowErr error, ok bool)
	error() error
	close() error
}

// Reader streams the data rows of one file, below its header row.
type Reader struct {
	Format string
	Header *Header
	// Estimate is how many rows lie below the header according to the
	// sheet's dimension (or the number of lines of a CSV); blank rows make
	// it an upper bound. -1 when the file does not say.
	Estimate int

	name    string
	lim     Limits
	mapping Mapping
	src     source
	it      rowIter
	row     Row
	count   int
	err     error
}

// Open checks the file at path (uploaded as name), finds its header row
// and returns a Reader positioned on the first data row. tmpDir is where
// excelize may inflate large worksheets ("" for the system default). The
// mapping, if any, overrides detection for the fields it names.
func Open(path, name string, lim Limits, tmpDir string, m Mapping) (*Reader, error) {
	lim = lim.withDefaults()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	format, err := Detect(f, st.Size(), name, lim)
	f.Close()
	if err != nil {
		return nil, err
	}
	if err := m.Check(); err != nil {
		return nil, err
	}
	r := &Reader{Format: format, name: name, lim: lim, mapping: m}
	switch format {
	case XLSX:
		r.src, err = openXLSX(path, name, lim, tmpDir)
	case XLS:
		r.src, err = openXLS(path, name)
	default:
		r.src, err = openCSV(path, name, lim.MaxRecordBytes)
	}
	if err != nil {
		return nil, err
	}
	if err := r.start(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// start finds the header and positions the reader below it.
func (r *Reader) start() error {
	h, err := r.findHeader()
	if err != nil {
		return err
	}
	r.Header = h
	r.Estimate = r.src.estimate(h.Sheet, h.Line)
	if r.Estimate > r.lim.MaxRows {
		// The dimension also counts formatted empty rows: count for real.
		n, err := r.countRows()
		if err != nil {
			return err
		}
		if n > r.lim.MaxRows {
			return r.tooManyRows()
		}
		r.Estimate = n
	}
	if r.it, err = r.rowsBelowHeader(); err != nil {
		return err
	}
	return nil
}

// findHeader picks, among the first rows of every sheet, the row with an
// email column and the most recognized columns; the first sheet wins a tie.
// That skips an instructions sheet and titles above the table.
func (r *Reader) findHeader() (*Header, error) {
	var best *Header
	bestKnown := 0
	var names []string
	for _, sheet := range r.src.sheets() {
		names = append(names, "«"+sheet+"»")
		it, err := r.src.rows(sheet)
		if err != nil {
			return nil, err
		}
		for range headerScan {
			line, cells, _, ok := it.next()
			if !ok {
				break
			}
			if err := r.checkRow(sheet, line, cells); err != nil {
				it.close()
				return nil, err
			}
			if blank(cells) {
				continue
			}
			fields, known, email := mapHeader(cells)
			if len(r.mapping) > 0 {
				// Header texts the mapping names make a row the header.
				var matched int
				fields, matched, _ = r.mapping.apply(cells, fields)
				known, email = countFields(fields)
				known += 100 * matched
			}
			if email && known > bestKnown {
				best, bestKnown = newHeader(sheet, line, cells, fields), known
			}
		}
		err = it.error()
		it.close()
		if err != nil {
			return nil, err
		}
	}
	if best != nil {
		if _, _, missing := r.mapping.apply(best.Cells, slices.Clone(best.fields)); missing != "" {
			where := fmt.Sprintf("row %d", best.Line)
			if best.Sheet != "" {
				where += " of sheet «" + best.Sheet + "»"
			}
			return nil, mappingMissing(missing, r.mapping, where)
		}
		best.mapped = r.mapping.fields()
		return best, nil
	}
	where := "the first " + fmt.Sprint(headerScan) + " lines"
	if r.Format != CSV {
		where = fmt.Sprintf("the first %d rows of sheet(s) %s", headerScan, strings.Join(names, ", "))
	}
	return nil, muster.Invalid("no_email_column",
		"%q has no email column: none of %s has a header such as Email, E-mail or Электронная почта. Add one, or start from the template (GET /v1/imports/template.xlsx)", r.name, where)
}

func (r *Reader) rowsBelowHeader() (rowIter, error) {
	it, err := r.src.rows(r.Header.Sheet)
	if err != nil {
		return nil, err
	}
	for {
		line, _, _, ok := it.next()
		if !ok {
			err := it.error()
			if err == nil {
				err = fmt.Errorf("the header row %d vanished on a second read", r.Header.Line)
			}
			it.close()
			return nil, err
		}
		if line >= r.Header.Line {
			return it, nil
		}
	}
}

// countRows counts the data rows, stopping once past the limit.
func (r *Reader) countRows() (int, error) {
	it, err := r.rowsBelowHeader()
	if err != nil {
		return 0, err
	}
	defer it.close()
	n := 0
	for n <= r.lim.MaxRows {
		line, cells, rowErr, ok := it.next()
		if !ok {
			break
		}
		if err := r.checkRow(r.Header.Sheet, line, cells); err != nil {
			return 0, err
		}
		if rowErr != nil || !blank(cells) {
			n++
		}
	}
	return n, it.error()
}

// checkRow refuses a row past the caps on columns, cell and row size
// (Limits), naming the cap and the row.
func (r *Reader) checkRow(sheet string, line int, cells []string) error {
	where := "row " + fmt.Sprint(line)
	if sheet != "" {
		where += " of sheet «" + sheet + "»"
	}
	total := 0
	last := -1
	for i, c := range cells {
		if len(c) > r.lim.MaxCellBytes {
			return muster.Errorf(muster.KindTooLarge, "cell_too_large",
				"%q: cell %s%s holds %s, more than the limit of %s for one cell", r.name, columnLetter(i), strings.TrimPrefix(where, "row "), human(int64(len(c))), human(int64(r.lim.MaxCellBytes)))
		}
		total += len(c)
		if c != "" {
			last = i
		}
	}
	if last >= r.lim.MaxColumns {
		return muster.Errorf(muster.KindTooLarge, "too_many_columns",
			"%q: %s has %d columns, more than the limit of %d; delete the columns that are not part of the table", r.name, where, last+1, r.lim.MaxColumns)
	}
	if total > r.lim.MaxRecordBytes {
		return recordTooLarge(r.name, where, int64(total), r.lim.MaxRecordBytes)
	}
	return nil
}

func recordTooLarge(name, where string, size int64, limit int) error {
	return muster.Errorf(muster.KindTooLarge, "record_too_large",
		"%q: %s holds %s, more than the limit of %s for one row", name, where, human(size), human(int64(limit)))
}

func (r *Reader) tooManyRows() error {
	return muster.Errorf(muster.KindTooLarge, "too_many_rows",
		"%q has more than %d rows below its header, the limit of one import; split it into several files", r.name, r.lim.MaxRows)
}

// Next advances to the next non-blank data row; it returns false at the
// end or on an error (see Err).
func (r *Reader) Next() bool {
	if r.err != nil || r.it == nil {
		return false
	}
	for {
		line, cells, rowErr, ok := r.it.next()
		if !ok {
			r.err = r.it.error()
			return false
		}
		if r.err = r.checkRow(r.Header.Sheet, line, cells); r.err != nil {
			return false
		}
		if rowErr == nil && blank(cells) {
			continue
		}
		if r.count++; r.count > r.lim.MaxRows {
			r.err = r.tooManyRows()
			return false
		}
		if rowErr != nil {
			r.row = Row{Errors: []muster.RowError{muster.CellError(line, "", rowErr)}}
			r.row.Line = line
			return true
		}
		r.row = r.Header.parseRow(line, cells)
		return true
	}
}

// Row returns the current row. Its slices are its own.
func (r *Reader) Row() Row { return r.row }

// Rows returns the number of data rows read so far.
func (r *Reader) Rows() int { return r.count }

// Err returns the error that stopped Next, if any.
func (r *Reader) Err() error { return r.err }

// Close releases the file and excelize's temporary files.
func (r *Reader) Close() error {
	var err error
	if r.it != nil {
		err = r.it.close()
		r.it = nil
	}
	if r.src != nil {
		if cerr := r.src.close(); err == nil {
			err = cerr
		}
		r.src = nil
	}
	return err
}
