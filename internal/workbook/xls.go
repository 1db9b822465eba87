package workbook

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/richardlehane/mscfb"

	"github.com/muster-dev/muster/internal/muster"
)

// xlsSource reads a legacy Excel 97–2003 workbook (BIFF8) from the
// "Workbook" stream of its OLE container (mscfb). The maintained Go readers
// we tried load the whole workbook, panic on LibreOffice's files or drop
// cached formula values (README: "Old .xls files"), so this reads the
// records itself: the globals (sheets, formats, the shared-string table)
// once, then each sheet's cells in file order, one row at a time.
type xlsSource struct {
	path     string
	name     string
	sheetAt  []xlsSheet
	sst      sharedStrings
	xfFmt    []uint16          // XF index → number format id
	formats  map[uint16]string // custom number formats
	date1904 bool
}

type xlsSheet struct {
	name string
	pos  int64 // of its BOF record in the Workbook stream
}

// BIFF8 record types Muster reads.
const (
	recFormula    = 0x0006
	recEOF        = 0x000A
	recFilePass   = 0x002F
	recContinue   = 0x003C
	recDateMode   = 0x0022
	recBoundSheet = 0x0085
	recMulRK      = 0x00BD
	recRString    = 0x00D6
	recSST        = 0x00FC
	recLabelSST   = 0x00FD
	recDimensions = 0x0200
	recNumber     = 0x0203
	recLabel      = 0x0204
	recBoolErr    = 0x0205
	recString     = 0x0207
	recRK         = 0x027E
	recFormat     = 0x041E
	recXF         = 0x00E0
	recBOF        = 0x0809
)

// maxRecord is the largest record BIFF8 allows (8224 bytes of data).
const maxRecord = 8224

func openXLS(path, name string) (*xlsSource, error) {
	s := &xlsSource{path: path, name: name, formats: map[uint16]string{}}
	f, stream, err := s.stream()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := s.readGlobals(newRecords(stream)); err != nil {
		var merr *muster.Error
		if errors.As(err, &merr) {
			return nil, err
		}
		return nil, s.corrupt(err)
	}
	return s, nil
}

// checkXLS looks at the start of a Workbook stream, at upload: a
// password-protected .xls has FILEPASS right after its BOF record.
func checkXLS(stream io.Reader, name string) error {
	rs := newRecords(stream)
	if err := rs.next(); err != nil || rs.typ != recBOF || len(rs.data) < 2 {
		return muster.Invalid("corrupt_workbook", "%q is damaged and cannot be read (the Workbook stream does not start with a BIFF record); open it in Excel and save it again", name)
	}
	if err := rs.next(); err == nil && rs.typ == recFilePass {
		return encryptedXLS(name)
	}
	return nil
}

func encryptedXLS(name string) error {
	return muster.Invalid("encrypted_workbook",
		"%q is protected with a password; open it in Excel, remove the password (File → Info → Protect Workbook → Encrypt with Password) and upload it again", name)
}

func (s *xlsSource) corrupt(err error) error {
	return muster.Invalid("corrupt_workbook", "%q is damaged and cannot be read (%v); open it in Excel and save it again", s.name, err)
}

// stream opens the file and its Workbook stream.
func (s *xlsSource) stream() (*os.File, *mscfb.File, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", s.name, err)
	}
	doc, err := mscfb.New(f)
	if err != nil {
		f.Close()
		return nil, nil, s.corrupt(err)
	}
	for {
		e, err := doc.Next()
		if err != nil {
			f.Close()
			return nil, nil, s.corrupt(errors.New("no Workbook stream"))
		}
		if strings.EqualFold(e.Name, "Workbook") {
			return f, e, nil
		}
	}
}

// records reads BIFF records: a 2-byte type, a 2-byte length, the data.
type records struct {
	r    *bufio.Reader
	pos  int64
	typ  uint16
	data []byte
	buf  [maxRecord]byte
	// peeked is a record read ahead (to see whether CONTINUE follows).
	peeked bool
}

func newRecords(r io.Reader) *records { return &records{r: bufio.NewReaderSize(r, 64<<10)} }

