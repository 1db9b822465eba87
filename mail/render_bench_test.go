package mail_test

import (
	"testing"

	"github.com/muster-dev/muster/internal/muster"
)

// The cost of one invitation's three parts, which every email pays.
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
