package httpapi

import (
	"net/http"

	"github.com/muster-dev/muster/internal/muster"
)

// createClient: POST /v1/clients (staff). A dashboard starts with its
// owner (the main profile) and its first account, as a company does when
// it registers.
func (s *Server) createClient(w http.ResponseWriter, r *http.Request) error {
	if err := staffOnly(actor(r), "create clients"); err != nil {
		return err
	}
	var req struct {
		Name        string `json:"name"`
		OwnerEmail  string `json:"owner_email"`
		Locale      string `json:"locale"`
		AccountName string `json:"account_name"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	draft, err := muster.NewClientDraft(req.Name, req.OwnerEmail, req.Locale, req.AccountName)
	if err != nil {
		return err
	}
	c, acc, err := s.store.CreateClient(r.Context(), draft)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"client": c, "account": acc})
	return nil
}

// createAccount: POST /v1/clients/{id}/accounts, from scratch or based on
// an account of the same dashboard that passed KYB.
func (s *Server) createAccount(w http.ResponseWriter, r *http.Request) error {
	clientID, err := s.client(r, muster.ManageAccounts)
	if err != nil {
		return err
	}
	var req struct {
		Name             string `json:"name"`
		BasedOnAccountID *int64 `json:"based_on_account_id"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	name, err := muster.AccountName(req.Name)
	if err != nil {
		return err
	}
	acc, err := s.store.CreateAccountFor(r.Context(), actor(r).AccountGrantee(), clientID, name, req.BasedOnAccountID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, acc)
	return nil
}