// next reads the next record; io.EOF at the end of the stream.
func (rs *records) next() error {
	if rs.peeked {
		rs.peeked = false
		return nil
	}
	var h [4]byte
	if _, err := io.ReadFull(rs.r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("a record header at byte %d is cut short", rs.pos)
		}
		return err
	}
	rs.typ = binary.LittleEndian.Uint16(h[:])
	n := int(binary.LittleEndian.Uint16(h[2:]))
	if n > maxRecord {
		return fmt.Errorf("record %#04x at byte %d is %d bytes long, more than BIFF8 allows", rs.typ, rs.pos, n)
	}
	rs.data = rs.buf[:n]
	if _, err := io.ReadFull(rs.r, rs.data); err != nil {
		return fmt.Errorf("record %#04x at byte %d is cut short", rs.typ, rs.pos)
	}
	rs.pos += 4 + int64(n)
	return nil
}

// continued returns the data of the current record and of the CONTINUE
// records after it, as separate chunks: strings restate their encoding
// at each chunk boundary.
func (rs *records) continued() ([][]byte, error) {
	chunks := [][]byte{append([]byte(nil), rs.data...)}
	for {
		next, ok, err := rs.continuation()
		if err != nil || !ok {
			return chunks, err
		}
		chunks = append(chunks, next)
	}
}

// continuation reads the next record if it is a CONTINUE and returns a
// copy of its data; otherwise it leaves that record for next.
func (rs *records) continuation() ([]byte, bool, error) {
	if err := rs.next(); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if rs.typ != recContinue {
		rs.peeked = true
		return nil, false, nil
	}
	return append([]byte(nil), rs.data...), true, nil
}

func (s *xlsSource) readGlobals(rs *records) error {
	if err := rs.next(); err != nil || rs.typ != recBOF || len(rs.data) < 2 {
		return errors.New("the Workbook stream does not start with a BIFF record")
	}
	if v := binary.LittleEndian.Uint16(rs.data); v != 0x0600 {
		return muster.Errorf(muster.KindUnsupported, "xls_not_supported",
			"%q is an Excel 5.0/95 workbook, older than the Excel 97–2003 .xls Muster reads; open it in Excel and save it as .xlsx", s.name)
	}
	for {
		if err := rs.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the workbook globals have no end")
			}
			return err
		}
		d := rs.data
		switch rs.typ {
		case recEOF:
			return nil
		case recFilePass:
			return encryptedXLS(s.name)
		case recDateMode:
			s.date1904 = len(d) >= 2 && d[0] == 1
		case recFormat:
			if len(d) < 5 {
				return errors.New("a FORMAT record is too short")
			}
			c := &cursor{chunks: [][]byte{d[2:]}}
			f, err := c.unicodeString(int(binary.LittleEndian.Uint16(d[2:])), 2)
			if err != nil {
				return fmt.Errorf("FORMAT: %w", err)
			}
			s.formats[binary.LittleEndian.Uint16(d)] = f
		case recXF:
			if len(d) < 4 {
				return errors.New("an XF record is too short")
			}
			s.xfFmt = append(s.xfFmt, binary.LittleEndian.Uint16(d[2:]))
		case recBoundSheet:
			if len(d) < 8 {
				return errors.New("a BOUNDSHEET record is too short")
			}
			if d[5] != 0 { // a chart, macro or VB module sheet: no cells
				continue
			}
			c := &cursor{chunks: [][]byte{d[6:]}}
			name, err := c.unicodeString(int(d[6]), 1)
			if err != nil {
				return fmt.Errorf("BOUNDSHEET: %w", err)
			}
			s.sheetAt = append(s.sheetAt, xlsSheet{name: name, pos: int64(binary.LittleEndian.Uint32(d))})
		case recSST:
			// The table streams from its records: each CONTINUE is read
			// when the strings reach it and dropped once they pass it.
			c := &cursor{chunks: [][]byte{append([]byte(nil), d...)}, more: rs.continuation}
			var err error
			if s.sst, err = readSST(c); err != nil {
				return fmt.Errorf("shared strings: %w", err)
			}
		}
	}
}

