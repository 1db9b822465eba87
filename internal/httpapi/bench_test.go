package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"
)

// seedAccount fills a new account of b's dashboard with n contractors in
// every onboarding state, as one client's list would look: half signed up,
// some without a phone or tax status, some failed emails, skill notes in
// Russian and English on every tenth.
func seedAccount(tb testing.TB, b *testBundle, clientID int64, n int) int64 {
	tb.Helper()
	ctx := context.Background()
	acc, err := b.db.CreateAccount(ctx, clientID, "Bench "+strconv.Itoa(n), nil)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = b.db.ExecContext(ctx, `
		WITH c AS (
		    INSERT INTO contractors (email, full_name, registered_at, phone_verified_at, tax_status, tax_status_set_at, payment_method_linked_at)
		    SELECT 'c' || g || '-' || $1::bigint || '@bench.test', 'Контрактор ' || (g * 7919 % $2::int),
		           CASE WHEN g % 2 = 0 THEN now() - make_interval(mins => g % 10000) END,
		           CASE WHEN g % 4 = 0 THEN now() END,
		           CASE WHEN g % 8 = 0 THEN (ARRAY['individual', 'individual_entrepreneur', 'self_employed'])[1 + g % 3] END,
		           CASE WHEN g % 8 = 0 THEN now() END,
		           CASE WHEN g % 16 = 0 THEN now() END
		      FROM generate_series(1, $2::int) g
		    RETURNING id, registered_at
		)
		INSERT INTO memberships (account_id, contractor_id, status, send_status, notes, invited_at)
		SELECT $1::bigint, c.id, CASE WHEN c.registered_at IS NULL THEN 'invited' ELSE 'active' END,
		       CASE WHEN c.id % 10 = 1 THEN 'failed' ELSE 'sent' END,
		       CASE c.id % 20 WHEN 0 THEN 'Опытный дизайнер, знает Figma' WHEN 10 THEN 'Senior designer, Sketch and Photoshop' ELSE '' END,
		       now() - make_interval(secs => c.id % 100000)
		  FROM c`, acc.ID, n)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := b.db.ExecContext(ctx, `ANALYZE memberships`); err != nil {
		tb.Fatal(err)
	}
	return acc.ID
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
					start := time.Now()
					res := t.do(b, "GET", base+query, tok, nil)
					lat = append(lat, time.Since(start))
					if res.status != http.StatusOK {
						b.Fatalf("%d %v", res.status, res.body)
					}
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*95/100)].Microseconds())/1000, "p95-ms")
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
