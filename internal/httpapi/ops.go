package httpapi

import (
	"net/http"

	"github.com/muster-dev/muster/internal/muster"
)

// staffHandler serves h to staff tokens only; a nil h is a feature that is
// switched off.
func (s *Server) staffHandler(h http.Handler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := actor(r).StaffOnly("see the service's internals"); err != nil {
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

// monitorGuard keeps the Asynq web UI from being framed by another site
// or driven by one: a browser keeps Basic credentials and sends them with
// any site's form POST, so changes must come from the UI's own pages
// (Sec-Fetch-Site, or Origin against Host, as http.CrossOriginProtection
// reads them).
func (s *Server) monitorGuard(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		if err := cop.Check(r); err != nil {
			s.writeError(w, r, muster.Errorf(muster.KindForbidden, "cross_origin",
				"the queue monitor takes changes only from its own pages, not from another site"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
