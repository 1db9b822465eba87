package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/muster-dev/muster/internal/postgres"
	"github.com/muster-dev/muster/internal/postgres/pgtest"
)

// On the Generic pool PostgreSQL plans the claim and the outcome once for
// any ids, from statistics taken while almost nothing was owed. That plan
// still reads the primary key, not the partial index of unsent rows, which
// would read every owed row of an import at each claim once an import was
// queued.
func TestGenericPlansReadThePrimaryKey(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	g := db.Generic(1)
	defer g.Close()
	var mode string
	if err := g.GetContext(ctx, &mode, `SHOW plan_cache_mode`); err != nil || mode != "force_generic_plan" {
		t.Fatalf("plan_cache_mode on the Generic pool: %q, %v", mode, err)
	}
	if err := db.GetContext(ctx, &mode, `SHOW plan_cache_mode`); err != nil || mode != "auto" {
		t.Fatalf("plan_cache_mode on the main pool: %q, %v", mode, err)
	}
	// 3,000 sent emails and 2 owed ones, analyzed.
	for _, q := range []string{
		`INSERT INTO clients (name) VALUES ('C')`,
		`INSERT INTO accounts (client_id, name) SELECT id, 'A' FROM clients`,
		`INSERT INTO contractors (email) SELECT 'c' || g || '@plan.test' FROM generate_series(1, 3002) g`,
		`INSERT INTO memberships (account_id, contractor_id, status, email) SELECT a.id, c.id, 'invited', c.email FROM accounts a, contractors c`,
		`INSERT INTO invitations (membership_id, kind, locale, status) SELECT id, 'invite', 'ru', CASE WHEN id > 3000 THEN 'queued' ELSE 'sent' END FROM memberships`,
		`ANALYZE`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn, err := g.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, st := range []struct{ name, prepare, execute string }{
		{"claim", `PREPARE claim(bigint[], float8) AS ` + postgres.ClaimSQL, `EXECUTE claim('{1,2}', 20)`},
		{"outcome", `PREPARE outcome(bigint[], int[], text[], text[], text[], timestamptz[], timestamptz[], bool[]) AS ` + postgres.OutcomesSQL,
			`EXECUTE outcome('{1,2}', '{1,1}', '{sent,sent}', '{a,b}', '{"",""}', '{2026-01-01,2026-01-01}', '{2026-01-01,2026-01-01}', '{f,f}')`},
	} {
		if _, err := conn.ExecContext(ctx, st.prepare); err != nil {
			t.Fatal(err)
		}
		var lines []string
		if err := conn.SelectContext(ctx, &lines, `EXPLAIN `+st.execute); err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if !strings.Contains(plan, "invitations_pkey") || strings.Contains(plan, "invitations_unsent_idx") {
			t.Errorf("the generic plan of the %s:\n%s", st.name, plan)
		}
	}
}
