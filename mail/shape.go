package mail

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/muster-dev/muster/internal/muster"
)

// The emails of one import, or of one account's invitations, differ only
// in whom they greet and in their links: the templates ran for each of
// them, and that was the worker's largest cost on loopback (28% of its
// CPU). So Render learns each shape of email once, its three parts with
// holes where the recipient's own values go, and fills the holes for every
// email of that shape.
//
// A shape is learnt by rendering twice: once with a random marker for
// each personal field, once with the marker around a probe of characters
// that every escaping context changes differently. Between the markers,
// the second rendering shows how the templates escaped the field at that
// place; a hole is made only when that is exactly one of the escapers, and
// its value is then escaped as html/template escapes it in that context.
// Anything else (a field a template transforms, an unknown context, a
// rendering error) leaves the shape to be rendered in full every time.

// personal are the fields that differ from one recipient to the next.
// Any other field is part of the shape; a personal field's emptiness is
// too, since templates test it.
var personal = []string{"Name", "Email", "URL"}

// probe holds characters escaped differently in HTML text, in a URL
// attribute and in plain text.
const probe = `<>&'"+ =/?#%;,()é`

// escapers are the contexts a hole may be in: plain text (the subject and
// text parts, and strings before html/template sees them), HTML text or a
// quoted attribute, and a quoted href's whole value.
var escapers = []func(string) string{
	func(s string) string { return s },
	htmlText,
	href,
}

// htmlText escapes a value as html/template does in HTML text and quoted
// attributes (its htmlEscaper, whose table this is), without running a
// template for each value: that was 3% of the worker's CPU in bench (2).
// TestHTMLTextEscapesAsTemplates holds it to html/template.
var htmlText = strings.NewReplacer("\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;",
	"+", "&#43;", "<", "&lt;", ">", "&gt;").Replace

// href escapes a link as html/template does in a quoted href: filtered (a
// scheme other than http, https or mailto becomes "#ZgotmplZ"),
// normalized (what a URL may not hold is percent-encoded), then escaped as
// an attribute. An http(s) link the normalizer would leave as it is, as
// Muster's own links are, is only escaped as an attribute here (running
// the template was a tenth of the worker's CPU in bench (1)); any other
// goes through html/template. TestHrefEscapesAsTemplates holds it to
// html/template.
func href(s string) string {
	if (strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")) && normalized(s) {
		return htmlText(s)
	}
	return hrefTemplate(s)
}

var hrefTemplate = inContext(`<a href="{{.}}">`, `<a href="`, `">`)

// normalized says whether html/template's URL normalizer leaves s as it
// is: only unreserved and reserved characters, and valid escapes.
func normalized(s string) bool {
	const hex = "0123456789abcdefABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("-._~!#$&*+,/:;=?@[]", c) >= 0:
		case c == '%' && i+2 < len(s) && strings.IndexByte(hex, s[i+1]) >= 0 && strings.IndexByte(hex, s[i+2]) >= 0:
		default:
			return false
		}
	}
	return true
}

// inContext escapes a value as html/template does in the context of tmpl,
// which writes pre, the value and post.
func inContext(tmpl, pre, post string) func(string) string {
	t := htmltemplate.Must(htmltemplate.New("").Parse(tmpl))
	return func(s string) string {
		var b strings.Builder
		if err := t.Execute(&b, s); err != nil {
			return "" // a string always renders; unreachable
		}
		return strings.TrimSuffix(strings.TrimPrefix(b.String(), pre), post)
	}
}

// shapes are the shapes learnt so far, by key; nil: render in full.
type shapes struct {
	markers []string // one per personal field, random per process
	mu      sync.Mutex
	m       map[string]*shape
}

// maxShapes bounds the cache: past it, it starts again.
const maxShapes = 512

func newShapes() *shapes {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	s := &shapes{m: map[string]*shape{}}
	for i := range personal {
		s.markers = append(s.markers, fmt.Sprintf("zq%sf%dqz", hex.EncodeToString(b[:]), i))
	}
	return s
}

