package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/muster"
)

// ColumnStore keeps each person's choice of contractor columns.
type ColumnStore interface {
	Columns(ctx context.Context, subject string) ([]string, error)
	SaveColumns(ctx context.Context, subject string, cols []string) error
}

// listParams are the query parameters the contractor page hands to the
// list, exactly as the API reads them.
var listParams = []string{"columns", "status", "stage", "tax_status", "send_status", "incomplete", "q", "sort", "cursor", "limit"}

// cell is one value of the contractor table, in the reader's words.
type cell struct {
	Column string
	Text   string
	Red    string // the red icon's reason: registration incomplete
}

// tableRow is one contractor of the table.
type tableRow struct {
	ID       int64
	Email    string
	Name     string
	Status   string
	Cells    []cell
	Resend   bool
	Excluded bool
}

// prefSubject names whose column choice this is: a manager keeps theirs
// whatever token or session they use.
func prefSubject(a *muster.Actor) string {
	if a.ManagerID != 0 {
		return "manager:" + strconv.FormatInt(a.ManagerID, 10)
	}
	return "token:" + strconv.FormatInt(a.TokenID, 10)
}

// contractors: GET /accounts/{id}/contractors — the table with the chosen
// columns, filters, search and keyset paging.
func (s *Server) contractors(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.ReadContractors)
	if err != nil {
		return err
	}
	in := r.URL.Query()
	params := url.Values{}
	for _, p := range listParams {
		if v := strings.TrimSpace(in.Get(p)); v != "" {
			params.Set(p, v)
		}
	}
	if params.Get("columns") == "" {
		cols, err := s.store.columns.Columns(r.Context(), prefSubject(req.actor))
		if err != nil {
			return err
		}
		if len(cols) > 0 {
			params.Set("columns", strings.Join(cols, ","))
		}
	}
	q, err := muster.NewListQuery(acc.ID, params)
	if err != nil {
		return err
	}
	rows, next, err := s.store.contractors.ListContractors(r.Context(), q)
	if err != nil {
		return err
	}
	v, err := s.accountView(r.Context(), r, req, acc, "contractors")
	if err != nil {
		return err
	}
	table := make([]tableRow, len(rows))
	for i := range rows {
		table[i] = s.tableRow(v, &rows[i], q.Columns)
	}
	var nextURL string
	if next != "" {
		nq := url.Values{}
		for _, p := range listParams {
			if p != "cursor" && in.Get(p) != "" {
				nq.Set(p, in.Get(p))
			}
		}
		nq.Set("cursor", next)
		nextURL = r.URL.Path + "?" + nq.Encode()
	}
	v.Notice = s.notice(v, in)
	v.Data = map[string]any{
		"Columns": q.Columns, "AllColumns": muster.ListColumns, "Rows": table, "Next": nextURL,
		"Paged": q.Cursor != "", "Query": q, "Writes": req.actor.Allows(muster.WriteContractors),
		"Stages": muster.Stages, "TaxStatuses": muster.TaxStatuses, "Statuses": []string{muster.MemberInvited, muster.MemberActive, muster.MemberExcluded, "all"},
		"SendStatuses": []string{muster.SendQueued, muster.SendSending, muster.SendRetrying, muster.SendSent, muster.SendFailed, muster.SendCancelled},
	}
	s.render(w, http.StatusOK, "contractors", v)
	return nil
}

func (s *Server) tableRow(v *view, r *muster.ListRow, cols []string) tableRow {
	row := tableRow{
		ID: r.ContractorID, Email: r.Email, Name: r.FullName, Status: r.Status,
		Resend: r.Status == muster.MemberInvited, Excluded: r.Status == muster.MemberExcluded,
	}
	if row.Name == "" {
		row.Name = r.Email
	}
	for _, c := range cols {
		x := cell{Column: c}
		switch val := r.Column(c).(type) {
		case string:
			switch c {
			case "status", "stage", "send_status":
				x.Text = v.T(c + "_" + val)
			default:
				x.Text = val
			}
		case *string:
			if val != nil {
				x.Text = v.T("tax_" + *val)
			}
		case bool:
			if val {
				x.Text = v.T("yes")
			} else if c != "incomplete" {
				x.Text = v.T("no")
			}
		case time.Time, *time.Time:
			x.Text = v.Time(val)
		}
		if c == "registered_at" && r.Incomplete {
			x.Red = incompleteReason(v, r)
		}
		if c == "incomplete" && r.Incomplete {
			x.Red, x.Text = incompleteReason(v, r), ""
		}
		row.Cells = append(row.Cells, x)
	}
	return row
}

