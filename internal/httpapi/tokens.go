package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/muster-dev/muster/internal/muster"
)

// TokenStore lists API tokens.
type TokenStore interface {
	ListTokens(ctx context.Context, f muster.TokenFilter) ([]muster.Token, error)
}

// listTokens: GET /v1/tokens. Staff see every token, a client token and
// the owner their dashboard's, any other manager their own.
// ?client_id= and ?manager_id= narrow the list.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	var want muster.TokenFilter
	for name, v := range r.URL.Query() {
		id, err := strconv.ParseInt(v[len(v)-1], 10, 64)
		switch {
		case name != "client_id" && name != "manager_id":
			return muster.Invalid("unknown_parameter", "%q is not a parameter of the token list (client_id, manager_id)", name)
		case err != nil || id <= 0:
			return muster.Invalid("invalid_filter", "%s %q is not an id", name, v[len(v)-1])
		case name == "client_id":
			want.ClientID = id
		default:
			want.ManagerID = id
		}
	}
	ts := []muster.Token{}
	if f, ok := actor(r).TokenScope().Narrow(want); ok {
		var err error
		if ts, err = s.tokens.ListTokens(r.Context(), f); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	return nil
}

// revokeToken: DELETE /v1/tokens/{id}, within the same scope; a token
// outside it is not found.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "token")
	if err != nil {
		return err
	}
	t, err := s.app.RevokeToken(r.Context(), actor(r), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": t})
	return nil
}

// removeManager: DELETE /v1/managers/{id}. The manager's tokens and access
// end at once; the profile stays, revoked, for history.
func (s *Server) removeManager(w http.ResponseWriter, r *http.Request) error {
	m, err := s.manager(r, muster.ManageManagers)
	if err != nil {
		return err
	}
	a := actor(r)
	m, err = s.app.RemoveManager(r.Context(), a, m)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"manager": seenBy(a, m)})
	return nil
}
