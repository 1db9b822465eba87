package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/muster"
)

// ClientStore searches the dashboards.
type ClientStore interface {
	SearchClients(ctx context.Context, q muster.ClientQuery) ([]muster.Client, error)
}

// createClient: POST /v1/clients (staff). A dashboard starts with its
// owner (the main profile) and its first account, as a company does when
// it registers.
func (s *Server) createClient(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name        string `json:"name"`
		OwnerEmail  string `json:"owner_email"`
		Locale      string `json:"locale"`
		AccountName string `json:"account_name"`
	}
	if err := actions.MayCreateClient(actor(r)); err != nil {
		return err
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	c, acc, err := s.app.CreateClient(r.Context(), actor(r), actions.NewClient{
		Name: req.Name, OwnerEmail: req.OwnerEmail, Locale: req.Locale, AccountName: req.AccountName,
	})
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
	acc, err := s.app.CreateAccount(r.Context(), actor(r), clientID, req.Name, req.BasedOnAccountID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, acc)
	return nil
}

// searchClients: GET /v1/clients?q=&limit=&cursor= (staff).
func (s *Server) searchClients(w http.ResponseWriter, r *http.Request) error {
	if err := actor(r).StaffOnly("search clients"); err != nil {
		return err
	}
	q, err := muster.NewClientQuery(r.URL.Query())
	if err != nil {
		return err
	}
	cs, err := s.clients.SearchClients(r.Context(), q)
	if err != nil {
		return err
	}
	var next *string
	if len(cs) == q.Limit {
		c := strconv.FormatInt(cs[len(cs)-1].ID, 10)
		next = &c
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": cs, "next_cursor": next})
	return nil
}
