// Package mail renders and sends email: HTML and plain-text parts from the
// templates in templates/, strings from locales/, delivered over SMTP (or
// into a directory on a developer machine). It knows nothing of
// contractors: callers pass a template name and data.
package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"unicode"

	"github.com/muster-dev/muster/internal/locale"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/templates"
)

// Content is a rendered email.
type Content struct {
	Subject string
	HTML    string
	Text    string
}

// Renderer turns a template name, a language and data into Content.
type Renderer struct {
	html   *htmltemplate.Template
	text   *texttemplate.Template
	bundle *locale.Bundle
	shapes *shapes
}

// NewRenderer parses every template once.
func NewRenderer(b *locale.Bundle) (*Renderer, error) {
	html, err := htmltemplate.New("").Option("missingkey=error").ParseFS(templates.FS, "*.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse HTML templates: %w", err)
	}
	text, err := texttemplate.New("").Option("missingkey=error").ParseFS(templates.FS, "*.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse text templates: %w", err)
	}
	return &Renderer{html: html, text: text, bundle: b, shapes: newShapes()}, nil
}

// Render writes the email of d's kind in language l. Values in d are user
// text: the HTML part escapes them. An email of a shape seen before is
// filled in rather than rendered (see shapes).
func (r *Renderer) Render(l muster.Locale, d Data) (*Content, error) {
	name, m := d.Template(), fields(d)
	run := func(m map[string]any) ([3]string, error) { return r.run(l, name, m) }
	if k, vals, ok := key(l, name, m); ok {
		if sh := r.shapes.get(k, func() *shape { return r.shapes.learn(run, m) }); sh != nil {
			return finish(sh.fill(vals)), nil
		}
	}
	parts, err := run(m)
	if err != nil {
		return nil, err
	}
	return finish(parts), nil
}

// run executes the subject, text and HTML templates of name.
func (r *Renderer) run(l muster.Locale, name string, m map[string]any) ([3]string, error) {
	v := view{Data: m, Lang: string(l), tr: r.bundle.For(l), memo: map[string]string{}}
	var subject, text, html bytes.Buffer
	if err := r.text.ExecuteTemplate(&subject, name+".subject", v); err != nil {
		return [3]string{}, fmt.Errorf("render %s subject: %w", name, err)
	}
	if err := r.text.ExecuteTemplate(&text, name+".txt", v); err != nil {
		return [3]string{}, fmt.Errorf("render %s text: %w", name, err)
	}
	if err := r.html.ExecuteTemplate(&html, name+".html", v); err != nil {
		return [3]string{}, fmt.Errorf("render %s html: %w", name, err)
	}
	return [3]string{subject.String(), text.String(), html.String()}, nil
}

// finish makes the rendered subject, text and HTML an email's Content.
func finish(p [3]string) *Content {
	return &Content{
		Subject: oneLine(p[0]),
		Text:    strings.TrimSpace(squeezeBlankLines(p[1])) + "\n",
		HTML:    p[2],
	}
}

// view is what templates see: the data, and translation bound to one
// language and to the data (placeholders such as {{.Account}} come from it).
type view struct {
	Data map[string]any
	Lang string
	tr   locale.Translator
	memo map[string]string // translations of this email: the text and HTML parts share them
}

// T translates a message id.
func (v view) T(id string) (string, error) {
	if s, ok := v.memo[id]; ok {
		return s, nil
	}
	s, err := v.tr.T(id, v.Data)
	if err == nil {
		v.memo[id] = s
	}
	return s, err
}

// N translates a plural message id for count.
func (v view) N(id string, count int) (string, error) { return v.tr.N(id, count, v.Data) }

// Button is the argument of the "button" template.
func (v view) Button(label, url string) map[string]string {
	return map[string]string{"Label": label, "URL": url}
}

// oneLine makes a header value safe: one line, no control characters, so a
// name or account title cannot inject headers.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

func squeezeBlankLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
