package mail_test

import (
	"testing"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/mail"
)

// The cost of one invitation's three parts as most emails pay it: filled
// into a shape learnt from an earlier email of the same import.
func BenchmarkRenderInvite(b *testing.B) {
	r := renderer(b)
	d := inviteData()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(muster.Russian, d); err != nil {
			b.Fatal(err)
		}
	}
}

// The same rendered in full: every template run, as the first email of a
// shape is (twice, to learn it).
func BenchmarkRenderInviteInFull(b *testing.B) {
	r := renderer(b)
	d := inviteData()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mail.RenderInFull(r, muster.Russian, d); err != nil {
			b.Fatal(err)
		}
	}
}
