package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
)

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// eventEvery is how often the progress stream looks at the import.
const eventEvery = 250 * time.Millisecond

// template: GET /v1/imports/template.xlsx.
func (s *Server) template(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", xlsxType)
	w.Header().Set("Content-Disposition", `attachment; filename="muster-import-template.xlsx"`)
	return workbook.Template(w)
}

// upload: POST /v1/accounts/{id}/imports, the file in the multipart field
// "file". The file streams to a temporary file (hashed on the way), its
// format and structure are checked without inflating it, and it is stored
// in PostgreSQL with a queued import: 202 {id}. The same file uploaded to
// the same account again creates nothing: 200 with the existing import and
// "duplicate": true.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.account(r, muster.WriteContractors)
	if err != nil {
		return err
	}
	lim := s.opts.ImportLimits.OrDefaults()
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxBytes+1<<20) // room for the multipart framing
	mr, err := r.MultipartReader()
	if err != nil {
		return muster.Errorf(muster.KindUnsupported, "unsupported_media_type", `send the file as multipart/form-data in a field named "file"`)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return muster.Invalid("missing_file", `the request has no field named "file"`)
		}
		if err != nil {
			return actions.UploadError(err, lim)
		}
		if part.FormName() == "file" {
			return s.storeUpload(w, r, acc, part, lim)
		}
	}
}

func (s *Server) storeUpload(w http.ResponseWriter, r *http.Request, acc *muster.Account, part io.Reader, lim workbook.Limits) error {
	name := ""
	if p, ok := part.(interface{ FileName() string }); ok {
		name = p.FileName()
	}
	im, existing, err := s.app.Upload(r.Context(), actions.Upload{AccountID: acc.ID, TokenID: actor(r).TokenID, FileName: name}, part, lim)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if existing {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"id": im.ID, "duplicate": existing, "import": im})
	return nil
}

// findImport reads the {id} import and checks that the actor may act in
// its account. Another client's import is not found, like a missing one.
func (s *Server) findImport(r *http.Request, act muster.Action) (*muster.Import, error) {
	id, err := pathID(r, "id", "import")
	if err != nil {
		return nil, err
	}
	im, err := s.store.FindImport(r.Context(), id)
	if err != nil {
		return nil, err
	}
	acc, err := s.store.FindAccount(r.Context(), im.AccountID)
	if err != nil {
		return nil, err
	}
	if err := actor(r).AuthorizeAccount(acc, act); err != nil {
		if muster.ErrorKind(err) == muster.KindNotFound {
			return nil, muster.NotFound("import_not_found", "import %d not found", id)
		}
		return nil, err
	}
	return im, nil
}

// importStatus: GET /v1/imports/{id}.
func (s *Server) importStatus(w http.ResponseWriter, r *http.Request) error {
	im, err := s.findImport(r, muster.ReadContractors)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, im)
	return nil
}

// importEvents: GET /v1/imports/{id}/events, Server-Sent Events. Each
// change of the import is a "progress" event with the same JSON as GET
// /v1/imports/{id}; the last is a "done" event, and the stream ends.
func (s *Server) importEvents(w http.ResponseWriter, r *http.Request) error {
	im, err := s.findImport(r, muster.ReadContractors)
	if err != nil {
		return err
	}
	return StreamImport(r.Context(), w, s.store.FindImport, im, func(im *muster.Import) (string, error) {
		data, err := json.Marshal(im)
		return string(data), err
	}, s.log)
}

// StreamImport writes an import's progress as Server-Sent Events until it
// is finished or the reader goes: a "progress" event each time data(im)
// changes (the import is read every 250 ms), then a "done" event. The API
// sends JSON, the console HTML; data must be one line.
func StreamImport(ctx context.Context, w http.ResponseWriter, find func(context.Context, int64) (*muster.Import, error),
	im *muster.Import, data func(*muster.Import) (string, error), log *slog.Logger) error {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return errors.New("event stream: the response writer cannot flush")
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // proxies must not hold events back
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(eventEvery)
	defer tick.Stop()
	id := im.ID
	var last string
	for {
		d, err := data(im)
		if err != nil {
			return err
		}
		event := "progress"
		if im.Finished() {
			event = "done"
		}
		if d != last || im.Finished() {
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, d)
			flusher.Flush()
			last = d
		}
		if im.Finished() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if im, err = find(ctx, id); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The status line is sent: report in the stream and stop.
			fmt.Fprintf(w, "event: error\ndata: {\"error\":{\"code\":\"internal\",\"message\":\"progress unavailable\"}}\n\n")
			log.Error("import events", "import", id, "error", err)
			return nil
		}
	}
}

// importErrors: GET /v1/imports/{id}/errors. JSON by default: one entry
// per problem, {row, column, code, reason}. With ?format=xlsx (or Accept:
// the .xlsx media type) a workbook of the failed rows: the file's own
// columns and a reason column, ready to fix and upload again.
func (s *Server) importErrors(w http.ResponseWriter, r *http.Request) error {
	im, err := s.findImport(r, muster.ReadContractors)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("format") == "xlsx" || strings.Contains(r.Header.Get("Accept"), xlsxType) {
		return s.errorWorkbook(w, r, im)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprintf(w, `{"import_id":%d,"status":%q,"failed":%d,"errors":[`, im.ID, im.Status, im.Failed)
	enc := json.NewEncoder(w)
	first := true
	err = s.store.ImportErrors(r.Context(), im.ID, func(fr muster.FailedRow) error {
		for _, e := range fr.Errors {
			if !first {
				io.WriteString(w, ",")
			}
			first = false
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	})
	io.WriteString(w, "]}\n")
	if err != nil {
		s.log.Error("import errors", "import", im.ID, "error", err)
	}
	return nil
}

func (s *Server) errorWorkbook(w http.ResponseWriter, r *http.Request, im *muster.Import) error {
	return WriteErrorWorkbook(r.Context(), w, s.store, s.opts.TmpDir, im)
}

// ErrorStore reads the rows of an import that failed.
type ErrorStore interface {
	ImportHeader(ctx context.Context, id int64) ([]string, error)
	ImportErrors(ctx context.Context, id int64, fn func(muster.FailedRow) error) error
}

// WriteErrorWorkbook answers with the workbook of an import's failed rows:
// the file's own header and cells plus a reason column. The API and the
// console both serve it.
func WriteErrorWorkbook(ctx context.Context, w http.ResponseWriter, store ErrorStore, tmpDir string, im *muster.Import) error {
	header, err := store.ImportHeader(ctx, im.ID)
	if err != nil {
		return err
	}
	// Built in a temporary file first: an error halfway must still be a
	// clean error answer, not half a workbook.
	tmp, err := os.CreateTemp(tmpDir, "muster-report-")
	if err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	err = workbook.WriteErrorReport(tmp, header, func(add func([]string, string) error) error {
		return store.ImportErrors(ctx, im.ID, func(fr muster.FailedRow) error { return add(fr.Raw, fr.Reason()) })
	})
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	w.Header().Set("Content-Type", xlsxType)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="import-%d-errors.xlsx"`, im.ID))
	_, err = io.Copy(w, tmp)
	return err
}
