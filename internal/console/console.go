// Package console is Muster's web console for people: server-rendered
// pages (html/template, assets embedded) where clients, their managers and
// the platform's staff do what the help-center pages describe, in Russian
// or English. It authorizes every page exactly as the JSON API authorizes
// the same work, and calls the same actions; it reads what the API reads.
package console

import (
	"context"
	"embed"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/internal/locale"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/internal/workbook"
	"github.com/muster-dev/muster/mail"
)

//go:embed static templates
var files embed.FS

// Store is every store method the console uses: the sum of the small
// interfaces its pages name. It reads what the API reads for the same
// pages (the httpapi interfaces), plus its own sessions and column
// preferences; every other change goes through Actions. *postgres.DB
// satisfies it.
type Store interface {
	SessionStore
	ColumnStore
	httpapi.AccountStore
	httpapi.ContractorStore
	httpapi.TaskStore
	httpapi.ManagerStore
	httpapi.MergeStore
	httpapi.ImportStore
}

// stores are the parts of the Store, each as the pages that use it see it.
type stores struct {
	sessions    SessionStore
	columns     ColumnStore
	accounts    httpapi.AccountStore
	contractors httpapi.ContractorStore
	tasks       httpapi.TaskStore
	managers    httpapi.ManagerStore
	merges      httpapi.MergeStore
	imports     httpapi.ImportStore
}

// Actions are the changes the console asks for: the application layer the
// JSON API calls for the same work (*actions.Actions).
type Actions interface {
	Invite(ctx context.Context, in muster.Invite) (*muster.Invited, error)
	Resend(ctx context.Context, accountID, contractorID int64) (*muster.Invitation, error)
	Exclude(ctx context.Context, accountID, contractorID int64) (*muster.Membership, error)
	Upload(ctx context.Context, up actions.Upload, file io.Reader, lim workbook.Limits) (*muster.Import, bool, error)
	InviteManager(ctx context.Context, by muster.Actor, in muster.ManagerInvite) (*muster.Manager, *muster.Invitation, error)
	ResendManager(ctx context.Context, managerID int64) (*muster.Invitation, error)
	EditManager(ctx context.Context, by muster.Actor, clientID int64, e muster.ManagerEdit) (*muster.Manager, error)
	Merge(ctx context.Context, req muster.MergeRequest, by muster.Actor) (*muster.Merge, bool, error)
	CancelImport(ctx context.Context, im *muster.Import) (*muster.Import, int, error)
	UpdateCard(ctx context.Context, accountID, contractorID int64, u muster.CardUpdate) error
	CreateTask(ctx context.Context, by muster.Actor, accountID, contractorID int64, title, description string) (*muster.Task, error)
	UpdateTask(ctx context.Context, by muster.Actor, accountID, taskID int64, u muster.TaskUpdate) (*muster.Task, error)
	CreateAccount(ctx context.Context, by muster.Actor, clientID int64, name string, basedOn *int64) (*muster.Account, error)
	// Limit holds invitations, resends and uploads to the client's limits,
	// as the API's.
	Limit(ctx context.Context, l actions.Limited, do func() error) error
}

// Limiter takes from a budget counted across every web process
// (*limit.Limiter): here, the sign-in links one client IP asks for.
type Limiter interface {
	Take(ctx context.Context, what, key string) error
}

