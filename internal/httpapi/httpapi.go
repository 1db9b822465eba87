// Package httpapi is Muster's admin HTTP API: JSON under /v1/, bearer
// tokens scoped to a dashboard (staff tokens for platform work), errors as
// {"error":{"code":…,"message":…}}. Handlers return errors; one place turns
// them into responses.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
)

// Store is what the API needs from the database.
type Store interface {
	Authenticate(ctx context.Context, token string) (*muster.Actor, error)
	CreateClient(ctx context.Context, in muster.ClientDraft) (*muster.Client, *muster.Account, error)
	FindClient(ctx context.Context, id int64) (*muster.Client, error)
	CreateAccount(ctx context.Context, clientID int64, name string, basedOn *int64) (*muster.Account, error)
	FindAccount(ctx context.Context, id int64) (*muster.Account, error)
	Invite(ctx context.Context, in muster.Invite) (*muster.Invited, error)
	ContractorCard(ctx context.Context, accountID, contractorID int64) (*muster.Card, error)
	CreateImport(ctx context.Context, up muster.Upload, file io.Reader) (*muster.Import, bool, error)
	FindImport(ctx context.Context, id int64) (*muster.Import, error)
	ImportHeader(ctx context.Context, id int64) ([]string, error)
	ImportErrors(ctx context.Context, id int64, fn func(muster.FailedRow) error) error
}

// Queue is what the API needs from the job queue.
type Queue interface {
	Send(ctx context.Context, invitationID int64, queue string) error
	Import(ctx context.Context, importID int64) error
}

// Check is a named readiness probe (PostgreSQL, Redis).
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Server serves the API.
type Server struct {
	// ImportLimits bound uploads (zero fields: workbook's defaults).
	ImportLimits workbook.Limits
	// TmpDir holds uploads while they are checked ("" for the system's).
	TmpDir string

	store  Store
	queue  Queue
	checks []Check
	log    *slog.Logger
	mux    *http.ServeMux
}

// New builds the API and its routes.
func New(store Store, queue Queue, checks []Check, log *slog.Logger) *Server {
	s := &Server{store: store, queue: queue, checks: checks, log: log, mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.Handle("GET /healthz", s.public(s.healthz))
	s.mux.Handle("GET /readyz", s.public(s.readyz))
	s.mux.Handle("POST /v1/clients", s.authed(s.createClient))
	s.mux.Handle("POST /v1/clients/{id}/accounts", s.authed(s.createAccount))
	s.mux.Handle("POST /v1/accounts/{id}/invitations", s.authed(s.invite))
	s.mux.Handle("GET /v1/accounts/{id}/contractors/{cid}", s.authed(s.contractorCard))
	s.mux.Handle("POST /v1/accounts/{id}/imports", s.authed(s.upload))
	s.mux.Handle("GET /v1/imports/template.xlsx", s.authed(s.template))
	s.mux.Handle("GET /v1/imports/{id}", s.authed(s.importStatus))
	s.mux.Handle("GET /v1/imports/{id}/events", s.authed(s.importEvents))
	s.mux.Handle("GET /v1/imports/{id}/errors", s.authed(s.importErrors))
	s.mux.Handle("/", s.public(func(w http.ResponseWriter, r *http.Request) error {
		return muster.NotFound("route_not_found", "no route for %s %s", r.Method, r.URL.Path)
	}))
}

// ServeHTTP logs each request and recovers from panics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 64 {
		id = newRequestID()
	}
	w.Header().Set("X-Request-Id", id)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in handler", "request_id", id, "panic", p)
			s.writeError(rec, r, fmt.Errorf("panic: %v", p))
		}
		s.log.Info("http", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration", time.Since(start), "request_id", id)
	}()
	s.mux.ServeHTTP(rec, r)
}

// handlerFunc is an HTTP handler that returns its error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) public(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// authed resolves the bearer token to an actor before the handler runs.
func (s *Server) authed(h handlerFunc) http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="muster"`)
			return muster.Errorf(muster.KindUnauthenticated, "missing_token", "send an API token as Authorization: Bearer <token>")
		}
		actor, err := s.store.Authenticate(r.Context(), strings.TrimSpace(token))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="muster", error="invalid_token"`)
			return err
		}
		return h(w, r.WithContext(muster.WithActor(r.Context(), *actor)))
	})
}

var statusOf = map[muster.Kind]int{
	muster.KindInternal:        http.StatusInternalServerError,
	muster.KindInvalid:         http.StatusBadRequest,
	muster.KindNotFound:        http.StatusNotFound,
	muster.KindConflict:        http.StatusConflict,
	muster.KindUnauthenticated: http.StatusUnauthorized,
	muster.KindForbidden:       http.StatusForbidden,
	muster.KindRateLimited:     http.StatusTooManyRequests,
	muster.KindTooLarge:        http.StatusRequestEntityTooLarge,
	muster.KindUnsupported:     http.StatusUnsupportedMediaType,
}

// writeError answers with the error's status and stable code. Internal
// errors are logged and shown as a bare "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := muster.AsError(err)
	if e == nil {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "error", err,
			"request_id", w.Header().Get("X-Request-Id"))
		e = &muster.Error{Kind: muster.KindInternal, Code: "internal", Message: "internal error; the request id is in the X-Request-Id header"}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
	}
	writeJSON(w, statusOf[e.Kind], map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v) // the client may have gone; nothing to do about it
}

// maxBody bounds JSON request bodies.
const maxBody = 1 << 20

// decode reads a JSON body strictly: unknown fields and trailing data are
// errors that say where the problem is. The form content type is tolerated
// because it is what `curl -d` sends with a JSON body.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if ct != "" && ct != "application/json" && ct != "application/x-www-form-urlencoded" {
		return muster.Errorf(muster.KindUnsupported, "unsupported_media_type", "send the body as application/json, not %s", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		if dec.More() {
			return muster.Invalid("invalid_json", "the body holds more than one JSON value")
		}
		return nil
	case errors.Is(err, io.EOF):
		return muster.Invalid("invalid_json", "the body is empty; send a JSON object")
	case errors.As(err, &syntax):
		return muster.Invalid("invalid_json", "malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ):
		return muster.Invalid("invalid_json", "field %q must be %s, not %s", typ.Field, typ.Type, typ.Value)
	case errors.As(err, &tooBig):
		return muster.Errorf(muster.KindTooLarge, "body_too_large", "the body is larger than %d bytes", tooBig.Limit)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return muster.Invalid("unknown_field", "%s is not a field of this request", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return muster.Invalid("invalid_json", "malformed JSON: %v", err)
	}
}

// pathID reads the numeric path parameter param, the id of a what.
func pathID(r *http.Request, param, what string) (int64, error) {
	v := r.PathValue(param)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, muster.NotFound(what+"_not_found", "%s %q not found", what, v)
	}
	return id, nil
}

func actor(r *http.Request) muster.Actor {
	a, _ := muster.ActorFrom(r.Context())
	return a
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush lets event streams through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