// readSST reads the shared-string table. Its strings are cut across
// CONTINUE records wherever 8224 bytes run out, even inside a character
// run; each continuation restates whether the characters are 8 or 16 bits.
func readSST(c *cursor) (sharedStrings, error) {
	var sst sharedStrings
	if _, err := c.bytes(4); err != nil {
		return sst, err
	}
	b, err := c.bytes(4)
	if err != nil {
		return sst, err
	}
	n := int(binary.LittleEndian.Uint32(b))
	// The count is the writer's claim: trust it only as far as a file
	// within the size limit could hold.
	sst.refs = make([]uint64, 0, min(n, 1<<20))
	for i := range n {
		b, err := c.bytes(2)
		if err == nil {
			err = sst.add(c, int(binary.LittleEndian.Uint16(b)))
		}
		if err != nil {
			return sst, fmt.Errorf("string %d of %d: %w", i+1, n, err)
		}
	}
	return sst, nil
}

// sharedStrings holds the shared-string table as UTF-8 in blocks of 1 MiB,
// each string a reference (block, start, length) into one: 8 bytes per
// string instead of a Go string's header and allocation, and no copying
// as the table grows.
type sharedStrings struct {
	blocks [][]byte
	refs   []uint64
}

const sstBlock = 1 << 20

// add reads a string of cch characters from c into the table. UTF-8 takes
// at most 3 bytes per UTF-16 unit, and 65,535 units fit in a block; a
// string starts below the block's end, so its start fits in 20 bits.
func (t *sharedStrings) add(c *cursor, cch int) error {
	if len(t.blocks) == 0 || cap(t.blocks[len(t.blocks)-1])-len(t.blocks[len(t.blocks)-1]) <= 3*cch {
		if len(t.blocks) == 1<<24 {
			return errors.New("the shared strings are too large")
		}
		t.blocks = append(t.blocks, make([]byte, 0, sstBlock))
	}
	k := len(t.blocks) - 1
	start := len(t.blocks[k])
	var err error
	if t.blocks[k], err = c.appendString(t.blocks[k], cch); err != nil {
		return err
	}
	t.refs = append(t.refs, uint64(k)<<40|uint64(start)<<20|uint64(len(t.blocks[k])-start))
	return nil
}

func (t *sharedStrings) len() int { return len(t.refs) }

func (t *sharedStrings) get(i int) string {
	r := t.refs[i]
	start := int(r >> 20 & (1<<20 - 1))
	return string(t.blocks[r>>40][start : start+int(r&(1<<20-1))])
}

// cursor reads across the chunks of a record and its CONTINUE records.
type cursor struct {
	chunks  [][]byte
	i, off  int
	scratch []uint16 // one string's UTF-16, reused
	// more, when set, reads the next chunk (a CONTINUE record) on demand.
	more func() ([]byte, bool, error)
	err  error
}

// atBoundary moves to the next chunk when the current one is used up and
// reports whether it did. A chunk passed is let go.
func (c *cursor) atBoundary() bool {
	if c.i >= len(c.chunks) || c.off != len(c.chunks[c.i]) {
		return false
	}
	if c.i+1 == len(c.chunks) && c.more != nil && c.err == nil {
		next, ok, err := c.more()
		switch {
		case err != nil:
			c.err = err
		case !ok:
			c.more = nil
		default:
			c.chunks = append(c.chunks, next)
		}
	}
	if c.i+1 < len(c.chunks) {
		c.chunks[c.i] = nil
		c.i, c.off = c.i+1, 0
		return true
	}
	return false
}

// short is the error of a read past the end: the record's, or reading's.
func (c *cursor) short(what string) error {
	if c.err != nil {
		return c.err
	}
	return errors.New(what)
}

// bytes returns the next n bytes, which may span chunks.
func (c *cursor) bytes(n int) ([]byte, error) {
	c.atBoundary()
	if c.i < len(c.chunks) && c.off+n <= len(c.chunks[c.i]) {
		b := c.chunks[c.i][c.off : c.off+n]
		c.off += n
		return b, nil
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		c.atBoundary()
		if c.i >= len(c.chunks) || c.off == len(c.chunks[c.i]) {
			return nil, c.short("the record ends too soon")
		}
		k := min(n-len(out), len(c.chunks[c.i])-c.off)
		out = append(out, c.chunks[c.i][c.off:c.off+k]...)
		c.off += k
	}
	return out, nil
}

// unicodeString reads an XLUnicodeString whose character count is
// lenBytes long and has already been peeked as cch; no rich text.
func (c *cursor) unicodeString(cch, lenBytes int) (string, error) {
	if _, err := c.bytes(lenBytes); err != nil {
		return "", err
	}
	b, err := c.appendString(nil, cch)
	return string(b), err
}

