package mail_test

import (
	"bytes"
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

// One rendered invitation made into its MIME message (go-mail builds and
// writes it, base64 parts), as every email is before it goes out: the
// largest share of the worker's CPU that is the email's own in bench (2).
func BenchmarkWriteMessage(b *testing.B) {
	c, err := renderer(b).Render(muster.Russian, inviteData())
	if err != nil {
		b.Fatal(err)
	}
	m := &mail.Message{To: "anna@example.test", ToName: "Анна Петрова", MessageID: "bench@muster.test", Content: *c}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := mail.WriteMessage(&buf, from, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/msg")
}
