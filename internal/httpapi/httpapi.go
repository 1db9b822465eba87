// Package httpapi is Muster's admin HTTP API: JSON under /v1/, bearer
// tokens scoped to a dashboard (staff tokens for platform work), errors as
// {"error":{"code":…,"message":…}}. Handlers return errors; one place turns
// them into responses.
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/httpapi/apidoc"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/internal/workbook"
)

// Store is every store method the API uses: what its handlers read, each
// file naming its own in a small interface next to the handlers, plus what
// its actions store (actions.Store). It is only their sum, for New;
// *postgres.DB satisfies it. Handlers read directly and change things
// through the actions.
type Store interface {
	actions.Store
	AuthStore
	AccountStore
	ClientStore
	ContractorStore
	TaskStore
	ManagerStore
	TokenStore
	MergeStore
	ImportStore
}

// AuthStore resolves API tokens to actors.
type AuthStore interface {
	Authenticate(ctx context.Context, token string) (*muster.Actor, error)
}

// Check is a named readiness probe (PostgreSQL, Redis).
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Server serves the API.
type Server struct {
	auth        AuthStore
	accounts    AccountStore
	clients     ClientStore
	contractors ContractorStore
	tasks       TaskStore
	managers    ManagerStore
	tokens      TokenStore
	merges      MergeStore
	imports     ImportStore
	app         *actions.Actions
	signer      *signed.Signer // checks the acceptance links the worker signed
	checks      []Check
	log         *slog.Logger
	mux         *routeMux
	opts        Options
}

// Options tune the API; the zero value of a field means its default.
type Options struct {
	// ResendInterval is actions.Options.ResendInterval.
	ResendInterval time.Duration
	// SignupSecret verifies the HMAC signature of onboarding events from
	// the sign-up app. Empty: those events need a staff token.
	SignupSecret string
	// MailEventsSecret verifies the signature of the mail provider's
	// reports (POST /v1/mail-events), as SignupSecret does for the sign-up
	// app. Empty: those reports need a staff token.
	MailEventsSecret string
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// Metrics records every request; MetricsHandler serves GET /metrics.
	Metrics        Observer
	MetricsHandler http.Handler
	// Monitor is the Asynq web UI, served under /asynq/ to staff.
	Monitor http.Handler
	// ImportLimits bound uploads (zero fields: workbook's defaults).
	ImportLimits workbook.Limits
	// Limiter bounds invitations, imports, resends and emails per
	// recipient; nil: no limits.
	Limiter actions.Limiter
	// BodyTimeout bounds the time to read a request's body, so a client
	// that trickles one cannot hold a connection and a goroutine; uploads
	// get UploadTimeout. Defaults 30 seconds and 10 minutes.
	BodyTimeout, UploadTimeout time.Duration
	// TmpDir holds uploads while they are checked ("" for the system's).
	TmpDir string
}

// Observer records a request's route pattern, method, status and time.
type Observer interface {
	ObserveHTTP(route, method string, code int, d time.Duration)
	// Email counts an email's outcome that the mail provider reported.
	Email(kind, locale, outcome string)
}

