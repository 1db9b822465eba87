package httpapi

import (
	"context"
	"net/http"

	"github.com/muster-dev/muster/internal/muster"
)

// MergeStore reads merges: one, or the audit trail.
type MergeStore interface {
	FindMerge(ctx context.Context, id int64) (*muster.Merge, error)
	ListMerges(ctx context.Context, limit int) ([]muster.Merge, error)
}

// createMerge: POST /v1/merges (staff). The request is checked and
// recorded at once; the merge runs as a job and answers 202 with its id.
// Asking again for a merge that was done answers 200 with that merge and
// "noop": true.
func (s *Server) createMerge(w http.ResponseWriter, r *http.Request) error {
	if err := actor(r).StaffOnly("merge dashboards"); err != nil {
		return err
	}
	var req struct {
		TargetClientID    int64    `json:"target_client_id"`
		TargetOwnerEmail  string   `json:"target_owner_email"`
		SourceClientIDs   []int64  `json:"source_client_ids"`
		SourceOwnerEmails []string `json:"source_owner_emails"`
		DryRun            bool     `json:"dry_run"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	mr := muster.MergeRequest{
		TargetClientID: req.TargetClientID, TargetOwnerEmail: req.TargetOwnerEmail,
		SourceClientIDs: req.SourceClientIDs, SourceOwnerEmails: req.SourceOwnerEmails, DryRun: req.DryRun,
	}
	if err := mr.Clean(); err != nil {
		return err
	}
	m, done, err := s.app.Merge(r.Context(), mr, actor(r))
	if err != nil {
		return err
	}
	if done {
		writeJSON(w, http.StatusOK, map[string]any{"merge": m, "noop": true,
			"message": "these dashboards were already merged by this merge; nothing to do"})
		return nil
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": m.ID, "merge": m})
	return nil
}

// readMerge: GET /v1/merges/{id} (staff): status, progress, plan, outcome.
func (s *Server) readMerge(w http.ResponseWriter, r *http.Request) error {
	if err := actor(r).StaffOnly("read merges"); err != nil {
		return err
	}
	id, err := pathID(r, "id", "merge")
	if err != nil {
		return err
	}
	m, err := s.merges.FindMerge(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// listMerges: GET /v1/merges (staff): the audit trail, newest first.
func (s *Server) listMerges(w http.ResponseWriter, r *http.Request) error {
	if err := actor(r).StaffOnly("read merges"); err != nil {
		return err
	}
	ms, err := s.merges.ListMerges(r.Context(), 200)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ms})
	return nil
}