// shape is an email's subject, text and HTML, with holes.
type shape [3]layout

func (sh *shape) fill(vals []string) [3]string {
	return [3]string{sh[0].fill(vals), sh[1].fill(vals), sh[2].fill(vals)}
}

// layout is a rendered part with holes: lits[i] precedes holes[i], and
// the last of lits ends the part.
type layout struct {
	lits  []string
	holes []hole
}

type hole struct {
	field int // index in personal
	esc   func(string) string
}

func (l layout) fill(vals []string) string {
	var b strings.Builder
	for i, h := range l.holes {
		b.WriteString(l.lits[i])
		b.WriteString(h.esc(vals[h.field]))
	}
	b.WriteString(l.lits[len(l.lits)-1])
	return b.String()
}

// key names the shape of an email whose fields are m, and returns its
// personal values; ok is false when a personal field is not a string.
func key(l muster.Locale, name string, m map[string]any) (k string, vals []string, ok bool) {
	vals = make([]string, len(personal))
	var b strings.Builder
	b.WriteString(string(l) + "\x00" + name)
	for _, f := range slices.Sorted(maps.Keys(m)) {
		b.WriteString("\x00" + f + "=")
		if i := slices.Index(personal, f); i >= 0 {
			s, isString := m[f].(string)
			if !isString {
				return "", nil, false
			}
			vals[i] = s
			b.WriteString(fmt.Sprint(s != ""))
			continue
		}
		fmt.Fprintf(&b, "%#v", m[f])
	}
	return b.String(), vals, true
}

// get returns the shape of key, learning it with learn the first time.
func (s *shapes) get(key string, learn func() *shape) *shape {
	s.mu.Lock()
	sh, ok := s.m[key]
	s.mu.Unlock()
	if ok {
		return sh
	}
	sh = learn()
	s.mu.Lock()
	if len(s.m) >= maxShapes {
		clear(s.m)
	}
	s.m[key] = sh
	s.mu.Unlock()
	return sh
}

// learn renders an email of m's shape with markers and with probes, and
// makes its layouts; nil when a part cannot be made into one.
func (s *shapes) learn(render func(map[string]any) (parts [3]string, err error), m map[string]any) *shape {
	marked, probed := maps.Clone(m), maps.Clone(m)
	for i, f := range personal {
		if v, _ := m[f].(string); v != "" {
			marked[f], probed[f] = s.markers[i], s.markers[i]+probe+s.markers[i]
		}
	}
	a, err := render(marked)
	if err != nil {
		return nil
	}
	b, err := render(probed)
	if err != nil {
		return nil
	}
	var sh shape
	for i := range sh {
		var ok bool
		if sh[i], ok = s.split(a[i], b[i]); !ok {
			return nil
		}
	}
	return &sh
}

// split makes a layout of a part rendered with markers (marked) and with
// probes (probed).
func (s *shapes) split(marked, probed string) (layout, bool) {
	var l layout
	for {
		at, field := -1, -1
		for i, mk := range s.markers {
			if j := strings.Index(marked, mk); j >= 0 && (at < 0 || j < at) {
				at, field = j, i
			}
		}
		if at < 0 {
			l.lits = append(l.lits, marked)
			return l, marked == probed
		}
		lit, mk := marked[:at], s.markers[field]
		rest, ok := strings.CutPrefix(probed, lit+mk)
		if !ok {
			return l, false
		}
		seen, after, ok := strings.Cut(rest, mk)
		if !ok {
			return l, false
		}
		var esc func(string) string
		for _, e := range escapers {
			if e(probe) == seen {
				esc = e
				break
			}
		}
		if esc == nil {
			return l, false
		}
		l.lits = append(l.lits, lit)
		l.holes = append(l.holes, hole{field: field, esc: esc})
		marked, probed = marked[at+len(mk):], after
	}
}