// New builds the API and its routes. signer must use the worker's key.
func New(store Store, queue actions.Queue, signer *signed.Signer, checks []Check, log *slog.Logger, opts ...Options) *Server {
	s := &Server{
		auth: store, accounts: store, clients: store, contractors: store, tasks: store, managers: store, tokens: store,
		merges: store, imports: store,
		signer: signer, checks: checks, log: log, mux: &routeMux{ServeMux: http.NewServeMux()},
	}
	if len(opts) > 0 {
		s.opts = opts[0]
	}
	if s.opts.BodyTimeout == 0 {
		s.opts.BodyTimeout = 30 * time.Second
	}
	if s.opts.UploadTimeout == 0 {
		s.opts.UploadTimeout = 10 * time.Minute
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	s.app = actions.New(store, queue, log, actions.Options{
		ResendInterval: s.opts.ResendInterval, TmpDir: s.opts.TmpDir, Limiter: s.opts.Limiter, Emails: s.opts.Metrics,
	})
	s.routes()
	return s
}

// routeMux is a ServeMux that remembers its patterns, so that the access
// matrix test can hold every route to a row: a route added without one
// fails it.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Routes lists the patterns the server answers, as registered.
func (s *Server) Routes() []string { return slices.Clone(s.mux.patterns) }

func (s *Server) routes() {
	s.mux.Handle("GET /healthz", s.public(s.healthz))
	s.mux.Handle("GET /readyz", s.public(s.readyz))
	s.mux.Handle("GET /v1/openapi.json", s.public(s.openapi))
	s.mux.Handle("GET /v1/docs/", http.StripPrefix("/v1/docs/", http.FileServerFS(apidoc.UI())))
	s.mux.Handle("POST /v1/clients", s.authed(s.createClient))
	s.mux.Handle("POST /v1/clients/{id}/accounts", s.authed(s.createAccount))
	s.mux.Handle("POST /v1/accounts/{id}/invitations", s.authed(s.invite))
	s.mux.Handle("GET /v1/accounts/{id}/contractors", s.authed(s.listContractors))
	s.mux.Handle("GET /v1/accounts/{id}/contractors/{cid}", s.authed(s.contractorCard))
	s.mux.Handle("PATCH /v1/accounts/{id}/contractors/{cid}", s.authed(s.updateCard))
	s.mux.Handle("POST /v1/accounts/{id}/contractors/{cid}/resend", s.authed(s.resend))
	s.mux.Handle("POST /v1/accounts/{id}/contractors/{cid}/exclude", s.authed(s.exclude))
	s.mux.Handle("GET /v1/accounts/{id}/tasks", s.authed(s.listTasks))
	s.mux.Handle("POST /v1/accounts/{id}/tasks", s.authed(s.createTask))
	s.mux.Handle("PATCH /v1/accounts/{id}/tasks/{tid}", s.authed(s.updateTask))
	s.mux.Handle("POST /v1/contractor-events", s.public(s.contractorEvent))
	s.mux.Handle("GET /v1/clients/{id}/accounts", s.authed(s.listAccounts))
	s.mux.Handle("GET /v1/accounts/{id}", s.authed(s.readAccount))
	s.mux.Handle("POST /v1/accounts/{id}/kyb", s.authed(s.decideKYB))
	s.mux.Handle("POST /v1/clients/{id}/managers", s.authed(s.inviteManager))
	s.mux.Handle("GET /v1/clients/{id}/managers", s.authed(s.listManagers))
	s.mux.Handle("GET /v1/managers/{id}", s.authed(s.readManager))
	s.mux.Handle("PATCH /v1/managers/{id}", s.authed(s.editManager))
	s.mux.Handle("POST /v1/managers/{id}/resend", s.authed(s.resendManager))
	s.mux.Handle("DELETE /v1/managers/{id}", s.authed(s.removeManager))
	s.mux.Handle("GET /v1/tokens", s.authed(s.listTokens))
	s.mux.Handle("DELETE /v1/tokens/{id}", s.authed(s.revokeToken))
	s.mux.Handle("GET /v1/clients", s.authed(s.searchClients))
	s.mux.Handle("POST /v1/manager-invitations/accept", s.public(s.acceptManager))
	s.mux.Handle("POST /v1/mail-events", s.public(s.mailEvent))
	s.mux.Handle("GET /v1/suppressions", s.authed(s.listSuppressions))
	s.mux.Handle("DELETE /v1/suppressions/{email}", s.authed(s.clearSuppression))
	s.mux.Handle("POST /v1/unsubscribe", s.public(s.unsubscribe))
	s.mux.Handle("POST /v1/merges", s.authed(s.createMerge))
	s.mux.Handle("GET /v1/merges", s.authed(s.listMerges))
	s.mux.Handle("GET /v1/merges/{id}", s.authed(s.readMerge))
	s.mux.Handle("GET /metrics", s.authed(s.staffHandler(s.opts.MetricsHandler)))
	s.mux.Handle("/asynq/", s.monitorGuard(s.basicOrBearer(s.authed(s.staffHandler(s.opts.Monitor)))))
	s.mux.Handle("POST /v1/accounts/{id}/imports", s.authed(s.upload))
	s.mux.Handle("GET /v1/accounts/{id}/imports", s.authed(s.importHistory))
	s.mux.Handle("POST /v1/imports/{id}/cancel", s.authed(s.cancelImport))
	s.mux.Handle("POST /v1/imports/{id}/confirm", s.authed(s.confirmImport))
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
	if !validRequestID(id) {
		id = newRequestID()
	}
	h := w.Header()
	h.Set("X-Request-Id", id)
	h.Set("X-Content-Type-Options", "nosniff")
	// Every answer is one tenant's data or carries a secret (a manager's
	// first token): no cache keeps it.
	h.Set("Cache-Control", "no-store")
	rec := &StatusRecorder{ResponseWriter: w, Status: http.StatusOK}
	s.bodyDeadline(rec, r, start)
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in handler", "request_id", id, "panic", p)
			s.writeError(rec, r, fmt.Errorf("panic: %v", p))
		}
		took := time.Since(start)
		s.log.Info("http", "method", r.Method, "path", r.URL.Path, "status", rec.Status,
			"duration", took, "request_id", id)
		if s.opts.Metrics != nil {
			s.opts.Metrics.ObserveHTTP(r.Pattern, r.Method, rec.Status, took)
		}
	}()
	s.mux.ServeHTTP(rec, r)
}