// Options configure the console; a zero field means its default.
type Options struct {
	// URL is where people reach the console, for links in sign-in emails
	// (never taken from a request's Host header).
	URL string
	// Mail sends sign-in links; Render writes them. Domain ends their
	// Message-IDs (MAIL_FROM's domain).
	Mail   mail.Sender
	Render *mail.Renderer
	Domain string
	// Signer signs sign-in links.
	Signer *signed.Signer
	// Bundle has the console's strings, from the emails' go-i18n bundle.
	Bundle *locale.Bundle
	// SessionTTL is how long a session lasts. Default 12 hours.
	SessionTTL time.Duration
	// LinkTTL is how long an emailed sign-in link works. Default 15 minutes.
	LinkTTL time.Duration
	// LinkEvery is the least time between two sign-in emails to one
	// address. Default 1 minute.
	LinkEvery time.Duration
	// Limiter bounds the sign-in links one client IP asks for
	// (LIMIT_SIGNIN); nil: no bound.
	Limiter Limiter
	// Monitor is linked for staff when set (the Asynq web UI's path).
	Monitor string
	// ImportLimits bound uploads, as the API's (zero fields: defaults).
	ImportLimits workbook.Limits
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// Server serves the console.
type Server struct {
	store   stores
	actions Actions
	log     *slog.Logger
	opts    Options
	pages   *pages
	mux     *http.ServeMux
	routes  []string
	handler http.Handler
}

// New builds the console and its routes.
func New(store Store, actions Actions, log *slog.Logger, opts Options) (*Server, error) {
	if opts.SessionTTL == 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.LinkTTL == 0 {
		opts.LinkTTL = 15 * time.Minute
	}
	if opts.LinkEvery == 0 {
		opts.LinkEvery = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{
		store: stores{
			sessions: store, columns: store, accounts: store, contractors: store, tasks: store, managers: store, merges: store,
			imports: store,
		},
		actions: actions, log: log, opts: opts, pages: p, mux: http.NewServeMux(),
	}
	s.route()
	// Cross-origin form posts are refused: the browser says where a
	// request comes from (Sec-Fetch-Site, Origin), so no token is needed.
	s.handler = secure(http.NewCrossOriginProtection().Handler(s.mux))
	return s, nil
}

// Routes lists the patterns the console answers, as registered, so the
// access matrix test can hold each to a row.
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

func (s *Server) handle(pattern string, h http.Handler) {
	s.routes = append(s.routes, pattern)
	s.mux.Handle(pattern, h)
}

func (s *Server) route() {
	static, _ := fs.Sub(files, "static")
	s.handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.handle("GET /{$}", s.page(s.home))
	s.handle("GET /signin", s.public(s.signinForm))
	s.handle("POST /signin/token", s.public(s.signinToken))
	s.handle("POST /signin/email", s.public(s.signinEmail))
	s.handle("GET /signin/link", s.public(s.signinLinkForm))
	s.handle("POST /signin/link", s.public(s.signinLink))
	s.handle("POST /signout", s.public(s.signout))
	s.handle("POST /lang", s.public(s.setLang))
	s.handle("GET /accounts/{id}/contractors", s.page(s.contractors))
	s.handle("POST /accounts/{id}/columns", s.page(s.saveColumns))
	s.handle("GET /accounts/{id}/contractors/{cid}", s.page(s.card))
	s.handle("POST /accounts/{id}/contractors/{cid}/card", s.page(s.saveCard))
	s.handle("POST /accounts/{id}/contractors/{cid}/tasks", s.page(s.createTask))
	s.handle("GET /accounts/{id}/tasks", s.page(s.tasks))
	s.handle("POST /accounts/{id}/tasks/{tid}/status", s.page(s.moveTask))
	s.handle("POST /accounts/{id}/contractors/{cid}/resend", s.page(s.resend))
	s.handle("GET /accounts/{id}/contractors/{cid}/exclude", s.page(s.excludeForm))
	s.handle("POST /accounts/{id}/contractors/{cid}/exclude", s.page(s.exclude))
	s.handle("GET /accounts/{id}/invite", s.page(s.inviteForm))
	s.handle("POST /accounts/{id}/invite", s.page(s.invite))
	s.handle("GET /accounts/{id}/imports", s.page(s.imports))
	s.handle("POST /accounts/{id}/imports", s.page(s.upload))
	s.handle("GET /accounts/{id}/imports/template.xlsx", s.page(s.template))
	s.handle("GET /accounts/{id}/imports/{iid}", s.page(s.importPage))
	s.handle("GET /accounts/{id}/imports/{iid}/events", s.page(s.importEvents))
	s.handle("POST /accounts/{id}/imports/{iid}/cancel", s.page(s.cancelImport))
	s.handle("GET /accounts/{id}/imports/{iid}/errors.xlsx", s.page(s.importErrors))
	s.handle("GET /accounts/{id}/managers", s.page(s.managers))
	s.handle("POST /accounts/{id}/managers", s.page(s.inviteManager))
	s.handle("GET /accounts/{id}/managers/{mid}", s.page(s.managerForm))
	s.handle("POST /accounts/{id}/managers/{mid}", s.page(s.editManager))
	s.handle("POST /accounts/{id}/managers/{mid}/resend", s.page(s.resendManager))
	s.handle("GET /accounts/{id}/accounts", s.page(s.accounts))
	s.handle("POST /accounts/{id}/accounts", s.page(s.createAccount))
	s.handle("GET /merges", s.page(s.merges))
	s.handle("POST /merges", s.page(s.createMerge))
	s.handle("GET /merges/{id}", s.page(s.merge))
	s.handle("/", s.public(func(w http.ResponseWriter, r *http.Request, _ *request) error {
		return muster.NotFound("page_not_found", "no page at %s", r.URL.Path)
	}))
}

// ServeHTTP logs each request and recovers from panics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &httpapi.StatusRecorder{ResponseWriter: w, Status: http.StatusOK}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in console handler", "path", r.URL.Path, "panic", p)
			http.Error(rec, "internal error", http.StatusInternalServerError)
		}
		s.log.Info("console", "method", r.Method, "path", r.URL.Path, "status", rec.Status, "duration", time.Since(start))
	}()
	s.handler.ServeHTTP(rec, r)
}

