package console

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/internal/muster"
)

// staffOnly refuses anyone but platform staff, as the API does.
func staffOnly(a *muster.Actor) error {
	if !a.Staff() {
		return muster.Errorf(muster.KindForbidden, "staff_only", "only platform staff may merge dashboards")
	}
	return nil
}

// mergeForm is what the merge form posts: the dashboards by their owners' emails.
type mergeForm struct {
	Target, Sources string
	Error           string
}

// merges: GET /merges — the form and the audit trail of every merge.
func (s *Server) merges(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := staffOnly(req.actor); err != nil {
		return err
	}
	return s.renderMerges(w, r, req, mergeForm{}, http.StatusOK)
}

func (s *Server) renderMerges(w http.ResponseWriter, r *http.Request, req *request, f mergeForm, status int) error {
	ms, err := s.store.merges.ListMerges(r.Context(), 200)
	if err != nil {
		return err
	}
	v := s.view(r, req, "merges")
	v.Data = map[string]any{"Merges": ms, "Form": f}
	s.render(w, status, "merges", v)
	return nil
}

// createMerge: POST /merges — a dry run, or (apply=1) the merge itself,
// through the same action as POST /v1/merges.
func (s *Server) createMerge(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := staffOnly(req.actor); err != nil {
		return err
	}
	f := mergeForm{Target: strings.TrimSpace(r.PostFormValue("target")), Sources: r.PostFormValue("sources")}
	mr := muster.MergeRequest{TargetOwnerEmail: f.Target, DryRun: r.PostFormValue("apply") != "1"}
	for _, e := range strings.FieldsFunc(f.Sources, func(r rune) bool { return r == '\n' || r == ',' || r == ';' || r == ' ' || r == '\r' }) {
		mr.SourceOwnerEmails = append(mr.SourceOwnerEmails, e)
	}
	err := mr.Clean()
	var m *muster.Merge
	if err == nil {
		m, _, err = s.actions.Merge(r.Context(), mr, *req.actor)
	}
	if e := muster.AsError(err); e != nil && e.Kind != muster.KindInternal {
		f.Error = s.errorText(req, e)
		return s.renderMerges(w, r, req, f, httpapi.Status(e))
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/merges/%d", m.ID), http.StatusSeeOther)
	return nil
}

// merge: GET /merges/{id} — the plan (what moves, who loses access,
// conflicts and their resolutions), progress while it runs, and for a dry
// run the button that applies it.
func (s *Server) merge(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := staffOnly(req.actor); err != nil {
		return err
	}
	id, err := pathID(r, "id", "merge")
	if err != nil {
		return err
	}
	m, err := s.store.merges.FindMerge(r.Context(), id)
	if err != nil {
		return err
	}
	v := s.view(r, req, "merge")
	data := map[string]any{"Merge": m, "Finished": m.Status == "done" || m.Status == "failed"}
	if m.Plan != nil {
		names := map[int64]string{m.Plan.Target.ID: m.Plan.Target.Name}
		var sources []string
		for _, c := range m.Plan.Sources {
			names[c.ID] = c.Name
			sources = append(sources, c.OwnerEmail)
		}
		accounts := map[int64]string{}
		for _, a := range m.Plan.Accounts {
			accounts[a.ID] = a.Name
		}
		data["Clients"], data["Accounts"], data["Sources"] = names, accounts, strings.Join(sources, "\n")
	}
	v.Data = data
	s.render(w, http.StatusOK, "merge", v)
	return nil
}
