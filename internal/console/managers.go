package console

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/internal/muster"
)

// managerRow is a manager as the page shows them: only the accounts the
// reader can see, by name.
type managerRow struct {
	muster.Manager
	Accounts []string
}

// managerForm is the invite or edit form, with what was typed and why it
// was refused.
type managerForm struct {
	Email, FullName, Role string
	English               bool
	AccountIDs            []int64
	Errors                map[string]string
}

// managersData is what the managers page shows.
type managersData struct {
	Managers []managerRow
	Manage   bool
	Form     managerForm
	Roles    []string
}

// managers: GET /accounts/{id}/managers — the dashboard's managers, and
// the form that invites one to several accounts with one email.
func (s *Server) managers(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.ReadDashboard)
	if err != nil {
		return err
	}
	return s.renderManagers(w, r, req, acc, managerForm{Role: muster.RoleManager, AccountIDs: []int64{acc.ID}}, http.StatusOK)
}

func (s *Server) renderManagers(w http.ResponseWriter, r *http.Request, req *request, acc *muster.Account, f managerForm, status int) error {
	all, err := s.store.managers.ListManagers(r.Context(), acc.ClientID)
	if err != nil {
		return err
	}
	v, err := s.accountView(r.Context(), r, req, acc, "managers")
	if err != nil {
		return err
	}
	names := map[int64]string{}
	for _, a := range v.Accounts {
		names[a.ID] = a.Name
	}
	rows := make([]managerRow, len(all))
	for i, m := range all {
		rows[i] = managerRow{Manager: m}
		for _, id := range req.actor.VisibleAccountIDs(m.AccountIDs) {
			if n, ok := names[id]; ok {
				rows[i].Accounts = append(rows[i].Accounts, n)
			}
		}
	}
	v.Notice = s.notice(v, r.URL.Query())
	v.Data = managersData{Managers: rows, Manage: req.actor.Allows(muster.ManageManagers), Form: f,
		Roles: []string{muster.RoleAdmin, muster.RoleManager, muster.RoleViewer}}
	s.render(w, status, "managers", v)
	return nil
}