// appendString reads the flags and characters of a string of cch
// characters and appends it to dst as UTF-8, skipping rich-text runs and
// phonetic data.
func (c *cursor) appendString(dst []byte, cch int) ([]byte, error) {
	fb, err := c.bytes(1)
	if err != nil {
		return dst, err
	}
	flags := fb[0]
	runs, ext := 0, 0
	if flags&0x08 != 0 {
		b, err := c.bytes(2)
		if err != nil {
			return dst, err
		}
		runs = int(binary.LittleEndian.Uint16(b))
	}
	if flags&0x04 != 0 {
		b, err := c.bytes(4)
		if err != nil {
			return dst, err
		}
		ext = int(binary.LittleEndian.Uint32(b))
	}
	wide := flags&0x01 != 0
	u := c.scratch[:0]
	for len(u) < cch {
		if c.atBoundary() { // a continuation restates the width
			fb, err := c.bytes(1)
			if err != nil {
				return dst, err
			}
			wide = fb[0]&0x01 != 0
		}
		if c.i >= len(c.chunks) || c.off == len(c.chunks[c.i]) {
			return dst, c.short("the record ends inside a string")
		}
		chunk := c.chunks[c.i][c.off:]
		if wide {
			for len(chunk) >= 2 && len(u) < cch {
				u = append(u, binary.LittleEndian.Uint16(chunk))
				chunk, c.off = chunk[2:], c.off+2
			}
			if len(chunk) == 1 && len(u) < cch {
				return dst, errors.New("a character is cut in half")
			}
		} else {
			for len(chunk) >= 1 && len(u) < cch {
				u = append(u, uint16(chunk[0]))
				chunk, c.off = chunk[1:], c.off+1
			}
		}
	}
	c.scratch = u
	if _, err := c.bytes(4*runs + ext); err != nil {
		return dst, err
	}
	for k := 0; k < len(u); k++ {
		r := rune(u[k])
		if utf16.IsSurrogate(r) {
			r = utf8.RuneError
			if k+1 < len(u) {
				if pair := utf16.DecodeRune(rune(u[k]), rune(u[k+1])); pair != utf8.RuneError {
					r = pair
					k++
				}
			}
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst, nil
}

func (s *xlsSource) sheets() []string {
	names := make([]string, len(s.sheetAt))
	for i, sh := range s.sheetAt {
		names[i] = sh.name
	}
	return names
}

func (s *xlsSource) sheet(name string) (xlsSheet, bool) {
	for _, sh := range s.sheetAt {
		if sh.name == name {
			return sh, true
		}
	}
	return xlsSheet{}, false
}

// estimate reads the sheet's DIMENSIONS record, written before its cells.
func (s *xlsSource) estimate(sheet string, header int) int {
	it, err := s.open(sheet)
	if err != nil {
		return -1
	}
	defer it.close()
	for {
		if err := it.rs.next(); err != nil {
			return -1
		}
		switch it.rs.typ {
		case recDimensions:
			if len(it.rs.data) < 8 {
				return -1
			}
			return max(int(binary.LittleEndian.Uint32(it.rs.data[4:]))-header, 0)
		case recEOF, recLabelSST, recNumber, recRK, recMulRK, recLabel, recFormula:
			return -1
		}
	}
}

func (s *xlsSource) open(sheet string) (*xlsRows, error) {
	sh, ok := s.sheet(sheet)
	if !ok {
		return nil, muster.Invalid("corrupt_workbook", "%q has no sheet %q", s.name, sheet)
	}
	f, stream, err := s.stream()
	if err != nil {
		return nil, err
	}
	if _, err := stream.Seek(sh.pos, io.SeekStart); err != nil {
		f.Close()
		return nil, s.corrupt(fmt.Errorf("sheet %q starts past the end of the file", sheet))
	}
	rs := newRecords(stream)
	rs.pos = sh.pos
	return &xlsRows{src: s, f: f, rs: rs, sheet: sheet}, nil
}

func (s *xlsSource) rows(sheet string) (rowIter, error) {
	it, err := s.open(sheet)
	if err != nil {
		return nil, err
	}
	if err := it.rs.next(); err != nil || it.rs.typ != recBOF {
		it.close()
		return nil, s.corrupt(fmt.Errorf("sheet %q does not start with a BOF record", sheet))
	}
	return it, nil
}

func (s *xlsSource) close() error { return nil }

// xlsRows streams a sheet's cells, which BIFF8 stores row by row, and
// gathers each row's cells before handing it on.
type xlsRows struct {
	src   *xlsSource
	f     *os.File
	rs    *records
	sheet string
	line  int // the 1-based number of the last row handed out
	// pending is a gathered row waiting for the gap rows before it; carry
	// holds the cells read past the row being gathered.
	pending     []string
	pendingLine int
	carry       []xlsCell
	done        bool
	err         error
}

type xlsCell struct {
	row, col int
	val      string
}

func (r *xlsRows) next() (int, []string, error, bool) {
	if r.pending == nil && !r.gather() {
		return 0, nil, nil, false
	}
	// Rows missing in between come out empty, so the numbers are the
	// ones Excel shows, as with .xlsx.
	if r.line++; r.line < r.pendingLine {
		return r.line, nil, nil, true
	}
	cells := r.pending
	r.pending = nil
	return r.line, cells, nil, true
}

// gather reads the cells of the next row that has any into pending.
func (r *xlsRows) gather() bool {
	var cells []string
	row := -1
	queue := r.carry
	r.carry = nil
	for r.err == nil {
		if len(queue) == 0 {
			if r.done {
				break
			}
			var err error
			if queue, err = r.cells(); err != nil {
				r.err = r.src.corrupt(fmt.Errorf("sheet %q near byte %d: %w", r.sheet, r.rs.pos, err))
				break
			}
			if queue == nil {
				r.done = true
				break
			}
		}
		c := queue[0]
		switch {
		case c.row+1 <= r.line || (row >= 0 && c.row < row):
			r.err = r.src.corrupt(fmt.Errorf("sheet %q: a cell of row %d comes after row %d", r.sheet, c.row+1, max(row+1, r.line)))
		case row >= 0 && c.row > row:
			r.carry = queue
			r.pending, r.pendingLine = cells, row+1
			return true
		default:
			row = c.row
			for len(cells) <= c.col {
				cells = append(cells, "")
			}
			cells[c.col] = c.val
			queue = queue[1:]
		}
	}
	if r.err != nil || row < 0 {
		return false
	}
	r.pending, r.pendingLine = cells, row+1
	return true
}

// cells reads records up to the next ones with values; nil at the end of
// the sheet. Blank cells carry no value and are skipped.
func (r *xlsRows) cells() ([]xlsCell, error) {
	for {
		if err := r.rs.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("the sheet has no end")
			}
			return nil, err
		}
		d := r.rs.data
		var least int
		switch r.rs.typ {
		case recEOF:
			return nil, nil
		case recLabelSST, recNumber, recRK:
			least = 10
		case recLabel, recRString:
			least = 9
		case recBoolErr:
			least = 8
		case recMulRK:
			least = 12
		case recFormula:
			least = 20
		default:
			continue
		}
		if len(d) < least {
			return nil, fmt.Errorf("record %#04x is too short", r.rs.typ)
		}
		row, col := int(binary.LittleEndian.Uint16(d)), int(binary.LittleEndian.Uint16(d[2:]))
		xf := binary.LittleEndian.Uint16(d[4:])
		var val string
		switch r.rs.typ {
		case recLabelSST:
			i := int(binary.LittleEndian.Uint32(d[6:]))
			if i >= r.src.sst.len() {
				return nil, fmt.Errorf("cell %s%d names shared string %d of %d", columnLetter(col), row+1, i, r.src.sst.len())
			}
			val = r.src.sst.get(i)
		case recLabel, recRString:
			cur := &cursor{chunks: [][]byte{d[6:]}}
			s, err := cur.unicodeString(int(binary.LittleEndian.Uint16(d[6:])), 2)
			if err != nil {
				return nil, err
			}
			val = s
		case recNumber:
			val = r.src.number(math.Float64frombits(binary.LittleEndian.Uint64(d[6:])), xf)
		case recRK:
			val = r.src.number(rk(binary.LittleEndian.Uint32(d[6:])), xf)
		case recBoolErr:
			val = boolErr(d[6], d[7])
		case recMulRK:
			// Several RK cells of one row: xf and RK, 6 bytes each.
			var out []xlsCell
			for p := 4; p+6 <= len(d)-2; p += 6 {
				v := r.src.number(rk(binary.LittleEndian.Uint32(d[p+2:])), binary.LittleEndian.Uint16(d[p:]))
				out = append(out, xlsCell{row: row, col: col, val: v})
				col++
			}
			return out, nil
		case recFormula:
			v, err := r.formula(d, xf)
			if err != nil {
				return nil, err
			}
			val = v
		}
		if col > 255 {
			return nil, fmt.Errorf("cell in column %d, past BIFF8's 256 columns", col+1)
		}
		if val == "" {
			continue
		}
		return []xlsCell{{row: row, col: col, val: val}}, nil
	}
}

