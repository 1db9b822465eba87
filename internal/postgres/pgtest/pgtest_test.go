package pgtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/lib/pq"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestSweepDropsOnlyDeadRunsDatabases: a marked database of a run that
// holds its lock stays, one whose run let go of it is dropped, and an
// unmarked one is never touched, whatever its name.
func TestSweepDropsOnlyDeadRunsDatabases(t *testing.T) {
	ctx := context.Background()
	other := run ^ 1 // another run, alive while its connection holds the lock
	holder, err := admin.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock($1, $2)`, lockSpace, other); err != nil {
		t.Fatal(err)
	}
	// Named after this run, so that two runs of this test share nothing.
	names := map[string]string{
		"alive":    fmt.Sprintf("pgtest_%d_sweep_alive", run),
		"unmarked": fmt.Sprintf("pgtest_%d_sweep_unmarked", run),
	}
	for _, n := range names {
		if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(n)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(n)) })
	}
	if _, err := admin.ExecContext(ctx, `COMMENT ON DATABASE `+pq.QuoteIdentifier(names["alive"])+` IS `+pq.QuoteLiteral(marker+strconv.Itoa(int(other)))); err != nil {
		t.Fatal(err)
	}
	exists := func(name string) bool {
		var ok bool
		if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if !exists(names["alive"]) || !exists(names["unmarked"]) || !exists(template) {
		t.Fatal("the sweep dropped a database of a live run, or one pgtest did not mark")
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock($1, $2)`, lockSpace, other); err != nil { // the run ends
		t.Fatal(err)
	}
	if err := sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if exists(names["alive"]) {
		t.Error("the sweep left the database of a run that ended")
	}
	if !exists(names["unmarked"]) || !exists(template) {
		t.Error("the sweep dropped an unmarked database, or this run's own")
	}
}
