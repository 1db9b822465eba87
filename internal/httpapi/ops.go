package httpapi

import (
	"net/http"

	"github.com/muster-dev/muster/internal/muster"
)

// staffHandler serves h to staff tokens only; a nil h is a feature that is
// switched off.
func (s *Server) staffHandler(h http.Handler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := staffOnly(actor(r), "see the service's internals"); err != nil {
			return err
		}
		if h == nil {
			return muster.NotFound("route_not_found", "%s is not enabled in this process", r.URL.Path)
		}
		h.ServeHTTP(w, r)
		return nil
	}
}

// basicOrBearer lets a browser log in to the Asynq web UI: HTTP Basic
// authentication whose password is a staff API token stands for the bearer
// token, and a request with neither is asked for it.
func (s *Server) basicOrBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); ok {
			r.Header.Set("Authorization", "Bearer "+pass)
		} else if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="muster: a staff API token as the password"`)
			s.writeError(w, r, muster.Errorf(muster.KindUnauthenticated, "missing_token",
				"log in with a staff API token as the password, or send it as Authorization: Bearer <token>"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
