package pgtest

import (
	"context"
	"strconv"
	"testing"

	"github.com/muster-dev/muster/internal/postgres"
)

// SeedAccount fills a new account of the client with n contractors in
// every onboarding state, as one client's list would look: half signed up,
// some without a phone or tax status, some failed emails, skill notes in
// Russian and English on every tenth.
func SeedAccount(tb testing.TB, db *postgres.DB, clientID int64, n int) int64 {
	tb.Helper()
	ctx := context.Background()
	acc, err := db.CreateAccount(ctx, clientID, "Bench "+strconv.Itoa(n), nil)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = db.ExecContext(ctx, `
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
	if _, err := db.ExecContext(ctx, `ANALYZE memberships`); err != nil {
		tb.Fatal(err)
	}
	return acc.ID
}
