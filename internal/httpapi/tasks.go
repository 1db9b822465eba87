package httpapi

import (
	"net/http"
	"strconv"

	"github.com/muster-dev/muster/internal/muster"
)

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
	if req.Title == "" {
		return muster.Invalid("invalid_title", "title is empty")
	}
	u := muster.TaskUpdate{Title: &req.Title, Description: &req.Description}
	if err := u.Clean(); err != nil {
		return err
	}
	t, err := s.store.CreateTask(r.Context(), acc.ID, req.ContractorID, *u.Title, *u.Description, actor(r).Name)
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
	if err := u.Clean(); err != nil {
		return err
	}
	t, err := s.store.UpdateTask(r.Context(), acc.ID, tid, u, actor(r).Name)
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
	ts, err := s.store.Tasks(r.Context(), acc.ID, cid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ts})
	return nil
}
