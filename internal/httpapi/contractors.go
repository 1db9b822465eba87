package httpapi

import (
	"net/http"

	"github.com/muster-dev/muster/internal/muster"
)

// account reads the {id} account and checks that the actor may do act in it.
func (s *Server) account(r *http.Request, act muster.Action) (*muster.Account, error) {
	id, err := pathID(r, "id", "account")
	if err != nil {
		return nil, err
	}
	acc, err := s.store.FindAccount(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if err := actor(r).AuthorizeAccount(acc, act); err != nil {
		return nil, err
	}
	return acc, nil
}

// invite: POST /v1/accounts/{id}/invitations. The invitation is recorded
// before the answer, so 202 means it will be sent even if Redis is down
// right now: the requeue sweep hands it over later.
func (s *Server) invite(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.account(r, muster.WriteContractors)
	if err != nil {
		return err
	}
	var req struct {
		Email      string  `json:"email"`
		FullName   string  `json:"full_name"`
		Feature    string  `json:"feature"`
		ManagerIDs []int64 `json:"manager_ids"`
		Locale     string  `json:"locale"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	in, err := muster.NewInvite(acc.ID, req.Email, req.FullName, req.Feature, req.ManagerIDs, req.Locale)
	if err != nil {
		return err
	}
	res, err := s.store.Invite(r.Context(), in)
	if err != nil {
		return err
	}
	s.enqueue(r, res.Invitation.ID)
	writeJSON(w, http.StatusAccepted, res)
	return nil
}

// contractorCard: GET /v1/accounts/{id}/contractors/{cid}.
func (s *Server) contractorCard(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.account(r, muster.ReadContractors)
	if err != nil {
		return err
	}
	cid, err := pathID(r, "cid", "contractor")
	if err != nil {
		return err
	}
	card, err := s.store.ContractorCard(r.Context(), acc.ID, cid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, card)
	return nil
}
