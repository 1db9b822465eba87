package console

import (
	"fmt"
	"net/http"

	"github.com/muster-dev/muster/internal/muster"
)

// cardView is the contractor card as its page shows it.
type cardView struct {
	*muster.Card
	Name       string
	Reason     string // the red icon's, when registration is incomplete
	Writes     bool
	Moves      map[int64][]string // each task's next statuses
	TaskErrors map[string]string
}

// card: GET /accounts/{id}/contractors/{cid} — stages with their dates,
// every email sent, notes, and tasks with their history.
func (s *Server) card(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, cid, err := s.member(r, req, muster.ReadContractors)
	if err != nil {
		return err
	}
	return s.renderCard(w, r, req, acc, cid, nil, http.StatusOK)
}

func (s *Server) renderCard(w http.ResponseWriter, r *http.Request, req *request, acc *muster.Account, cid int64, errs map[string]string, status int) error {
	c, err := s.store.contractors.ContractorCard(r.Context(), acc.ID, cid)
	if err != nil {
		return err
	}
	v, err := s.accountView(r.Context(), r, req, acc, "contractors")
	if err != nil {
		return err
	}
	cv := cardView{Card: c, Name: c.Contractor.FullName, Writes: req.actor.Allows(muster.WriteContractors), Moves: map[int64][]string{}, TaskErrors: errs}
	if cv.Name == "" {
		cv.Name = c.Contractor.Email
	}
	if c.Incomplete {
		row := muster.ListRow{PhoneVerifiedAt: c.Contractor.PhoneVerifiedAt, TaxStatus: c.Contractor.TaxStatus}
		cv.Reason = incompleteReason(v, &row)
	}
	for _, t := range c.Tasks {
		cv.Moves[t.ID] = muster.TaskMoves(t.Status)
	}
	v.Title = "card"
	v.Notice = s.notice(v, r.URL.Query())
	v.Data = cv
	s.render(w, status, "card", v)
	return nil
}

// saveCard: POST /accounts/{id}/contractors/{cid}/card — feature and
// notes, checked as the API's PATCH checks them.
func (s *Server) saveCard(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, cid, err := s.member(r, req, muster.WriteContractors)
	if err != nil {
		return err
	}
	feature, notes := r.PostFormValue("feature"), r.PostFormValue("notes")
	if err := s.actions.UpdateCard(r.Context(), acc.ID, cid, muster.CardUpdate{Feature: &feature, Notes: &notes}); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/contractors/%d?notice=saved", acc.ID, cid), http.StatusSeeOther)
	return nil
}

// createTask: POST /accounts/{id}/contractors/{cid}/tasks.
func (s *Server) createTask(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, cid, err := s.member(r, req, muster.WriteContractors)
	if err != nil {
		return err
	}
	_, err = s.actions.CreateTask(r.Context(), *req.actor, acc.ID, cid, r.PostFormValue("title"), r.PostFormValue("description"))
	if e := muster.AsError(err); e != nil && e.Kind == muster.KindInvalid {
		return s.renderCard(w, r, req, acc, cid, map[string]string{"title": s.errorText(req, e)}, http.StatusBadRequest)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/contractors/%d?notice=task_created#tasks", acc.ID, cid), http.StatusSeeOther)
	return nil
}

// moveTask: POST /accounts/{id}/tasks/{tid}/status — one transition.
func (s *Server) moveTask(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.WriteContractors)
	if err != nil {
		return err
	}
	tid, err := pathID(r, "tid", "task")
	if err != nil {
		return err
	}
	status := r.PostFormValue("status")
	t, err := s.actions.UpdateTask(r.Context(), *req.actor, acc.ID, tid, muster.TaskUpdate{Status: &status})
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/accounts/%d/contractors/%d?notice=task_moved#tasks", acc.ID, t.ContractorID), http.StatusSeeOther)
	return nil
}

// tasks: GET /accounts/{id}/tasks — the account's tasks, newest first, each
// linked to its contractor's card, where tasks are created and moved.
func (s *Server) tasks(w http.ResponseWriter, r *http.Request, req *request) error {
	acc, err := s.account(r, req, muster.ReadContractors)
	if err != nil {
		return err
	}
	ts, err := s.store.tasks.Tasks(r.Context(), acc.ID, 0)
	if err != nil {
		return err
	}
	v, err := s.accountView(r.Context(), r, req, acc, "tasks")
	if err != nil {
		return err
	}
	v.Data = ts
	s.render(w, http.StatusOK, "tasks", v)
	return nil
}
