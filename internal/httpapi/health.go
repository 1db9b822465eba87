package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/muster-dev/muster/internal/httpapi/apidoc"
)

// healthz says the process is up; it touches nothing else.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz says whether the process can do its work: PostgreSQL and Redis
// answer. Load balancers stop sending traffic while it fails.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	status, code := "ready", http.StatusOK
	results := map[string]string{}
	for _, c := range s.checks {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		err := c.Ping(ctx)
		cancel()
		results[c.Name] = "ok"
		if err != nil {
			results[c.Name] = err.Error()
			status, code = "unavailable", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": results})
	return nil
}

// openapi: GET /v1/openapi.json, the API's contract.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	d, err := apidoc.Spec()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(d.JSON)
	return err
}
