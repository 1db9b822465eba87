package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
)

// ImportStore stores uploaded files with their queued import, turns a
// preview into an import, and cancels imports.
type ImportStore interface {
	CreateImport(ctx context.Context, up muster.Upload, file io.Reader) (*muster.Import, bool, error)
	ConfirmPreview(ctx context.Context, id, tokenID int64, mapping map[string]string) (*muster.Import, bool, error)
	CancelImport(ctx context.Context, id int64) (*muster.Import, int, error)
}

// Upload is an uploaded file: where it goes, who sent it, and how to read it.
type Upload struct {
	AccountID int64
	TokenID   int64  // 0 from the command line
	FileName  string // as the sender named it; cleaned here
	// Mapping overrides column detection for the fields it names.
	Mapping workbook.Mapping
	// Preview makes the import a dry run (muster.ModePreview).
	Preview bool
}

// Upload reads a file (an HTTP upload or a local file) to a temporary file
// and stores it as Store does.
func (a *Actions) Upload(ctx context.Context, up Upload, file io.Reader, lim workbook.Limits) (im *muster.Import, existing bool, err error) {
	sp, err := a.Spool(file, up.FileName, lim)
	if err != nil {
		return nil, false, err
	}
	defer sp.Close()
	return a.Store(ctx, up, sp, lim)
}

// Spooled is a file received whole into a temporary file, with its size
// and SHA-256, not yet checked.
type Spooled struct {
	f      *os.File
	name   string
	size   int64
	sha256 string
}

// Close removes the temporary file.
func (sp *Spooled) Close() error {
	sp.f.Close()
	return os.Remove(sp.f.Name())
}

// Spool reads a file to a temporary file, hashing it on the way; one
// larger than the limit is refused. The API spools the file part first and
// stores it once it has read the form's other fields.
func (a *Actions) Spool(file io.Reader, sentName string, lim workbook.Limits) (*Spooled, error) {
	lim = lim.OrDefaults()
	tmp, err := os.CreateTemp(a.opts.TmpDir, "muster-upload-")
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	sp := &Spooled{f: tmp, name: fileName(sentName)}
	h := sha256.New()
	sp.size, err = io.Copy(io.MultiWriter(tmp, h), io.LimitReader(file, lim.MaxBytes+1))
	if err == nil && sp.size > lim.MaxBytes {
		err = &http.MaxBytesError{Limit: lim.MaxBytes}
	}
	if err != nil {
		sp.Close()
		return nil, UploadError(err, lim)
	}
	sp.sha256 = hex.EncodeToString(h.Sum(nil))
	return sp, nil
}

// Store refuses a spooled file that is not a workbook we read (without
// inflating it), stores it with a queued import (or preview) and queues
// it. The same file with the same mapping uploaded to the same account
// again creates nothing: existing is true and the earlier import is
// returned. Previews are never duplicates.
func (a *Actions) Store(ctx context.Context, up Upload, sp *Spooled, lim workbook.Limits) (im *muster.Import, existing bool, err error) {
	lim = lim.OrDefaults()
	if err := up.Mapping.Check(); err != nil {
		return nil, false, err
	}
	format, err := workbook.Detect(sp.f, sp.size, sp.name, lim)
	if err != nil {
		return nil, false, err
	}
	if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
		return nil, false, fmt.Errorf("upload: %w", err)
	}
	im, existing, err = a.imports.CreateImport(ctx, muster.Upload{
		AccountID: up.AccountID, TokenID: up.TokenID, FileName: sp.name, Format: format, Size: sp.size,
		SHA256: sp.sha256, Mapping: up.Mapping, Preview: up.Preview,
	}, sp.f)
	if err != nil || existing {
		return im, existing, err
	}
	a.enqueued(a.queue.Import(ctx, im.ID), "import", im.ID)
	return im, false, nil
}

// ConfirmPreview runs a finished preview as an import of the same stored
// file, with the preview's mapping or the one given (nil: the preview's),
// and queues it. Confirming twice returns the same import, existing.
func (a *Actions) ConfirmPreview(ctx context.Context, previewID, tokenID int64, mapping workbook.Mapping) (im *muster.Import, existing bool, err error) {
	if err := mapping.Check(); err != nil {
		return nil, false, err
	}
	im, existing, err = a.imports.ConfirmPreview(ctx, previewID, tokenID, mapping)
	if err != nil || existing {
		return im, existing, err
	}
	a.enqueued(a.queue.Import(ctx, im.ID), "import", im.ID)
	return im, false, nil
}

// CancelImport stops a queued or running import at its next batch and
// cancels its unsent invitations; a finished import is 409 import_finished.
func (a *Actions) CancelImport(ctx context.Context, im *muster.Import) (*muster.Import, int, error) {
	done, emails, err := a.imports.CancelImport(ctx, im.ID)
	if errors.Is(err, muster.ErrHandled) {
		return nil, 0, muster.Conflict("import_finished", "import %d is %s already; only a queued or running import can be cancelled", im.ID, im.Status)
	}
	return done, emails, err
}

// UploadError is the error for a file that could not be read whole: too
// large (an *http.MaxBytesError anywhere in err) or cut off.
func UploadError(err error, lim workbook.Limits) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return muster.Errorf(muster.KindTooLarge, "file_too_large", "the file is larger than the limit of %d bytes; split it into smaller files", lim.OrDefaults().MaxBytes)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err // the API answers 408
	}
	return muster.Invalid("invalid_upload", "the upload could not be read: %v", err)
}

// fileName is the base name of a sent file name, on one line, or "upload".
func fileName(sent string) string {
	if sent == "" {
		return "upload"
	}
	n, err := muster.CleanLine("file_name", filepath.Base(strings.ReplaceAll(sent, `\`, "/")), muster.MaxNameLen)
	if err != nil || n == "" {
		return "upload"
	}
	return n
}
