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

// ImportStore stores uploaded files with their queued import.
type ImportStore interface {
	CreateImport(ctx context.Context, up muster.Upload, file io.Reader) (*muster.Import, bool, error)
}

// Upload is an uploaded file: where it goes and who sent it.
type Upload struct {
	AccountID int64
	TokenID   int64  // 0 from the command line
	FileName  string // as the sender named it; cleaned here
}

// Upload reads a file (an HTTP upload or a local file) to a temporary file,
// hashing it on the way, refuses it when it is too large or not a workbook
// we read (without inflating it), stores it with a queued import and
// queues the import. The same file uploaded to the same account again
// creates nothing: existing is true and the earlier import is returned.
func (a *Actions) Upload(ctx context.Context, up Upload, file io.Reader, lim workbook.Limits) (im *muster.Import, existing bool, err error) {
	lim = lim.OrDefaults()
	name := fileName(up.FileName)
	tmp, err := os.CreateTemp(a.opts.TmpDir, "muster-upload-")
	if err != nil {
		return nil, false, fmt.Errorf("upload: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(file, lim.MaxBytes+1))
	if err != nil {
		return nil, false, UploadError(err, lim)
	}
	if size > lim.MaxBytes {
		return nil, false, UploadError(&http.MaxBytesError{Limit: lim.MaxBytes}, lim)
	}
	format, err := workbook.Detect(tmp, size, name, lim)
	if err != nil {
		return nil, false, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, false, fmt.Errorf("upload: %w", err)
	}
	im, existing, err = a.imports.CreateImport(ctx, muster.Upload{
		AccountID: up.AccountID, TokenID: up.TokenID, FileName: name, Format: format, Size: size,
		SHA256: hex.EncodeToString(h.Sum(nil)),
	}, tmp)
	if err != nil || existing {
		return im, existing, err
	}
	a.enqueued(a.queue.Import(ctx, im.ID), "import", im.ID)
	return im, false, nil
}

// UploadError is the error for a file that could not be read whole: too
// large (an *http.MaxBytesError anywhere in err) or cut off.
func UploadError(err error, lim workbook.Limits) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return muster.Errorf(muster.KindTooLarge, "file_too_large", "the file is larger than the limit of %d bytes; split it into smaller files", lim.OrDefaults().MaxBytes)
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
