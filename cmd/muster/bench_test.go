package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/smtptest"
)

// BenchmarkInviteLatency measures what a person inviting one contractor
// feels: the time from the API's 202 to the SMTP server accepting the
// email, through the whole service (HTTP, PostgreSQL, Redis, the worker,
// SMTP on loopback). The 1s case is Asynq's default poll interval, the
// baseline the tuned default (100ms) is compared with in the same run.
//
//	go test ./cmd/muster -run '^$' -bench InviteLatency -benchtime 40x -count 5
func BenchmarkInviteLatency(b *testing.B) {
	for _, poll := range []string{"1s", "100ms"} {
		b.Run("poll="+poll, func(b *testing.B) {
			base, tok, acc, smtp, stop := benchServe(b, poll)
			defer stop()
			url := base + "/v1/accounts/" + strconv.FormatInt(acc, 10) + "/invitations"
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				// Invitations arrive when people click, not in step with
				// the worker's polling: wait a random moment first.
				b.StopTimer()
				time.Sleep(rand.N(2 * time.Second))
				b.StartTimer()
				changed := smtp.Changed()
				email := fmt.Sprintf("c%d-%d@example.test", i, time.Now().UnixNano())
				post(b, url, tok, `{"email":"`+email+`"}`)
				accepted := time.Now()
				<-changed
				msgs := smtp.Messages()
				m := msgs[len(msgs)-1]
				if m.To[0] != email {
					b.Fatalf("got mail for %s, want %s", m.To[0], email)
				}
				lat = append(lat, m.At.Sub(accepted))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(pct(lat, 50))/1e6, "p50-ms")
			b.ReportMetric(float64(pct(lat, 99))/1e6, "p99-ms")
		})
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, (len(sorted)*p+99)/100-1)]
}

// benchServe runs `muster serve` in-process and returns its base URL, a
// staff token, an account id and the SMTP server it sends to.
func benchServe(b *testing.B, poll string) (string, string, int64, *smtptest.Server, func()) {
	b.Helper()
	s := startServe(b, map[string]string{"POLL_INTERVAL": poll, "LOG_LEVEL": "error"})
	tok := s.staffToken(b)
	res := post(b, s.base+"/v1/clients", tok, `{"name":"Bench","owner_email":"owner@bench.test"}`)
	acc := int64(res["account"].(map[string]any)["id"].(float64))
	return s.base, tok, acc, s.smtp, func() { _ = s.stop() }
}