// incompleteReason says which required step a registered contractor has
// not done: what the red icon means, shown on hover.
func incompleteReason(v *view, r *muster.ListRow) string {
	var missing []string
	if r.PhoneVerifiedAt == nil {
		missing = append(missing, v.T("reason_phone"))
	}
	if r.TaxStatus == nil {
		missing = append(missing, v.T("reason_tax"))
	}
	return v.T("incomplete_reason", "Missing", strings.Join(missing, ", "))
}

// notice says what the last action did; the query holds only a code and a
// time, never text to show.
func (s *Server) notice(v *view, q url.Values) string {
	switch q.Get("notice") {
	case "invited", "resent", "excluded", "columns", "saved", "task_created", "task_moved",
		"manager_invited", "manager_saved", "manager_resent", "account_created":
		return v.T("notice_" + q.Get("notice"))
	case "throttled":
		at, err := strconv.ParseInt(q.Get("until"), 10, 64)
		if err != nil {
			return ""
		}
		return v.T("notice_throttled", "At", v.Time(time.Unix(at, 0)))
	}
	return ""
}

// saveColumns: POST /accounts/{id}/columns — the Columns picker, kept per
// user.
func (s *Server) saveColumns(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.ReadContractors)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return muster.Invalid("invalid_form", "the form could not be read: %v", err)
	}
	cols := r.PostForm["col"]
	if len(cols) == 0 {
		cols = muster.DefaultListColumns
	}
	q, err := muster.NewListQuery(acc.ID, url.Values{"columns": {strings.Join(cols, ",")}})
	if err != nil {
		return err
	}
	if err := s.store.columns.SaveColumns(r.Context(), prefSubject(req.actor), q.Columns); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/contractors?notice=columns", acc.ID), http.StatusSeeOther)
	return nil
}

// resend: POST /accounts/{id}/contractors/{cid}/resend. Too soon, the page
// says when a resend is allowed.
func (s *Server) resend(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, cid, err := s.member(r, req, muster.WriteContractors)
	if err != nil {
		return err
	}
	card, err := s.store.contractors.ContractorCard(r.Context(), acc.ID, cid)
	if err != nil {
		return err
	}
	err = s.actions.Limit(r.Context(), actions.Limited{What: muster.LimitResends, ClientID: acc.ClientID, Email: card.Contractor.Email}, func() error {
		_, err := s.actions.Resend(r.Context(), acc.ID, cid)
		return err
	})
	if e := muster.AsError(err); e != nil && e.Kind == muster.KindRateLimited {
		until := s.opts.Now().Add(e.RetryAfter).Unix()
		http.Redirect(w, r, fmt.Sprintf("/accounts/%d/contractors?notice=throttled&until=%d", acc.ID, until), http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/contractors?notice=resent", acc.ID), http.StatusSeeOther)
	return nil
}

func (s *Server) member(r *http.Request, req *request, act muster.Action) (*muster.Account, int64, error) {
	acc, err := s.account(r, req, act)
	if err != nil {
		return nil, 0, err
	}
	cid, err := pathID(r, "cid", "contractor")
	return acc, cid, err
}

// excludeForm: GET …/exclude — the confirmation.
func (s *Server) excludeForm(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, cid, err := s.member(r, req, muster.WriteContractors)
	if err != nil {
		return err
	}
	card, err := s.store.contractors.ContractorCard(r.Context(), acc.ID, cid)
	if err != nil {
		return err
	}
	v, err := s.accountView(r.Context(), r, req, acc, "contractors")
	if err != nil {
		return err
	}
	v.Data = card
	s.render(w, http.StatusOK, "exclude", v)
	return nil
}

// exclude: POST …/exclude — confirmed.
func (s *Server) exclude(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, cid, err := s.member(r, req, muster.WriteContractors)
	if err != nil {
		return err
	}
	if _, err := s.actions.Exclude(r.Context(), acc.ID, cid); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/contractors?notice=excluded", acc.ID), http.StatusSeeOther)
	return nil
}
