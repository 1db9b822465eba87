package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/postgres/pgtest"
	"github.com/muster-dev/muster/jobs"
)

// seedAccount fills a new account of b's dashboard with n contractors
// (pgtest.SeedAccount).
func seedAccount(tb testing.TB, b *testBundle, clientID int64, n int) int64 {
	tb.Helper()
	return pgtest.SeedAccount(tb, b.db, clientID, n)
}

// BenchmarkContractorList measures one page of 50 through the API on an
// account of 100k contractors, for each kind of query, against the same
// query on an account of 1k (the baseline: a list that scales with the page
// and not the account costs about the same on both).
//
//	go test ./internal/httpapi -run '^$' -bench ContractorList -benchtime 200x -count 5
func BenchmarkContractorList(b *testing.B) {
	t := setup(b)
	_, tok := t.client(b, "Bench", "owner@bench.test")
	var clientID int64
	if err := t.db.Get(&clientID, `SELECT client_id FROM api_tokens WHERE kind = 'client' LIMIT 1`); err != nil {
		b.Fatal(err)
	}
	sizes := []int{1000, 100000}
	accounts := map[int]int64{}
	for _, n := range sizes {
		accounts[n] = seedAccount(b, t, clientID, n)
	}
	queries := []struct{ name, query string }{
		{"first_page", ""},
		{"deep_page", "deep"},
		{"stage", "stage=registered"},
		{"incomplete", "incomplete=true"},
		{"send_failed", "send_status=failed"},
		{"search_en", "q=designers"},
		{"search_ru", "q=дизайнеры"},
		{"sort_name", "sort=full_name"},
		{"sort_signup", "sort=-registered_at"},
	}
	for _, q := range queries {
		for _, n := range sizes {
			b.Run(q.name+"/contractors="+strconv.Itoa(n), func(b *testing.B) {
				base := path("/v1/accounts/{id}/contractors", accounts[n]) + "?limit=50&"
				query := q.query
				if query == "deep" {
					query = "cursor=" + url.QueryEscape(cursorAt(b, t, base, tok, n/100))
				}
				lat := make([]time.Duration, 0, b.N)
				for range b.N {
					lat = append(lat, t.timeGet(b, base+query, tok))
				}
				b.ReportMetric(float64(pctl(lat, 50).Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(pctl(lat, 95).Microseconds())/1000, "p95-ms")
			})
		}
	}
}

// cursorAt walks the list page by page and returns the cursor of page n.
func cursorAt(b *testing.B, t *testBundle, base, tok string, n int) string {
	cursor := ""
	for range n {
		res := t.do(b, "GET", base+"columns=email&cursor="+url.QueryEscape(cursor), tok, nil)
		next, _ := res.body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	return cursor
}

// BenchmarkMerge merges two dashboards into a third: 50 accounts and 100k
// contractor memberships in all. While the merge runs, a client of the
// target keeps using the API (lists, cards, invitations); its latency is
// compared with the same requests with no merge running, in the same run.
//
//	go test ./internal/httpapi -run '^$' -bench Merge -benchtime 1x -count 5
func BenchmarkMerge(b *testing.B) {
	for range b.N {
		b.StopTimer()
		t := setup(b)
		ctx := context.Background()
		var clients [3]int64
		var tokens [3]string
		for i := range clients {
			_, tokens[i] = t.client(b, "Company "+strconv.Itoa(i+1), "owner@company"+strconv.Itoa(i+1)+".test")
			if err := t.db.Get(&clients[i], `SELECT client_id FROM api_tokens WHERE kind = 'client' ORDER BY id DESC LIMIT 1`); err != nil {
				b.Fatal(err)
			}
		}
		// 50 accounts: 16 more in each source, 15 more in the target.
		for i, extra := range []int{15, 16, 16} {
			for n := range extra {
				if _, err := t.db.CreateAccount(ctx, clients[i], fmt.Sprintf("Project %d-%d", i, n), nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		seedMemberships(b, t, clients[1:], 100000)
		target := path("/v1/accounts/{id}/contractors", firstAccount(b, t, clients[0])) + "?limit=50"

		idle := hammer(b, t, target, tokens[0], 200*time.Millisecond)
		res := t.do(b, "POST", "/v1/merges", t.staff, map[string]any{"target_client_id": clients[0], "source_client_ids": clients[1:]})
		id := num(res.body["id"])
		stop := make(chan []time.Duration)
		go func() { stop <- hammerUntil(b, t, target, tokens[0], func() bool { return mergeDone(t, id) }) }()
		b.StartTimer()
		start := time.Now()
		if err := t.merger().Process(ctx, jobs.MergeArgs{MergeID: id}); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		busy := <-stop
		var moved int
		t.db.Get(&moved, `SELECT count(*) FROM memberships m JOIN accounts a ON a.id = m.account_id WHERE a.client_id = $1`, clients[0])
		if moved != 100000 {
			b.Fatalf("%d memberships in the target after the merge, want 100000", moved)
		}
		b.ReportMetric(took.Seconds()*1000, "merge-ms")
		b.ReportMetric(float64(pctl(idle, 99).Microseconds())/1000, "idle-p99-ms")
		b.ReportMetric(float64(pctl(busy, 99).Microseconds())/1000, "during-p99-ms")
		b.ReportMetric(float64(len(busy)), "requests-during")
	}
}

// seedMemberships spreads n contractors over the accounts of the clients.
func seedMemberships(tb testing.TB, t *testBundle, clients []int64, n int) {
	tb.Helper()
	_, err := t.db.Exec(`
		WITH acc AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k, count(*) OVER () AS total FROM accounts WHERE client_id = ANY($1)),
		     c AS (INSERT INTO contractors (email) SELECT 'm' || g || '@merge.test' FROM generate_series(1, $2::int) g RETURNING id)
		INSERT INTO memberships (account_id, contractor_id, status)
		SELECT acc.id, c.id, 'invited' FROM c JOIN acc ON acc.k = c.id % acc.total`, pq.Array(clients), n)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := t.db.Exec(`ANALYZE`); err != nil {
		tb.Fatal(err)
	}
}

func firstAccount(tb testing.TB, t *testBundle, client int64) int64 {
	var id int64
	if err := t.db.Get(&id, `SELECT min(id) FROM accounts WHERE client_id = $1`, client); err != nil {
		tb.Fatal(err)
	}
	return id
}

func mergeDone(t *testBundle, id int64) bool {
	var status string
	t.db.Get(&status, `SELECT status FROM merges WHERE id = $1`, id)
	return status == "done" || status == "failed"
}

// hammer sends list requests for d and returns their latencies.
func hammer(tb testing.TB, t *testBundle, url, tok string, d time.Duration) []time.Duration {
	end := time.Now().Add(d)
	return hammerUntil(tb, t, url, tok, func() bool { return time.Now().After(end) })
}

func hammerUntil(tb testing.TB, t *testBundle, url, tok string, done func() bool) []time.Duration {
	var lat []time.Duration
	for !done() || len(lat) == 0 {
		start := time.Now()
		if res := t.do(tb, "GET", url, tok, nil); res.status != 200 {
			tb.Errorf("list during the merge: %d %v", res.status, res.body)
			return lat
		}
		lat = append(lat, time.Since(start))
	}
	return lat
}

func pctl(lat []time.Duration, p int) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// timeGet times one GET of a page as a client sees it, without the checks
// the tests run on every response (its OpenAPI contract, its JSON), which
// cost more than the page itself.
func (t *testBundle) timeGet(b *testing.B, path, token string) time.Duration {
	req, err := http.NewRequest("GET", t.srv.URL+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	res, err := t.srv.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	took := time.Since(start)
	if err != nil || res.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %s %v", path, res.StatusCode, data, err)
	}
	return took
}
