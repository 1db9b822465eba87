package workbook

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/text/encoding/charmap"

	"github.com/muster-dev/muster/internal/muster"
)

// csvSource reads a CSV file as one sheet. The encoding is UTF-8 (with or
// without a byte-order mark) or, when the text is not valid UTF-8,
// Windows-1251, which is what Russian Excel writes; the separator is the
// one of ";", "," and tab that splits the first lines most consistently.
type csvSource struct {
	path   string
	name   string
	bom    bool
	cp1251 bool
	comma  rune
	lines  int
	limit  int // bytes of one record
}

func openCSV(path, name string, limit int) (*csvSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	head = head[:n]
	s := &csvSource{path: path, name: name, limit: limit}
	if s.bom = bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")); s.bom {
		head = head[3:]
	} else if !isUTF8(head) {
		s.cp1251 = true
		if head, err = charmap.Windows1251.NewDecoder().Bytes(head); err != nil {
			return nil, muster.Invalid("not_a_workbook", "%q is neither UTF-8 nor Windows-1251 text", name)
		}
	}
	s.comma = sniffComma(head)
	// The number of lines estimates the rows before they are read.
	s.lines = bytes.Count(head, []byte("\n"))
	last := byte('\n')
	if len(head) > 0 {
		last = head[len(head)-1]
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			s.lines += bytes.Count(buf[:n], []byte("\n"))
			last = buf[n-1]
		}
		if err != nil {
			break
		}
	}
	if last != '\n' {
		s.lines++ // the last line has no line break
	}
	return s, nil
}

// sniffComma picks the separator whose count per line is the same on the
// most of the first lines (Excel pads every line to the same number of
// separators; commas inside free text are not so regular).
func sniffComma(head []byte) rune {
	lines := bytes.Split(head, []byte("\n"))
	if len(lines) > 20 {
		lines = lines[:20]
	}
	best, bestScore := ';', 0
	for _, c := range []rune{';', ',', '\t'} {
		counts := map[int]int{}
		for _, l := range lines {
			if n := countOutsideQuotes(l, byte(c)); n > 0 {
				counts[n]++
			}
		}
		score := 0
		for _, v := range counts {
			score = max(score, v)
		}
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	return best
}

func countOutsideQuotes(line []byte, c byte) int {
	n, quoted := 0, false
	for _, b := range line {
		switch {
		case b == '"':
			quoted = !quoted
		case b == c && !quoted:
			n++
		}
	}
	return n
}

func (s *csvSource) sheets() []string { return []string{""} }

func (s *csvSource) estimate(_ string, header int) int { return max(s.lines-header, 0) }

func (s *csvSource) rows(string) (rowIter, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.name, err)
	}
	var r io.Reader = bufio.NewReaderSize(f, 64<<10)
	if s.bom {
		if _, err := r.(*bufio.Reader).Discard(3); err != nil {
			f.Close()
			return nil, fmt.Errorf("read %s: %w", s.name, err)
		}
	}
	if s.cp1251 {
		r = charmap.Windows1251.NewDecoder().Reader(r)
	}
	lr := &recordLimit{r: r, limit: int64(s.limit) + 64<<10}
	cr := csv.NewReader(lr)
	cr.Comma = s.comma
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	return &csvRows{f: f, r: cr, lim: lr, name: s.name}, nil
}

var errRecordLimit = errors.New("record over the limit")

// recordLimit stops encoding/csv from gathering one huge record (a
// 50 MiB line, a header of a million columns) in memory: it fails a read
// once the record being read has grown past the limit. The slack covers
// what the CSV reader's buffer reads ahead; checkRow holds the exact limit.
type recordLimit struct {
	r     io.Reader
	limit int64
	read  int64 // bytes handed out
	start int64 // where the record being read began
}

func (l *recordLimit) Read(p []byte) (int, error) {
	if l.read-l.start > l.limit {
		return 0, errRecordLimit
	}
	n, err := l.r.Read(p[:min(len(p), 64<<10)])
	l.read += int64(n)
	return n, err
}

func (s *csvSource) close() error { return nil }

type csvRows struct {
	f    *os.File
	r    *csv.Reader
	lim  *recordLimit
	name string
	line int // of the last record read
	err  error
}

func (r *csvRows) next() (int, []string, error, bool) {
	rec, err := r.r.Read()
	r.lim.start = r.r.InputOffset()
	var perr *csv.ParseError
	switch {
	case errors.Is(err, errRecordLimit):
		r.err = recordTooLarge(r.name, fmt.Sprintf("row %d", r.line+1), r.lim.read-r.lim.start, int(r.lim.limit-64<<10))
		return 0, nil, nil, false
	case err == nil:
		r.line, _ = r.r.FieldPos(0)
		return r.line, rec, nil, true
	case errors.As(err, &perr):
		// One malformed line is that row's failure; the rest still import.
		r.line = perr.StartLine
		return perr.StartLine, nil, muster.Invalid("malformed_csv", "the line cannot be read as CSV: %v", perr.Err), true
	case errors.Is(err, io.EOF):
		return 0, nil, nil, false
	default:
		r.err = fmt.Errorf("read CSV: %w", err)
		return 0, nil, nil, false
	}
}

func (r *csvRows) error() error { return r.err }

func (r *csvRows) close() error { return r.f.Close() }