// formIDs reads the account checkboxes of a form.
func formIDs(r *http.Request, field string) ([]int64, error) {
	if err := r.ParseForm(); err != nil {
		return nil, muster.Invalid("invalid_form", "the form could not be read: %v", err)
	}
	ids := []int64{}
	for _, raw := range r.PostForm[field] {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, muster.Invalid("invalid_account_ids", "%q is not an account id", raw)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// inviteManager: POST /accounts/{id}/managers — as POST /v1/clients/{id}/managers.
func (s *Server) inviteManager(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.ReadDashboard)
	if err != nil {
		return err
	}
	if err := req.actor.AuthorizeClient(acc.ClientID, muster.ManageManagers); err != nil {
		return err
	}
	ids, err := formIDs(r, "account")
	if err != nil {
		return err
	}
	f := managerForm{Email: r.PostForm.Get("email"), FullName: r.PostForm.Get("full_name"), Role: r.PostForm.Get("role"),
		English: r.PostForm.Get("english") != "", AccountIDs: ids}
	lang := string(muster.Russian)
	if f.English {
		lang = string(muster.English)
	}
	in, err := muster.NewManagerInvite(acc.ClientID, f.Email, f.FullName, f.Role, ids, lang)
	if err == nil {
		err = s.actions.Limit(r.Context(), actions.Limited{What: muster.LimitInvitations, ClientID: acc.ClientID, Email: in.Email}, func() error {
			_, _, err := s.actions.InviteManager(r.Context(), *req.actor, in)
			return err
		})
	}
	if e := muster.AsError(err); e != nil && e.Kind != muster.KindInternal && e.Kind != muster.KindForbidden && e.Kind != muster.KindRateLimited {
		f.Errors = map[string]string{managerField(e.Code): s.errorText(req, e)}
		return s.renderManagers(w, r, req, acc, f, httpapi.Status(e))
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/managers?notice=manager_invited", acc.ID), http.StatusSeeOther)
	return nil
}

// managerField is the form field a manager error is about.
func managerField(code string) string {
	switch code {
	case "invalid_email", "manager_email_taken", "manager_exists":
		return "email"
	case "invalid_role":
		return "role"
	case "invalid_account_ids", "unknown_account", "account_not_found":
		return "account"
	case "invalid_full_name":
		return "full_name"
	}
	return "form"
}

// manager reads the {mid} manager of the {id} account's dashboard and
// checks that the actor may do act to them, as the API does.
func (s *Server) manager(r *http.Request, req *request, act muster.Action) (*muster.Account, *muster.Manager, error) {
	acc, err := s.account(r, req, muster.ReadDashboard)
	if err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "mid", "manager")
	if err != nil {
		return nil, nil, err
	}
	m, err := s.store.managers.FindManager(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if m.ClientID != acc.ClientID {
		return nil, nil, muster.NotFound("manager_not_found", "manager %d not found", id)
	}
	if err := req.actor.AuthorizeManager(m, act); err != nil {
		return nil, nil, err
	}
	return acc, m, nil
}

// managerForm: GET /accounts/{id}/managers/{mid} — the Edit window: role
// and accounts.
func (s *Server) managerForm(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, m, err := s.manager(r, req, muster.ManageManagers)
	if err != nil {
		return err
	}
	return s.renderManagerForm(w, r, req, acc, m, managerForm{Role: m.Role, AccountIDs: req.actor.VisibleAccountIDs(m.AccountIDs)}, http.StatusOK)
}

func (s *Server) renderManagerForm(w http.ResponseWriter, r *http.Request, req *request, acc *muster.Account, m *muster.Manager, f managerForm, status int) error {
	v, err := s.accountView(r.Context(), r, req, acc, "managers")
	if err != nil {
		return err
	}
	v.Title = "manager"
	v.Data = map[string]any{"Manager": m, "Form": f, "Roles": []string{muster.RoleAdmin, muster.RoleManager, muster.RoleViewer}}
	s.render(w, status, "manager", v)
	return nil
}

// editManager: POST /accounts/{id}/managers/{mid} — as PATCH /v1/managers/{id}.
func (s *Server) editManager(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, m, err := s.manager(r, req, muster.ManageManagers)
	if err != nil {
		return err
	}
	ids, err := formIDs(r, "account")
	if err != nil {
		return err
	}
	role := r.PostForm.Get("role")
	e, err := muster.NewManagerEdit(m.ID, &role, &ids)
	if err == nil {
		_, err = s.actions.EditManager(r.Context(), *req.actor, m.ClientID, e)
	}
	if e := muster.AsError(err); e != nil && e.Kind != muster.KindInternal {
		f := managerForm{Role: role, AccountIDs: ids, Errors: map[string]string{managerField(e.Code): s.errorText(req, e)}}
		return s.renderManagerForm(w, r, req, acc, m, f, httpapi.Status(e))
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/managers?notice=manager_saved", acc.ID), http.StatusSeeOther)
	return nil
}

// resendManager: POST /accounts/{id}/managers/{mid}/resend.
func (s *Server) resendManager(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, m, err := s.manager(r, req, muster.ManageManagers)
	if err != nil {
		return err
	}
	err = s.actions.Limit(r.Context(), actions.Limited{What: muster.LimitResends, ClientID: m.ClientID, Email: m.Email}, func() error {
		_, err := s.actions.ResendManager(r.Context(), m.ID)
		return err
	})
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/managers?notice=manager_resent", acc.ID), http.StatusSeeOther)
	return nil
}

// accounts: GET /accounts/{id}/accounts — the dashboard's accounts the
// reader sees, and the form that adds one from scratch or based on a
// verified account.
func (s *Server) accounts(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.ReadDashboard)
	if err != nil {
		return err
	}
	return s.renderAccounts(w, r, req, acc, "", "", http.StatusOK)
}

func (s *Server) renderAccounts(w http.ResponseWriter, r *http.Request, req *request, acc *muster.Account, name, fieldErr string, status int) error {
	v, err := s.accountView(r.Context(), r, req, acc, "accounts")
	if err != nil {
		return err
	}
	var verified []muster.Account
	for _, a := range v.Accounts {
		if a.KYBStatus == "verified" {
			verified = append(verified, a)
		}
	}
	v.Notice = s.notice(v, r.URL.Query())
	v.Data = map[string]any{"Manage": req.actor.Allows(muster.ManageAccounts), "Verified": verified, "Name": name, "Error": fieldErr}
	s.render(w, status, "accounts", v)
	return nil
}

// createAccount: POST /accounts/{id}/accounts — as POST /v1/clients/{id}/accounts.
func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.ReadDashboard)
	if err != nil {
		return err
	}
	if err := req.actor.AuthorizeClient(acc.ClientID, muster.ManageAccounts); err != nil {
		return err
	}
	raw := r.PostFormValue("name")
	var basedOn *int64
	if b := r.PostFormValue("based_on"); b != "" {
		id, err := strconv.ParseInt(b, 10, 64)
		if err != nil {
			return muster.Invalid("invalid_based_on_account_id", "%q is not an account id", b)
		}
		basedOn = &id
	}
	created, err := s.actions.CreateAccount(r.Context(), *req.actor, acc.ClientID, raw, basedOn)
	if e := muster.AsError(err); e != nil && (e.Kind == muster.KindInvalid || e.Kind == muster.KindConflict) {
		return s.renderAccounts(w, r, req, acc, raw, s.errorText(req, e), httpapi.Status(e))
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/accounts?notice=account_created", created.ID), http.StatusSeeOther)
	return nil
}
