package console

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/muster-dev/muster/internal/locale"
	"github.com/muster-dev/muster/internal/muster"
)

// pages are the parsed templates: each page is the layout plus its own file.
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"join": strings.Join,
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"has":   slices.Contains[[]string],
	"hasID": slices.Contains[[]int64],
}

func parsePages() (*pages, error) {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("parse console page %s: %w", n, err)
		}
		p.byName[base] = t
	}
	return p, nil
}

// view is what a page template sees.
type view struct {
	tr         locale.Translator
	Lang       muster.Locale
	Title      string
	Path       string // the page's own path and query, to come back to
	Actor      *muster.Actor
	Account    *muster.Account  // the selected account, if the page has one
	Accounts   []muster.Account // the switcher's
	Section    string           // the sidebar's current entry
	AddAccount bool             // the switcher offers to add an account
	Monitor    string           // the queue dashboard's path, for staff
	Notice     string           // a message about what just happened
	Data       any
}

// T translates a message id; args are key, value pairs for its placeholders.
func (v *view) T(id string, args ...any) string {
	data := map[string]any{}
	for i := 0; i+1 < len(args); i += 2 {
		data[fmt.Sprint(args[i])] = args[i+1]
	}
	s, err := v.tr.T(id, data)
	if err != nil {
		return id
	}
	return s
}

// N translates a plural message id for count.
func (v *view) N(id string, count int) string {
	s, err := v.tr.N(id, count, nil)
	if err != nil {
		return id
	}
	return s
}

// Time shows a time in the reader's words: date and minute, UTC.
func (v *view) Time(t any) string {
	switch x := t.(type) {
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04") + " UTC"
	case *time.Time:
		if x != nil {
			return x.UTC().Format("2006-01-02 15:04") + " UTC"
		}
	}
	return ""
}

// SwitchTo is the same page in another account: the switcher keeps the
// section.
func (v *view) SwitchTo(id int64) string {
	section := v.Section
	if section == "" {
		section = "contractors"
	}
	return fmt.Sprintf("/accounts/%d/%s", id, section)
}

func (s *Server) view(r *http.Request, req *request, title string) *view {
	return &view{
		tr:      s.opts.Bundle.For(req.lang),
		Lang:    req.lang,
		Title:   title,
		Path:    r.URL.RequestURI(),
		Actor:   req.actor,
		Monitor: s.opts.Monitor,
	}
}

// accountView is a page about one account: the sidebar lists the
// dashboard's accounts the actor sees, and marks the section.
func (s *Server) accountView(ctx context.Context, r *http.Request, req *request, acc *muster.Account, section string) (*view, error) {
	v := s.view(r, req, section)
	v.Account, v.Section = acc, section
	v.AddAccount = req.actor.Allows(muster.ManageAccounts)
	accs, err := s.visibleAccounts(ctx, req.actor, acc.ClientID)
	if err != nil {
		return nil, err
	}
	v.Accounts = accs
	return v, nil
}

// render writes a page. It renders into a buffer first, so a template
// error is a clean 500, not half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, v *view) {
	t, ok := s.pages.byName[name]
	if !ok {
		s.log.Error("no console template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		s.log.Error("render console page", "name", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w) // the browser may have gone
}

// errorText is an error in the reader's language when the console has the
// words for its code, else the error's own message.
func (s *Server) errorText(req *request, e *muster.Error) string {
	tr := s.opts.Bundle.For(req.lang)
	if msg, err := tr.T("err_"+e.Code, nil); err == nil {
		return msg
	}
	return e.Message
}

// safeNext keeps a post-sign-in destination on this site: a path, not a
// URL to another host.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
