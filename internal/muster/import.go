package muster

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Import states. An import is accepted (queued), read and written in
// batches (running), and ends done, or rejected when the file as a whole
// cannot be read (not a workbook, no email column, over a limit), or
// cancelled by a person (the rows committed before stay).
const (
	ImportQueued    = "queued"
	ImportRunning   = "running"
	ImportDone      = "done"
	ImportRejected  = "rejected"
	ImportCancelled = "cancelled"
	// A preview ends previewed, and expired when not confirmed in time.
	ImportPreviewed = "previewed"
	ImportExpired   = "expired"
)

// Import modes: a preview reads and classifies every row and writes none.
const (
	ModeImport  = "import"
	ModePreview = "preview"
)

// PreviewTTL is how long a preview can be confirmed; then its file is deleted.
const PreviewTTL = 24 * time.Hour

// PreviewSamples is how many rows of each class a preview shows.
const PreviewSamples = 10

// Preview is what a dry run found: how many rows fall in each class
// (RowCreated, RowLinked, RowMember, RowDuplicate, RowFailed), the first
// rows of each, and the columns it read.
type Preview struct {
	Counts  map[string]int          `json:"counts"`
	Samples map[string][]PreviewRow `json:"samples"`
	Columns []Column                `json:"columns"`
}

// PreviewRow is one row as a preview shows it.
type PreviewRow struct {
	Line     int        `json:"row"`
	Email    string     `json:"email,omitempty"`
	FullName string     `json:"full_name,omitempty"`
	Errors   []RowError `json:"errors,omitempty"`
}

// Column is one column of a file's header and the field Muster reads from
// it; Mapped when the caller's mapping chose it rather than detection.
type Column struct {
	Letter string `json:"column"`
	Header string `json:"header,omitempty"`
	Field  string `json:"field"`
	Mapped bool   `json:"mapped,omitempty"`
}

// Import is one uploaded file and the progress of importing it into one
// account. Counters cover the rows committed so far.
type Import struct {
	ID            int64             `db:"id" json:"id"`
	AccountID     int64             `db:"account_id" json:"account_id"`
	FileName      string            `db:"file_name" json:"file_name"`
	Format        string            `db:"format" json:"format"`
	Size          int64             `db:"size" json:"size"`
	SHA256        string            `db:"sha256" json:"sha256"`
	Status        string            `db:"status" json:"status"`
	Sheet         string            `db:"sheet" json:"sheet,omitempty"`
	HeaderRow     int               `db:"header_row" json:"header_row,omitempty"`
	TotalRows     *int              `db:"total_rows" json:"total_rows"`
	ProcessedRows int               `db:"processed_rows" json:"processed_rows"`
	Created       int               `db:"created" json:"created"`
	Linked        int               `db:"linked" json:"linked"`
	Skipped       int               `db:"skipped" json:"skipped"`
	Failed        int               `db:"failed" json:"failed"`
	Ignored       []string          `db:"-" json:"ignored_columns"`
	IgnoredCount  int               `db:"ignored_count" json:"ignored_count"`
	ErrorCode     string            `db:"error_code" json:"error_code,omitempty"`
	ErrorMessage  string            `db:"error_message" json:"error_message,omitempty"`
	CreatedAt     time.Time         `db:"created_at" json:"created_at"`
	StartedAt     *time.Time        `db:"started_at" json:"started_at"`
	FinishedAt    *time.Time        `db:"finished_at" json:"finished_at"`
	CancelledAt   *time.Time        `db:"cancel_requested_at" json:"cancelled_at,omitempty"`
	Mode          string            `db:"mode" json:"mode"`
	Mapping       map[string]string `db:"-" json:"mapping,omitempty"`
	ExpiresAt     *time.Time        `db:"expires_at" json:"expires_at,omitempty"`
	Preview       *Preview          `db:"-" json:"preview,omitempty"`
	// ConfirmedImportID is the import a confirmed preview became.
	ConfirmedImportID *int64 `db:"confirmed_import_id" json:"confirmed_import_id,omitempty"`
	// UploadedBy is filled in the account's history.
	UploadedBy *Uploader `db:"-" json:"uploaded_by,omitempty"`
}