// csp allows the console's own scripts and styles only: no inline script
// or style, no framing, forms posting back to the console alone.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// request is what a handler knows of its caller.
type request struct {
	actor  *muster.Actor // nil on public pages without a session
	lang   muster.Locale
	secret string // the session cookie
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, req *request) error

const (
	sessionCookie = "muster_session"
	langCookie    = "muster_lang"
)

func (s *Server) newRequest(r *http.Request) *request {
	req := &request{lang: muster.DefaultLocale}
	if c, err := r.Cookie(langCookie); err == nil {
		if l, err := muster.ParseLocale("lang", c.Value); err == nil {
			req.lang = l
		}
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		req.secret = c.Value
		if a, err := s.store.sessions.SessionActor(r.Context(), c.Value); err == nil {
			req.actor = a
		} else if muster.ErrorKind(err) != muster.KindUnauthenticated {
			s.log.Error("read session", "error", err)
		}
	}
	return req
}

// public serves a page that needs no session (it may still have one).
func (s *Server) public(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := s.newRequest(r)
		w.Header().Set("Cache-Control", "no-store")
		if err := h(w, r, req); err != nil {
			s.fail(w, r, req, err)
		}
	})
}

// page serves a page that needs a session: without one, the browser goes
// to the sign-in page and comes back after.
func (s *Server) page(h handlerFunc) http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request, req *request) error {
		if req.actor == nil {
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = "/"
			}
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
			return nil
		}
		return h(w, r.WithContext(muster.WithActor(r.Context(), *req.actor)), req)
	})
}

// fail shows an error page with the error's status. Internal errors are
// logged and shown without detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, req *request, err error) {
	status := httpapi.Status(err)
	e := muster.AsError(err)
	if e == nil {
		s.log.Error("console internal error", "method", r.Method, "path", r.URL.Path, "error", err)
		e = &muster.Error{Kind: muster.KindInternal, Code: "internal", Message: "internal error"}
	}
	httpapi.RetryAfter(w, e)
	v := s.view(r, req, "error")
	v.Data = map[string]any{"Status": status, "Code": e.Code, "Message": s.errorText(req, e)}
	s.render(w, status, "error", v)
}

// account reads the {id} account and checks that the actor may do act in
// it, exactly as the API does for the same work.
func (s *Server) account(r *http.Request, req *request, act muster.Action) (*muster.Account, error) {
	return httpapi.Account(r, s.store.accounts.FindAccount, *req.actor, act)
}

func pathID(r *http.Request, param, what string) (int64, error) {
	v := r.PathValue(param)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, muster.NotFound(what+"_not_found", "%s %q not found", what, v)
	}
	return id, nil
}

// home sends a client or manager to the first account they see, and shows
// staff where to go.
func (s *Server) home(w http.ResponseWriter, r *http.Request, req *request) error {
	if req.actor.Staff() {
		if id := r.URL.Query().Get("account"); id != "" {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
				http.Redirect(w, r, "/accounts/"+strconv.FormatInt(n, 10)+"/contractors", http.StatusSeeOther)
				return nil
			}
		}
		s.render(w, http.StatusOK, "staff", s.view(r, req, "staff"))
		return nil
	}
	accs, err := s.visibleAccounts(r.Context(), req.actor, req.actor.ClientID)
	if err != nil {
		return err
	}
	if len(accs) == 0 {
		v := s.view(r, req, "no_accounts")
		s.render(w, http.StatusOK, "empty", v)
		return nil
	}
	http.Redirect(w, r, "/accounts/"+strconv.FormatInt(accs[0].ID, 10)+"/contractors", http.StatusSeeOther)
	return nil
}

// visibleAccounts are the dashboard's accounts the actor sees: the
// switcher's list.
func (s *Server) visibleAccounts(ctx context.Context, a *muster.Actor, clientID int64) ([]muster.Account, error) {
	all, err := s.store.accounts.ListAccounts(ctx, clientID)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for i := range all {
		if a.SeesAccount(&all[i]) {
			out = append(out, all[i])
		}
	}
	return out, nil
}