// bodyDeadline gives the request's body BodyTimeout to arrive, and lifts
// the deadline once it has: net/http reads on in the background to notice
// a client that leaves, and a deadline left set would cancel a long
// answer (an import's event stream) as if the client had gone.
func (s *Server) bodyDeadline(w http.ResponseWriter, r *http.Request, start time.Time) {
	rc := http.NewResponseController(w)
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		_ = rc.SetReadDeadline(time.Time{}) // errors: a server without deadlines
		return
	}
	_ = rc.SetReadDeadline(start.Add(s.opts.BodyTimeout))
	r.Body = &deadlineBody{ReadCloser: r.Body, done: func() { _ = rc.SetReadDeadline(time.Time{}) }}
}

// deadlineBody calls done when the body has been read to its end.
type deadlineBody struct {
	io.ReadCloser
	done func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && b.done != nil {
		b.done()
		b.done = nil
	}
	return n, err
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
		actor, err := s.auth.Authenticate(r.Context(), strings.TrimSpace(token))
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
	muster.KindTimeout:         http.StatusRequestTimeout,
}

// inputError recognizes a failure the request's input caused below the
// validation: a body that did not arrive in time, a value PostgreSQL
// refuses as data (SQLSTATE class 22: a NUL byte, a number out of range).
// Validation should have caught the second; this keeps it a 400, not a 500.
func inputError(err error) *muster.Error {
	var state interface{ SQLState() string }
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return muster.Errorf(muster.KindTimeout, "body_timeout", "the request body did not arrive in time")
	case errors.As(err, &state) && strings.HasPrefix(state.SQLState(), "22"):
		return muster.Invalid("invalid_input", "a value in the request is not acceptable (SQLSTATE %s)", state.SQLState())
	}
	return nil
}

// Status is the HTTP status of an error: its kind's, or 500 for an error
// that is not a muster.Error.
func Status(err error) int {
	if e := muster.AsError(err); e != nil {
		return statusOf[e.Kind]
	}
	return http.StatusInternalServerError
}

// writeError answers with the error's status and stable code. Internal
// errors are logged and shown as a bare "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := muster.AsError(err)
	if e == nil {
		if e = inputError(err); e != nil {
			s.log.Warn("input refused below validation", "method", r.Method, "path", r.URL.Path, "error", err)
		}
	}
	if e == nil {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "error", err,
			"request_id", w.Header().Get("X-Request-Id"))
		e = &muster.Error{Kind: muster.KindInternal, Code: "internal", Message: "internal error; the request id is in the X-Request-Id header"}
	}
	RetryAfter(w, e)
	writeJSON(w, statusOf[e.Kind], map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}

// RetryAfter says, for an error that is allowed again later (a rate
// limit), when: Retry-After in whole seconds, rounded up.
func RetryAfter(w http.ResponseWriter, e *muster.Error) {
	if e != nil && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
	}
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return muster.Errorf(muster.KindTooLarge, "body_too_large", "the body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return err // 408
	case err != nil:
		return muster.Invalid("invalid_body", "the body could not be read: %v", err)
	}
	// JSON decoding would quietly turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(body) {
		at := invalidUTF8At(body)
		if field := fieldBefore(body[:at]); field != "" {
			return muster.Invalid("invalid_"+field, "%s is not valid UTF-8 (byte %d of the body)", field, at+1)
		}
		return muster.Invalid("invalid_json", "the body is not valid UTF-8 (byte %d)", at+1)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
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
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return muster.Invalid("unknown_field", "%s is not a field of this request", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return muster.Invalid("invalid_json", "malformed JSON: %v", err)
	}
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// fieldBefore names the object key whose value holds the end of b: the
// last `"key":` before it, when the key is a plain snake_case name.
func fieldBefore(b []byte) string {
	i := bytes.LastIndex(b, []byte(`":`))
	if i < 0 {
		return ""
	}
	j := bytes.LastIndexByte(b[:i], '"')
	key := string(b[j+1 : i])
	if j < 0 || key == "" || strings.TrimFunc(key, func(r rune) bool { return r == '_' || r >= 'a' && r <= 'z' }) != "" {
		return ""
	}
	return key
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

// StatusRecorder remembers the status a handler wrote, for logs and
// metrics; the API and the console both use it.
type StatusRecorder struct {
	http.ResponseWriter
	Status int
}

func (r *StatusRecorder) WriteHeader(code int) {
	r.Status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (r *StatusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush lets event streams through the recorder.
func (r *StatusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// validRequestID accepts what tracing systems send (UUIDs, hex, base64url,
// dotted ids) and nothing that could forge a log line or a header.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
