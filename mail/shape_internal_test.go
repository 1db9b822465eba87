package mail

import (
	"strings"
	"testing"
)

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
