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
	"strconv"
	"strings"
	"time"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
)

// ImportStore reads imports: one, an account's history, and the rows that
// failed.
type ImportStore interface {
	FindImport(ctx context.Context, id int64) (*muster.Import, error)
	ListImports(ctx context.Context, accountID, before int64, limit int) ([]*muster.Import, error)
	ErrorStore
}

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// eventEvery is how often the progress stream looks at the import.
const eventEvery = 250 * time.Millisecond

// template: GET /v1/imports/template.xlsx.
func (s *Server) template(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", xlsxType)
	w.Header().Set("Content-Disposition", `attachment; filename="muster-import-template.xlsx"`)
	return workbook.Template(w)
}

// upload: POST /v1/accounts/{id}/imports[?mode=preview], the file in the
// multipart field "file" and an optional JSON column mapping in the field
// "mapping" (before or after the file). The file is spooled to a temporary
// file; once the form is read, actions.Store checks it without inflating
// it and stores it with a queued import (or preview): 202 {id}. The same
// file with the same mapping uploaded to the same account again creates
// nothing: 200 with the existing import and "duplicate": true.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.account(r, muster.WriteContractors)
	if err != nil {
		return err
	}
	up := actions.Upload{AccountID: acc.ID, TokenID: actor(r).TokenID}
	switch mode := r.URL.Query().Get("mode"); mode {
	case "", muster.ModeImport:
	case muster.ModePreview:
		up.Preview = true
	default:
		return muster.Invalid("invalid_mode", "mode %q is neither import nor preview", mode)
	}
	// Counted as it starts: a refused file cost the server its reading.
	if err := s.app.Limit(r.Context(), actions.Limited{What: muster.LimitImports, ClientID: acc.ClientID}, func() error { return nil }); err != nil {
		return err
	}
	lim := s.opts.ImportLimits.OrDefaults()
	// A file takes longer to arrive than a JSON body.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.opts.UploadTimeout))
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxBytes+1<<20) // room for the multipart framing
	mr, err := r.MultipartReader()
	if err != nil {
		return muster.Errorf(muster.KindUnsupported, "unsupported_media_type", `send the file as multipart/form-data in a field named "file"`)
	}
	var file *actions.Spooled
	defer func() {
		if file != nil {
			file.Close()
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return actions.UploadError(err, lim)
		}
		switch part.FormName() {
		case "file":
			if file != nil {
				return muster.Invalid("invalid_upload", `the request has two fields named "file"; import one file at a time`)
			}
			if file, err = s.app.Spool(part, part.FileName(), lim); err != nil {
				return err
			}
		case "mapping":
			data, err := io.ReadAll(io.LimitReader(part, 64<<10+1))
			if err != nil {
				return actions.UploadError(err, lim)
			}
			if len(data) > 64<<10 {
				return muster.Invalid("invalid_mapping", "the mapping is longer than 64 KiB")
			}
			if up.Mapping, err = workbook.ParseMapping(data); err != nil {
				return err
			}
		}
	}
	if file == nil {
		return muster.Invalid("missing_file", `the request has no field named "file"`)
	}
	im, existing, err := s.app.Store(r.Context(), up, file, lim)
	if err != nil {
		return err
	}
	queued(w, im, existing)
	return nil
}

// queued answers a stored upload or a confirmed preview.
func queued(w http.ResponseWriter, im *muster.Import, existing bool) {
	status := http.StatusAccepted
	if existing {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"id": im.ID, "duplicate": existing, "import": im})
}

// confirmImport: POST /v1/imports/{id}/confirm [{"mapping": {...}}] runs a
// finished preview as an import of the same stored file, with the
// preview's mapping or the one in the body.
func (s *Server) confirmImport(w http.ResponseWriter, r *http.Request) error {
	prev, err := s.findImport(r, muster.WriteContractors)
	if err != nil {
		return err
	}
	var body struct {
		Mapping json.RawMessage `json:"mapping"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &body); err != nil {
			return err
		}
	}
	var mapping workbook.Mapping
	if len(body.Mapping) > 0 && string(body.Mapping) != "null" {
		if mapping, err = workbook.ParseMapping(body.Mapping); err != nil {
			return err
		}
		if mapping == nil {
			mapping = workbook.Mapping{} // {}: no mapping, not the preview's
		}
	}
	im, existing, err := s.app.ConfirmPreview(r.Context(), prev.ID, actor(r).TokenID, mapping)
	if err != nil {
		return err
	}
	queued(w, im, existing)
	return nil
}

// findImport reads the {id} import and checks that the actor may act in
// its account. Another client's import is not found, like a missing one.
func (s *Server) findImport(r *http.Request, act muster.Action) (*muster.Import, error) {
	id, err := pathID(r, "id", "import")
	if err != nil {
		return nil, err
	}
	im, err := s.imports.FindImport(r.Context(), id)
	if err != nil {
		return nil, err
	}
	acc, err := s.accounts.FindAccount(r.Context(), im.AccountID)
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

// importHistory: GET /v1/accounts/{id}/imports?limit=&before=, the
// account's imports newest first, with their counts and who uploaded each;
// next_before pages on.
func (s *Server) importHistory(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.account(r, muster.ReadContractors)
	if err != nil {
		return err
	}
	limit, before := 50, int64(0)
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 200 {
			return muster.Invalid("invalid_limit", "limit %q is not a number from 1 to 200", v)
		}
	}
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			return muster.Invalid("invalid_cursor", "before %q is not an import id", v)
		}
	}
	list, err := s.imports.ListImports(r.Context(), acc.ID, before, limit)
	if err != nil {
		return err
	}
	out := struct {
		Imports    []*muster.Import `json:"imports"`
		NextBefore int64            `json:"next_before,omitempty"`
	}{Imports: list}
	if len(list) == limit {
		out.NextBefore = list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// cancelImport: POST /v1/imports/{id}/cancel. The import stops at its next
// batch; the rows committed stay, and its emails not yet sent are
// cancelled. A finished import is 409 import_finished.
func (s *Server) cancelImport(w http.ResponseWriter, r *http.Request) error {
	im, err := s.findImport(r, muster.WriteContractors)
	if err != nil {
		return err
	}
	done, emails, err := s.app.CancelImport(r.Context(), im)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"import": done, "cancelled_emails": emails})
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
	return StreamImport(r.Context(), w, s.imports.FindImport, im, func(im *muster.Import) (string, error) {
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
	err = s.imports.ImportErrors(r.Context(), im.ID, func(fr muster.FailedRow) error {
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
	return WriteErrorWorkbook(r.Context(), w, s.imports, s.opts.TmpDir, im)
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
