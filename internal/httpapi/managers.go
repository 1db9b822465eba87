package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/jobs"
)

// ManagerStore reads a dashboard's managers.
type ManagerStore interface {
	FindManager(ctx context.Context, id int64) (*muster.Manager, error)
	ListManagers(ctx context.Context, clientID int64) ([]muster.Manager, error)
}

// manager reads the {id} manager and checks that the actor may do act to it.
func (s *Server) manager(r *http.Request, act muster.Action) (*muster.Manager, error) {
	id, err := pathID(r, "id", "manager")
	if err != nil {
		return nil, err
	}
	m, err := s.managers.FindManager(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if err := actor(r).AuthorizeManager(m, act); err != nil {
		return nil, err
	}
	return m, nil
}

// seenBy is m as a shows it: a manager limited to some accounts does not
// learn of a colleague's other accounts.
func seenBy(a muster.Actor, m *muster.Manager) *muster.Manager {
	c := *m
	c.AccountIDs = a.VisibleAccountIDs(m.AccountIDs)
	return &c
}

// inviteManager: POST /v1/clients/{id}/managers {email, role, account_ids,
// full_name?, locale?}. One email invites the manager to every listed
// account; 202 once it is recorded, as for contractors.
func (s *Server) inviteManager(w http.ResponseWriter, r *http.Request) error {
	clientID, err := s.client(r, muster.ManageManagers)
	if err != nil {
		return err
	}
	var req struct {
		Email      string  `json:"email"`
		FullName   string  `json:"full_name"`
		Role       string  `json:"role"`
		AccountIDs []int64 `json:"account_ids"`
		Locale     string  `json:"locale"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	in, err := muster.NewManagerInvite(clientID, req.Email, req.FullName, req.Role, req.AccountIDs, req.Locale)
	if err != nil {
		return err
	}
	a := actor(r)
	var m *muster.Manager
	var inv *muster.Invitation
	err = s.app.Limit(r.Context(), actions.Limited{What: muster.LimitInvitations, ClientID: clientID, Email: in.Email}, func() (err error) {
		m, inv, err = s.app.InviteManager(r.Context(), a, in)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"manager": seenBy(a, m), "invitation": inv})
	return nil
}

// resendManager: POST /v1/managers/{id}/resend, for a manager who has not
// accepted yet (an expired link, a lost email).
func (s *Server) resendManager(w http.ResponseWriter, r *http.Request) error {
	m, err := s.manager(r, muster.ManageManagers)
	if err != nil {
		return err
	}
	var inv *muster.Invitation
	err = s.app.Limit(r.Context(), actions.Limited{What: muster.LimitResends, ClientID: m.ClientID, Email: m.Email}, func() (err error) {
		inv, err = s.app.ResendManager(r.Context(), m.ID)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"manager": seenBy(actor(r), m), "invitation": inv})
	return nil
}

// listManagers: GET /v1/clients/{id}/managers.
func (s *Server) listManagers(w http.ResponseWriter, r *http.Request) error {
	clientID, err := s.client(r, muster.ReadDashboard)
	if err != nil {
		return err
	}
	all, err := s.managers.ListManagers(r.Context(), clientID)
	if err != nil {
		return err
	}
	a := actor(r)
	out := make([]*muster.Manager, len(all))
	for i := range all {
		out[i] = seenBy(a, &all[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"managers": out})
	return nil
}

// readManager: GET /v1/managers/{id}.
func (s *Server) readManager(w http.ResponseWriter, r *http.Request) error {
	m, err := s.manager(r, muster.ReadDashboard)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, seenBy(actor(r), m))
	return nil
}

// editManager: PATCH /v1/managers/{id} {role?, account_ids?}. account_ids
// is the full list of the manager's accounts afterwards, as the caller
// sees them; accounts the caller cannot see are left as they are.
func (s *Server) editManager(w http.ResponseWriter, r *http.Request) error {
	m, err := s.manager(r, muster.ManageManagers)
	if err != nil {
		return err
	}
	var req struct {
		Role       *string  `json:"role"`
		AccountIDs *[]int64 `json:"account_ids"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	e, err := muster.NewManagerEdit(m.ID, req.Role, req.AccountIDs)
	if err != nil {
		return err
	}
	a := actor(r)
	if m, err = s.app.EditManager(r.Context(), a, m.ClientID, e); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, seenBy(a, m))
	return nil
}

// acceptManager: POST /v1/manager-invitations/accept {token}. Public: the
// signed token from the email's link is the credential. Answers the
// manager and their first API token, shown this once.
func (s *Server) acceptManager(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Token string `json:"token"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	subject, err := s.signer.Verify(jobs.ManagerPurpose, strings.TrimSpace(req.Token))
	switch {
	case errors.Is(err, signed.ErrExpired):
		return muster.Invalid("invitation_expired", "the invitation link has expired; ask the dashboard to send the invitation again")
	case err != nil:
		return muster.ErrInvitationToken
	}
	invitationID, err := strconv.ParseInt(subject, 10, 64)
	if err != nil {
		return muster.ErrInvitationToken
	}
	m, token, err := s.app.AcceptManager(r.Context(), invitationID, "accepted invitation "+subject)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"manager": m, "token": token})
	return nil
}