// formula gives a formula cell's cached value. A string result follows in
// a STRING record (which may itself continue).
func (r *xlsRows) formula(d []byte, xf uint16) (string, error) {
	if binary.LittleEndian.Uint16(d[12:]) != 0xFFFF {
		return r.src.number(math.Float64frombits(binary.LittleEndian.Uint64(d[6:])), xf), nil
	}
	switch d[6] {
	case 0: // a string, in the next STRING record
		for {
			if err := r.rs.next(); err != nil {
				return "", fmt.Errorf("the string result of a formula is missing: %w", err)
			}
			if r.rs.typ == recString {
				break
			}
			if r.rs.typ != 0x04BC && r.rs.typ != 0x0221 { // SHRFMLA, ARRAY come between
				return "", errors.New("the string result of a formula is missing")
			}
		}
		chunks, err := r.rs.continued()
		if err != nil {
			return "", err
		}
		if len(chunks[0]) < 3 {
			return "", errors.New("a STRING record is too short")
		}
		cur := &cursor{chunks: chunks}
		return cur.unicodeString(int(binary.LittleEndian.Uint16(chunks[0])), 2)
	case 1:
		return boolErr(d[8], 0), nil
	case 2:
		return boolErr(d[8], 1), nil
	}
	return "", nil // an empty string
}

