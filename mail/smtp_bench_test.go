package mail_test

import (
	"context"
	"testing"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/smtptest"
	"github.com/muster-dev/muster/mail"
)

// One message over a pool of 4 connections to the loopback test server,
// with pipelining and without: what the saved round trips are worth
// where a round trip costs little.
func BenchmarkSMTPSend(b *testing.B) {
	for _, bm := range []struct {
		name     string
		lockstep bool
	}{{"pipelined", false}, {"lockstep", true}} {
		b.Run(bm.name, func(b *testing.B) {
			srv := smtptest.Start(b)
			s, err := mail.NewSMTP(srv.URL(), mail.SMTPOptions{From: from, Conns: 4, NoPipelining: bm.lockstep})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			c, err := renderer(b).Render(muster.Russian, inviteData())
			if err != nil {
				b.Fatal(err)
			}
			m := &mail.Message{To: "anna@example.test", ToName: "Анна", MessageID: "bench@muster.test", Content: *c}
			b.SetParallelism(4) // more senders than connections, as a bulk task has
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Send(context.Background(), m); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
