package mail

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// htmlText escapes every character, and bytes that are no UTF-8, as
// html/template does in HTML text.
func TestHTMLTextEscapesAsTemplates(t *testing.T) {
	tmpl := inContext(`{{.}}`, "", "")
	var all strings.Builder
	for r := rune(0); r < 0x3000; r++ {
		all.WriteRune(r)
	}
	all.WriteString("\xff\xfe\xc3 \xef\xbf\xbd\x00+&")
	cases := []string{"", "Анна", `ACME "Design, Ltd" <a@b> & 'x'+1`, all.String()}
	for r := rune(0); r < 0x3000; r++ {
		cases = append(cases, "a"+string(r)+"b")
	}
	for b := 0x80; b < 0x100; b++ {
		cases = append(cases, "a"+string([]byte{byte(b)})+"<")
	}
	for _, c := range cases {
		if got, want := htmlText(c), tmpl(c); got != want {
			t.Fatalf("htmlText(%q) = %q; html/template writes %q", c, got, want)
		}
	}
}

// href escapes links as html/template does in a quoted href: Muster's
// own, and random ones of every scheme and of the characters that matter.
func TestHrefEscapesAsTemplates(t *testing.T) {
	cases := []string{
		"https://app.example/signup?invitation=eyJhIjoxfQ.c2ln%3D&x=1+2",
		"http://app.example/login", "https://app.example/%zz", "https://app.example/%4", "https://app.example/%4A",
		"javascript:alert(1)", "JavaScript:x", "HTTPS://app.example/", "mailto:a@b", "/relative?a=b", "",
	}
	prefixes := []string{"https://", "http://", "HTTP://", "javascript:", "mailto:", "data:", "", "/", "https:/"}
	const chars = "aZ09-._~!#$&*+,/:;=?@[]%%%fA'\"()<> \x00\t\né\xff"
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		b := []byte(prefixes[r.IntN(len(prefixes))])
		for range r.IntN(24) {
			b = append(b, chars[r.IntN(len(chars))])
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		if got, want := href(c), hrefTemplate(c); got != want {
			t.Fatalf("href(%q) = %q; html/template writes %q", c, got, want)
		}
	}
}

// A field escaped in a way the shapes do not know (here a JavaScript
// string) makes no layout, so such an email is rendered in full.
func TestSplitRefusesAnUnknownContext(t *testing.T) {
	s := newShapes()
	mk := s.markers[0]
	js := strings.NewReplacer(`"`, `\u0022`, `'`, `\u0027`, `<`, `\u003c`).Replace(probe)
	if _, ok := s.split(`<script>var n="`+mk+`";</script>`, `<script>var n="`+mk+js+mk+`";</script>`); ok {
		t.Fatal("a JavaScript string context made a layout")
	}
	esc := escapers[1](probe)
	l, ok := s.split("<p>"+mk+"</p>", "<p>"+mk+esc+mk+"</p>")
	if !ok || l.fill([]string{"<b>"}) != "<p>&lt;b&gt;</p>" {
		t.Fatalf("an HTML text context: ok %v, filled %q", ok, l.fill([]string{"<b>"}))
	}
}