func (r *xlsRows) error() error { return r.err }

func (r *xlsRows) close() error { return r.f.Close() }

// rk decodes an RK number: 30 bits of an integer or of a float's top,
// optionally divided by 100.
func rk(v uint32) float64 {
	var f float64
	if v&2 != 0 {
		f = float64(int32(v) >> 2)
	} else {
		f = math.Float64frombits(uint64(v&^3) << 32)
	}
	if v&1 != 0 {
		f /= 100
	}
	return f
}

func boolErr(v, isErr byte) string {
	if isErr == 0 {
		if v != 0 {
			return "TRUE"
		}
		return "FALSE"
	}
	switch v {
	case 0x00:
		return "#NULL!"
	case 0x07:
		return "#DIV/0!"
	case 0x0F:
		return "#VALUE!"
	case 0x17:
		return "#REF!"
	case 0x1D:
		return "#NAME?"
	case 0x24:
		return "#NUM!"
	}
	return "#N/A"
}

// builtinFormats are the number formats BIFF8 does not write out, as
// excelize shows them, so an .xls reads like the same .xlsx.
var builtinFormats = map[uint16]string{
	1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 9: "0%", 10: "0.00%",
	14: "mm-dd-yy", 15: "d-mmm-yy", 16: "d-mmm", 17: "mmm-yy", 18: "h:mm AM/PM", 19: "h:mm:ss AM/PM",
	20: "hh:mm", 21: "hh:mm:ss", 22: "m/d/yy hh:mm", 45: "mm:ss", 46: "[h]:mm:ss", 47: "mmss.0",
}

// number shows a number as a person sees it: a date as a date, a fixed
// number of decimals or a percentage where the format asks for it, and
// otherwise plainly (a phone typed as a number is 79161234567, not 7.9E10).
func (s *xlsSource) number(v float64, xf uint16) string {
	format := ""
	if int(xf) < len(s.xfFmt) {
		id := s.xfFmt[xf]
		if f, ok := s.formats[id]; ok {
			format = f
		} else {
			format = builtinFormats[id]
		}
	}
	if isDateFormat(format) {
		return formatDate(s.date(v), format)
	}
	return formatNumber(v, format)
}

// date turns an Excel serial day number into a time.
func (s *xlsSource) date(v float64) time.Time {
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	if s.date1904 {
		epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	} else if v < 61 {
		v++ // Excel's 29 February 1900, which never was
	}
	days := math.Floor(v)
	secs := math.Round((v - days) * 86400)
	return epoch.AddDate(0, 0, int(days)).Add(time.Duration(secs) * time.Second)
}

