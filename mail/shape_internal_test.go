package mail

import (
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