// Uploader says who uploaded a file: the API token's kind and name (with
// the manager's email for a manager's token), or "cli" for the command line.
type Uploader struct {
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Finished reports whether the import will change no more.
func (im *Import) Finished() bool {
	switch im.Status {
	case ImportDone, ImportRejected, ImportCancelled, ImportPreviewed, ImportExpired:
		return true
	}
	return false
}

// Upload is a file accepted for import, before it is stored.
type Upload struct {
	AccountID int64
	TokenID   int64 // who uploaded it, for the audit trail
	FileName  string
	Format    string // "xlsx" or "csv"
	Size      int64
	SHA256    string // hex
	Mapping   map[string]string
	Preview   bool // a dry run: classify the rows, write none
}

// RowError is one problem with one row of an imported file: the row number
// as the spreadsheet shows it, the column's header as the file spells it,
// and why.
type RowError struct {
	Line   int    `json:"row"`
	Column string `json:"column"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("row %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("row %d, column %q: %s", e.Line, e.Column, e.Reason)
}

// CellError turns a validation error about one cell into a RowError that
// says where it is.
func CellError(line int, column string, err error) RowError {
	code, reason := "invalid_value", err.Error()
	if e := AsError(err); e != nil {
		code, reason = e.Code, e.Message
	}
	return RowError{Line: line, Column: column, Code: code, Reason: reason}
}

// ImportRow is one normalized and validated row, ready to be written.
type ImportRow struct {
	Line       int
	Email      string
	FullName   string
	Phone      string
	Feature    string
	Locale     Locale
	Managers   []string // manager emails, as written
	ManagerIDs []int64  // the same managers, resolved by the importer
}

// FailedRow is a row that was not imported, with its cells as read so
// that the error report can give them back for correction.
type FailedRow struct {
	Line   int
	Raw    []string
	Errors []RowError
}

// Reason is the text of a failed row in the error report: its row number
// in the uploaded file and what is wrong in which column.
func (f FailedRow) Reason() string {
	parts := make([]string, len(f.Errors))
	for i, e := range f.Errors {
		parts[i] = e.Reason
		if e.Column != "" {
			parts[i] = "«" + e.Column + "»: " + e.Reason
		}
	}
	return fmt.Sprintf("Строка / Row %d: %s", f.Line, strings.Join(parts, "; "))
}

// ImportBatch is a run of consecutive rows committed in one transaction
// together with the import's checkpoint: After is the checkpoint it
// continues from, Through the last spreadsheet row it covers.
type ImportBatch struct {
	ImportID   int64
	AccountID  int64
	After      int
	Through    int
	Rows       []ImportRow // valid rows, each email once in the file
	Failed     []FailedRow
	Duplicates int // rows whose email came earlier in the file
}

// Len is the number of rows in the batch.
func (b *ImportBatch) Len() int { return len(b.Rows) + len(b.Failed) + b.Duplicates }

// BatchResult is what a committed batch did.
type BatchResult struct {
	Created     int     // new memberships with a sign-up invitation
	Linked      int     // registered contractors linked, with the notice
	Members     int     // already in the account: skipped
	Invitations []int64 // the emails queued, to hand to the queue
	Import      Import  // the import's state after the batch
}

// ErrStaleBatch: the import's checkpoint moved while the batch was built;
// another worker holds the import.
var ErrStaleBatch = errors.New("the import moved on: another worker is running it")

// ErrImportCancelled: the import was cancelled while the batch was built;
// the batch is not written.
var ErrImportCancelled = errors.New("the import was cancelled")

// Row outcomes of an import.
const (
	RowCreated   = "created"   // a new invitation to register
	RowLinked    = "linked"    // a registered profile, linked with the "added" notice
	RowMember    = "member"    // already in the account: skipped
	RowDuplicate = "duplicate" // the same email earlier in the file: skipped
	RowFailed    = "failed"    // see its RowErrors
)

// ParseLanguage reads the invitation language as people write it in a
// spreadsheet: ru/en, Russian/English, русский/английский and short forms,
// or a yes/no answer to "invite in English" (the legacy template's 1/0).
// Empty means the default, Russian.
func ParseLanguage(field, raw string) (Locale, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	if l, ok := languages[strings.TrimSuffix(s, ".")]; ok {
		return l, nil
	}
	if l, err := ParseLocale(field, s); err == nil {
		return l, nil
	}
	return "", Invalid("unsupported_locale", "%s %q is not a language we send invitations in; write ru or en (Russian or English)", field, raw)
}

var languages = map[string]Locale{
	"": Russian, "russian": Russian, "rus": Russian, "русский": Russian, "рус": Russian, "ру": Russian,
	"русский язык": Russian, "по-русски": Russian,
	"english": English, "eng": English, "английский": English, "англ": English, "анг": English,
	"английский язык": English, "по-английски": English,
}

// ParseEnglishFlag reads the legacy invite_in_english column: 1/0, yes/no,
// true/false, да/нет; empty is no.
func ParseEnglishFlag(field, raw string) (Locale, error) {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "", "0", "no", "n", "false", "нет", "н", "-":
		return Russian, nil
	case "1", "yes", "y", "true", "да", "д", "+":
		return English, nil
	}
	return "", Invalid("unsupported_locale", "%s %q is not 1 or 0 (yes or no)", field, raw)
}