// isDateFormat reports whether a format shows dates or times: it has
// d, y, h or s outside quotes and brackets other than elapsed time.
func isDateFormat(f string) bool {
	quoted, bracket := false, false
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\\':
			i++
		case c == '[':
			bracket = true
			if i+1 < len(f) && strings.ContainsRune("hHmMsS", rune(f[i+1])) {
				return true
			}
		case c == ']':
			bracket = false
		case bracket:
		case strings.IndexByte("dDyYhHsS", c) >= 0:
			return true
		}
	}
	return false
}

var monthNames = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// formatDate writes t in an Excel date format: d, dd, m, mm, mmm, yy,
// yyyy, h, hh, ss, with m after h (or before s) meaning minutes.
func formatDate(t time.Time, f string) string {
	var b strings.Builder
	lastHour := false
	for i := 0; i < len(f); {
		c := f[i] | 0x20 // lower case
		n := 1
		for i+n < len(f) && f[i+n]|0x20 == c && strings.IndexByte("dmyhs", c) >= 0 {
			n++
		}
		switch {
		case f[i] == '"':
			end := strings.IndexByte(f[i+1:], '"')
			if end < 0 {
				end = len(f) - i - 1
			}
			b.WriteString(f[i+1 : i+1+end])
			i += end + 2
			continue
		case f[i] == '\\' && i+1 < len(f):
			b.WriteByte(f[i+1])
			i += 2
			continue
		case f[i] == '[':
			end := strings.IndexByte(f[i:], ']')
			if end < 0 {
				end = len(f) - i - 1
			}
			if inner := strings.ToLower(f[i+1 : i+end]); inner == "h" || inner == "hh" {
				b.WriteString(strconv.Itoa(t.Hour()))
				lastHour = true
			}
			i += end + 1
			continue
		case c == 'y':
			if n <= 2 {
				fmt.Fprintf(&b, "%02d", t.Year()%100)
			} else {
				fmt.Fprintf(&b, "%04d", t.Year())
			}
		case c == 'd':
			switch n {
			case 1:
				b.WriteString(strconv.Itoa(t.Day()))
			case 2:
				fmt.Fprintf(&b, "%02d", t.Day())
			case 3:
				b.WriteString(t.Weekday().String()[:3])
			default:
				b.WriteString(t.Weekday().String())
			}
		case c == 'h':
			lastHour = true
			if n == 1 {
				b.WriteString(strconv.Itoa(t.Hour()))
			} else {
				fmt.Fprintf(&b, "%02d", t.Hour())
			}
		case c == 'm':
			minutes := lastHour || strings.HasPrefix(strings.TrimLeft(strings.ToLower(f[i+n:]), ":"), "s")
			switch {
			case minutes && n == 1:
				b.WriteString(strconv.Itoa(t.Minute()))
			case minutes:
				fmt.Fprintf(&b, "%02d", t.Minute())
			case n == 1:
				b.WriteString(strconv.Itoa(int(t.Month())))
			case n == 2:
				fmt.Fprintf(&b, "%02d", int(t.Month()))
			case n == 3:
				b.WriteString(monthNames[t.Month()-1])
			default:
				b.WriteString(t.Month().String())
			}
			lastHour = false
		case c == 's':
			fmt.Fprintf(&b, "%02d", t.Second())
		case strings.HasPrefix(strings.ToUpper(f[i:]), "AM/PM"):
			n = 5
		default:
			b.WriteByte(f[i])
		}
		i += n
	}
	return b.String()
}

// formatNumber shows v with the decimals, thousands separator and percent
// of a plain numeric format ("0.00", "#,##0", "0%"); any other format
// shows the number as General does, without an exponent.
func formatNumber(v float64, f string) string {
	plain := f != "" && strings.Trim(f, "#,0.%") == ""
	if !plain {
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatFloat(v, 'f', 0, 64)
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	if strings.HasSuffix(f, "%") {
		v *= 100
	}
	decimals := 0
	if dot := strings.IndexByte(f, '.'); dot >= 0 {
		decimals = strings.Count(f[dot:], "0")
	}
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(f, ",") {
		s = thousands(s)
	}
	if strings.HasSuffix(f, "%") {
		s += "%"
	}
	return s
}

func thousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
