package httpapi

import (
	"context"
	"net/http"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/muster"
)

// ContractorStore reads an account's contractors: the list and a card.
type ContractorStore interface {
	ListContractors(ctx context.Context, q muster.ListQuery) ([]muster.ListRow, string, error)
	ContractorCard(ctx context.Context, accountID, contractorID int64) (*muster.Card, error)
}

// account reads the {id} account and checks that the actor may do act in it.
func (s *Server) account(r *http.Request, act muster.Action) (*muster.Account, error) {
	return Account(r, s.accounts.FindAccount, actor(r), act)
}

// Account reads the account named by the request's {id} and checks that
// a may do act in it: an account out of reach is not found, a role that
// may not act is forbidden. The API and the console authorize the same way.
func Account(r *http.Request, find func(context.Context, int64) (*muster.Account, error), a muster.Actor, act muster.Action) (*muster.Account, error) {
	id, err := pathID(r, "id", "account")
	if err != nil {
		return nil, err
	}
	acc, err := find(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if err := a.AuthorizeAccount(acc, act); err != nil {
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
	var res *muster.Invited
	err = s.app.Limit(r.Context(), actions.Limited{What: muster.LimitInvitations, ClientID: acc.ClientID, Email: in.Email}, func() (err error) {
		res, err = s.app.Invite(r.Context(), in)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, res)
	return nil
}

// contractorCard: GET /v1/accounts/{id}/contractors/{cid}.
func (s *Server) contractorCard(w http.ResponseWriter, r *http.Request) error {
	acc, cid, err := s.member(r, muster.ReadContractors)
	if err != nil {
		return err
	}
	return s.writeCard(w, r, acc.ID, cid)
}

// listContractors: GET /v1/accounts/{id}/contractors — one page, with the
// caller's columns, filters and sort; next_cursor fetches the next page.
func (s *Server) listContractors(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.account(r, muster.ReadContractors)
	if err != nil {
		return err
	}
	q, err := muster.NewListQuery(acc.ID, r.URL.Query())
	if err != nil {
		return err
	}
	rows, next, err := s.contractors.ListContractors(r.Context(), q)
	if err != nil {
		return err
	}
	items := make([]map[string]any, len(rows))
	for i := range rows {
		item := map[string]any{"id": rows[i].ContractorID}
		for _, c := range q.Columns {
			item[c] = rows[i].Column(c)
		}
		items[i] = item
	}
	var cursor *string
	if next != "" {
		cursor = &next
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "columns": q.Columns, "next_cursor": cursor})
	return nil
}

// member reads the {id} account, checks that the actor may do act in it,
// and reads the {cid} contractor.
func (s *Server) member(r *http.Request, act muster.Action) (*muster.Account, int64, error) {
	acc, err := s.account(r, act)
	if err != nil {
		return nil, 0, err
	}
	cid, err := pathID(r, "cid", "contractor")
	return acc, cid, err
}

// updateCard: PATCH /v1/accounts/{id}/contractors/{cid} {feature?, notes?,
// manager_ids?}; answers with the whole card.
func (s *Server) updateCard(w http.ResponseWriter, r *http.Request) error {
	acc, cid, err := s.member(r, muster.WriteContractors)
	if err != nil {
		return err
	}
	var req struct {
		Feature    *string  `json:"feature"`
		Notes      *string  `json:"notes"`
		ManagerIDs *[]int64 `json:"manager_ids"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	u := muster.CardUpdate{Feature: req.Feature, Notes: req.Notes, ManagerIDs: req.ManagerIDs}
	if err := s.app.UpdateCard(r.Context(), acc.ID, cid, u); err != nil {
		return err
	}
	return s.writeCard(w, r, acc.ID, cid)
}

func (s *Server) writeCard(w http.ResponseWriter, r *http.Request, accountID, cid int64) error {
	card, err := s.contractors.ContractorCard(r.Context(), accountID, cid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, card)
	return nil
}

// resend: POST …/contractors/{cid}/resend — the sign-up invitation again,
// in the contractor's language; 429 with Retry-After when too soon.
func (s *Server) resend(w http.ResponseWriter, r *http.Request) error {
	acc, cid, err := s.member(r, muster.WriteContractors)
	if err != nil {
		return err
	}
	card, err := s.contractors.ContractorCard(r.Context(), acc.ID, cid)
	if err != nil {
		return err
	}
	var inv *muster.Invitation
	err = s.app.Limit(r.Context(), actions.Limited{What: muster.LimitResends, ClientID: acc.ClientID, Email: card.Contractor.Email}, func() (err error) {
		inv, err = s.app.Resend(r.Context(), acc.ID, cid)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"invitation": inv})
	return nil
}

// exclude: POST …/contractors/{cid}/exclude — out of the account, pending
// emails cancelled; inviting again undoes it.
func (s *Server) exclude(w http.ResponseWriter, r *http.Request) error {
	acc, cid, err := s.member(r, muster.WriteContractors)
	if err != nil {
		return err
	}
	if _, err := s.app.Exclude(r.Context(), acc.ID, cid); err != nil {
		return err
	}
	return s.writeCard(w, r, acc.ID, cid)
}
