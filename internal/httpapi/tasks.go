package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/muster-dev/muster/internal/muster"
)

// TaskStore reads an account's tasks.
type TaskStore interface {
	Tasks(ctx context.Context, accountID, contractorID int64) ([]muster.Task, error)
}

// createTask: POST /v1/accounts/{id}/tasks {contractor_id, title, description?}.
func (s *Server) createTask(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.account(r, muster.WriteContractors)
	if err != nil {
		return err
	}
	var req struct {
		ContractorID int64  `json:"contractor_id"`
		Title        string `json:"title"`
		Description  string `json:"description"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	t, err := s.app.CreateTask(r.Context(), actor(r), acc.ID, req.ContractorID, req.Title, req.Description)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

// updateTask: PATCH /v1/accounts/{id}/tasks/{tid} {title?, description?, status?}.
func (s *Server) updateTask(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.account(r, muster.WriteContractors)
	if err != nil {
		return err
	}
	tid, err := pathID(r, "tid", "task")
	if err != nil {
		return err
	}
	var req struct {
		Title       *string `json:"title"`
		Description *string `json:"description"`
		Status      *string `json:"status"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	u := muster.TaskUpdate{Title: req.Title, Description: req.Description, Status: req.Status}
	t, err := s.app.UpdateTask(r.Context(), actor(r), acc.ID, tid, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// listTasks: GET /v1/accounts/{id}/tasks[?contractor_id=N], newest first.
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	acc, err := s.account(r, muster.ReadContractors)
	if err != nil {
		return err
	}
	var cid int64
	if v := r.URL.Query().Get("contractor_id"); v != "" {
		if cid, err = strconv.ParseInt(v, 10, 64); err != nil || cid <= 0 {
			return muster.Invalid("invalid_filter", "contractor_id %q is not an id", v)
		}
	}
	ts, err := s.tasks.Tasks(r.Context(), acc.ID, cid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ts})
	return nil
}
