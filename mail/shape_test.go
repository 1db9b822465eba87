package mail_test

import (
	"reflect"
	"testing"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/mail"
)

// An email filled into a shape learnt from another recipient's is the
// email its templates render for this one, byte for byte, whatever the
// name, address and link hold; and every kind of email is filled in.
func TestShapesFillWhatTheTemplatesWouldRender(t *testing.T) {
	people := []struct{ name, email, url string }{
		{"Анна Петрова", "anna@example.test", "https://app.test/signup?invitation=abc.def"},
		{`<script>alert("x")</script>`, "o'brien+tag@example.test", `https://app.test/s?a=1&b="2"<x>`},
		{`ACME "Design, Ltd" & Sons + Co`, "x@пример.рф", "javascript:alert(1)"},
		{`=HYPERLINK("http://evil.test")`, "a@b.test", "https://app.test/p ath?q=é#frag"},
		{"Zoë 漢字 \u00a0 O'Neil", "z@b.test", "mailto:someone@example.test"},
		{"", "noname@example.test", "https://app.test/signup?invitation=x"},
	}
	with := func(d mail.Data, name, email, url string) mail.Data {
		v := reflect.New(reflect.TypeOf(d)).Elem()
		v.Set(reflect.ValueOf(d))
		v.FieldByName("Name").SetString(name)
		v.FieldByName("Email").SetString(email)
		v.FieldByName("URL").SetString(url)
		return v.Interface().(mail.Data)
	}
	r := renderer(t)
	for name, d := range goldenCases() {
		for _, l := range muster.Locales {
			for _, p := range people {
				got, err := r.Render(l, with(d, p.name, p.email, p.url))
				if err != nil {
					t.Fatalf("%s/%s: %v", name, l, err)
				}
				want, err := mail.RenderInFull(r, l, with(d, p.name, p.email, p.url))
				if err != nil {
					t.Fatalf("%s/%s: %v", name, l, err)
				}
				if !mail.Filled(r, l, with(d, p.name, p.email, p.url)) {
					t.Errorf("%s/%s: rendered in full every time; its shape has no holes", name, l)
				}
				if *got != *want {
					t.Errorf("%s/%s for %q: filled email differs from the rendered one:\nsubject %q / %q\ntext %s\nhtml %s",
						name, l, p.name, got.Subject, want.Subject, firstDiff(want.Text, got.Text), firstDiff(want.HTML, got.HTML))
				}
			}
		}
	}
}
