package httpapi

import (
	"context"
	"net/http"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/muster"
)

// AccountStore reads a dashboard's accounts.
type AccountStore interface {
	FindAccount(ctx context.Context, id int64) (*muster.Account, error)
	ListAccounts(ctx context.Context, clientID int64) ([]muster.Account, error)
}

// client reads the {id} client and checks that the actor may do act in it.
func (s *Server) client(r *http.Request, act muster.Action) (int64, error) {
	id, err := pathID(r, "id", "client")
	if err != nil {
		return 0, err
	}
	if err := actor(r).AuthorizeClient(id, act); err != nil {
		return 0, err
	}
	return id, nil
}

// listAccounts: GET /v1/clients/{id}/accounts. A manager who is not the
// owner sees only the accounts given to them.
func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) error {
	clientID, err := s.client(r, muster.ReadDashboard)
	if err != nil {
		return err
	}
	all, err := s.accounts.ListAccounts(r.Context(), clientID)
	if err != nil {
		return err
	}
	a := actor(r)
	out := []muster.Account{}
	for _, acc := range all {
		if a.SeesAccount(&acc) {
			out = append(out, acc)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": out})
	return nil
}

// readAccount: GET /v1/accounts/{id}.
func (s *Server) readAccount(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.account(r, muster.ReadDashboard)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, acc)
	return nil
}

// decideKYB: POST /v1/accounts/{id}/kyb {status} (staff). Records the
// outcome of the KYB check, verified or rejected.
func (s *Server) decideKYB(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.account(r, muster.ReadDashboard)
	if err != nil {
		return err
	}
	if err := actions.MayDecideKYB(actor(r)); err != nil {
		return err
	}
	var req struct {
		Status string `json:"status"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if acc, err = s.app.DecideKYB(r.Context(), actor(r), acc.ID, req.Status); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, acc)
	return nil
}
