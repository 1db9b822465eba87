package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/internal/muster"
)

// inviteForm is what the invite page shows and posts back.
type inviteForm struct {
	Email, FullName, Feature string
	English                  bool
	ManagerIDs               []int64
	Managers                 []muster.Manager // who may manage a contractor here
	Errors                   map[string]string
}

// inviteForm: GET /accounts/{id}/invite.
func (s *Server) inviteForm(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.WriteContractors)
	if err != nil {
		return err
	}
	return s.renderInvite(w, r, req, acc, &inviteForm{}, http.StatusOK)
}

func (s *Server) renderInvite(w http.ResponseWriter, r *http.Request, req *request, acc *muster.Account, f *inviteForm, status int) error {
	all, err := s.store.managers.ListManagers(r.Context(), acc.ClientID)
	if err != nil {
		return err
	}
	for _, m := range all {
		if m.ManagesIn(acc.ID) {
			f.Managers = append(f.Managers, m)
		}
	}
	v, err := s.accountView(r.Context(), r, req, acc, "invite")
	if err != nil {
		return err
	}
	v.Data = f
	s.render(w, status, "invite", v)
	return nil
}

// invite: POST /accounts/{id}/invite — the same checks and the same action
// as POST /v1/accounts/{id}/invitations; a refusal is shown beside its field.
func (s *Server) invite(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.WriteContractors)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return muster.Invalid("invalid_form", "the form could not be read: %v", err)
	}
	f := &inviteForm{
		Email: r.PostForm.Get("email"), FullName: r.PostForm.Get("full_name"), Feature: r.PostForm.Get("feature"),
		English: r.PostForm.Get("english") != "",
	}
	for _, raw := range r.PostForm["manager"] {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return muster.Invalid("unknown_manager", "manager %q is not a manager id", raw)
		}
		f.ManagerIDs = append(f.ManagerIDs, id)
	}
	lang := string(muster.Russian)
	if f.English {
		lang = string(muster.English)
	}
	in, err := muster.NewInvite(acc.ID, f.Email, f.FullName, f.Feature, f.ManagerIDs, lang)
	if err == nil {
		err = s.actions.Limit(r.Context(), actions.Limited{What: muster.LimitInvitations, ClientID: acc.ClientID, Email: in.Email}, func() error {
			_, err := s.actions.Invite(r.Context(), in)
			return err
		})
	}
	if e := muster.AsError(err); e != nil && (e.Kind == muster.KindInvalid || e.Kind == muster.KindConflict) {
		f.Errors = map[string]string{inviteField(e.Code): s.errorText(req, e)}
		return s.renderInvite(w, r, req, acc, f, httpapi.Status(e))
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/contractors?notice=invited", acc.ID), http.StatusSeeOther)
	return nil
}

// inviteField is the form field an invitation error is about.
func inviteField(code string) string {
	switch {
	case code == "invalid_email" || code == "already_member":
		return "email"
	case code == "unknown_manager" || strings.HasPrefix(code, "invalid_manager"):
		return "manager"
	case code == "invalid_full_name":
		return "full_name"
	case code == "invalid_feature":
		return "feature"
	}
	return "form"
}
