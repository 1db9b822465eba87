package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
)

// importView is an import as its page shows it.
type importView struct {
	*muster.Import
	Percent int
	Value   int // the bar's value and max
	Max     int
}

func newImportView(im *muster.Import) importView {
	v := importView{Import: im, Value: im.ProcessedRows, Max: 1}
	if im.TotalRows != nil && *im.TotalRows > 0 {
		v.Max = *im.TotalRows
	}
	if im.Finished() {
		v.Value = v.Max
	}
	v.Value = min(v.Value, v.Max)
	v.Percent = v.Value * 100 / v.Max
	return v
}

// imports: GET /accounts/{id}/imports — the template, the upload form and
// the account's import history.
func (s *Server) imports(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.ReadContractors)
	if err != nil {
		return err
	}
	return s.renderImports(w, r, req, acc, "", http.StatusOK)
}

func (s *Server) renderImports(w http.ResponseWriter, r *http.Request, req *request, acc *muster.Account, fileError string, status int) error {
	history, err := s.store.imports.ListImports(r.Context(), acc.ID, 0, 50)
	if err != nil {
		return err
	}
	v, err := s.accountView(r.Context(), r, req, acc, "imports")
	if err != nil {
		return err
	}
	v.Data = map[string]any{"History": history, "Writes": req.actor.Allows(muster.WriteContractors), "FileError": fileError}
	s.render(w, status, "imports", v)
	return nil
}

// upload: POST /accounts/{id}/imports — the file from the form (chosen or
// dropped) goes through the API's upload action; a refused file is shown
// beside the field.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.WriteContractors)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.ImportLimits.OrDefaults().MaxBytes+1<<20) // room for the form's framing
	// Counted before the file is read, as the API does.
	err = s.actions.Limit(r.Context(), actions.Limited{What: muster.LimitImports, ClientID: acc.ClientID}, func() error { return nil })
	var im *muster.Import
	if err == nil {
		im, err = s.readUpload(r, req, acc)
	}
	if e := muster.AsError(err); e != nil && e.Kind != muster.KindInternal {
		httpapi.RetryAfter(w, e)
		return s.renderImports(w, r, req, acc, s.errorText(req, e), httpapi.Status(e))
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/imports/%d", acc.ID, im.ID), http.StatusSeeOther)
	return nil
}

func (s *Server) readUpload(r *http.Request, req *request, acc *muster.Account) (*muster.Import, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, muster.Errorf(muster.KindUnsupported, "unsupported_media_type", "send the file with the form")
	}
	for {
		part, err := mr.NextPart()
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			return nil, muster.Invalid("missing_file", "choose a file to import")
		case errors.As(err, &tooBig):
			return nil, muster.Errorf(muster.KindTooLarge, "file_too_large", "the file is larger than the limit of %d bytes", s.opts.ImportLimits.OrDefaults().MaxBytes)
		case err != nil:
			return nil, muster.Invalid("invalid_upload", "the upload could not be read: %v", err)
		}
		if part.FormName() == "file" {
			im, _, err := s.actions.Upload(r.Context(), actions.Upload{AccountID: acc.ID, TokenID: req.actor.TokenID, FileName: part.FileName()},
				part, s.opts.ImportLimits)
			return im, err
		}
	}
}

// accountImport reads the {iid} import of the {id} account; an import of
// another account is not found, like a missing one.
func (s *Server) accountImport(r *http.Request, req *request) (*muster.Account, *muster.Import, error) {
	acc, err := s.account(r, req, muster.ReadContractors)
	if err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "iid", "import")
	if err != nil {
		return nil, nil, err
	}
	im, err := s.store.imports.FindImport(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if im.AccountID != acc.ID {
		return nil, nil, muster.NotFound("import_not_found", "import %d not found", id)
	}
	return acc, im, nil
}

// importPage: GET /accounts/{id}/imports/{iid} — live progress while it
// runs, then the summary.
func (s *Server) importPage(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, im, err := s.accountImport(r, req)
	if err != nil {
		return err
	}
	v, err := s.accountView(r.Context(), r, req, acc, "imports")
	if err != nil {
		return err
	}
	v.Data = map[string]any{"Import": newImportView(im), "Writes": req.actor.Allows(muster.WriteContractors)}
	s.render(w, http.StatusOK, "import", v)
	return nil
}

// importEvents: GET /accounts/{id}/imports/{iid}/events — the API's event
// stream for htmx's SSE extension: each change is a "progress" event
// carrying the progress block as HTML, the last one is "done".
func (s *Server) importEvents(w http.ResponseWriter, r *http.Request, req *request) error {
	_, im, err := s.accountImport(r, req)
	if err != nil {
		return err
	}
	v := s.view(r, req, "imports")
	return httpapi.StreamImport(r.Context(), w, s.store.imports.FindImport, im, func(im *muster.Import) (string, error) {
		v.Data = map[string]any{"Import": newImportView(im)}
		return s.fragment("import", "progress", v)
	}, s.log)
}

// fragment renders one block of a page, on one line, for an event stream.
func (s *Server) fragment(page, block string, v *view) (string, error) {
	var buf bytes.Buffer
	if err := s.pages.byName[page].ExecuteTemplate(&buf, block, v); err != nil {
		return "", fmt.Errorf("render %s %s: %w", page, block, err)
	}
	return strings.Join(strings.Fields(buf.String()), " "), nil
}

// cancelImport: POST /accounts/{id}/imports/{iid}/cancel — as POST
// /v1/imports/{id}/cancel: the import stops at its next batch, the rows
// committed stay, and its emails not yet sent are cancelled.
func (s *Server) cancelImport(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, im, err := s.accountImport(r, req)
	if err != nil {
		return err
	}
	if err := req.actor.AuthorizeAccount(acc, muster.WriteContractors); err != nil {
		return err
	}
	if _, _, err := s.actions.CancelImport(r.Context(), im); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/imports/%d", acc.ID, im.ID), http.StatusSeeOther)
	return nil
}

// importErrors: GET /accounts/{id}/imports/{iid}/errors.xlsx — the failed
// rows as a workbook, ready to fix and upload again.
func (s *Server) importErrors(w http.ResponseWriter, r *http.Request, req *request) error {
	_, im, err := s.accountImport(r, req)
	if err != nil {
		return err
	}
	return httpapi.WriteErrorWorkbook(r.Context(), w, s.store.imports, "", im)
}

// template: GET /accounts/{id}/imports/template.xlsx.
func (s *Server) template(w http.ResponseWriter, r *http.Request, req *request) error {
	if _, err := s.account(r, req, muster.ReadContractors); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="muster-import-template.xlsx"`)
	return workbook.Template(w)
}
