package console_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/postgres/pgtest"
)

// BenchmarkContractorPage measures the console's contractor page (the
// whole HTML page: session, account, switcher, columns, one page of 50) on
// an account of 100k contractors, next to the API's JSON list of the same
// page, and the same two on an account of 1k (the baseline), in one run.
//
//	go test ./internal/console -run '^$' -bench ContractorPage -benchtime 200x -count 3
func BenchmarkContractorPage(b *testing.B) {
	t := setup(b)
	d := t.dashboard(b, "Bench")
	page := t.session(b, d.tokens["owner"])
	sizes := []int{1000, 100000}
	accounts := map[int]int64{}
	for _, n := range sizes {
		accounts[n] = pgtest.SeedAccount(b, t.db, d.clientID, n)
	}
	for _, q := range []struct{ name, query string }{
		{"first_page", ""},
		{"incomplete", "incomplete=true"},
		{"search_ru", "q=дизайнеры"},
		{"sort_name", "sort=full_name"},
	} {
		for _, n := range sizes {
			for _, via := range []string{"api", "page"} {
				b.Run(fmt.Sprintf("%s/%s/contractors=%d", q.name, via, n), func(b *testing.B) {
					u := fmt.Sprintf("%s/accounts/%d/contractors?%s", t.srv.URL, accounts[n], q.query)
					if via == "api" {
						u = fmt.Sprintf("%s/v1/accounts/%d/contractors?limit=50&%s", t.srv.URL, accounts[n], q.query)
					}
					lat := make([]time.Duration, 0, b.N)
					for range b.N {
						req, _ := http.NewRequest("GET", u, nil)
						if via == "api" {
							req.Header.Set("Authorization", "Bearer "+d.tokens["owner"])
						}
						start := time.Now()
						res, err := page.Do(req)
						if err != nil {
							b.Fatal(err)
						}
						_, _ = io.Copy(io.Discard, res.Body)
						res.Body.Close()
						lat = append(lat, time.Since(start))
						if res.StatusCode != http.StatusOK {
							b.Fatalf("%s: %d", u, res.StatusCode)
						}
					}
					b.ReportMetric(ms(pctl(lat, 50)), "p50-ms")
					b.ReportMetric(ms(pctl(lat, 95)), "p95-ms")
				})
			}
		}
	}
}

func pctl(lat []time.Duration, p int) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
