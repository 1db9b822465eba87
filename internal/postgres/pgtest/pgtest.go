// Package pgtest gives each test its own migrated PostgreSQL database, so
// tests of one package and of different packages can run in parallel.
//
// Main migrates a template database once per test binary; New clones it
// for one test and drops the clone when the test ends.
//
// Each test binary is a run with a random id. It holds a session-level
// advisory lock on that id for as long as it lives, and every database it
// creates carries a comment naming the run. A run drops only databases
// with such a comment whose run no longer holds its lock: PostgreSQL
// releases the lock when the owner's connection ends, whichever machine
// or container it ran in, so a live run's databases are never touched,
// and databases created by anything else are never looked at.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/postgres"
)

// ServerURL is the server tests use, from TEST_DATABASE_URL; its path is ignored.
func ServerURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// lockSpace is the first key of the two-key advisory locks runs hold, so
// they do not collide with the application's own advisory locks.
const lockSpace = 0x70677473 // "pgts"

// marker starts the comment on every database pgtest creates.
const marker = "pgtest run "

var (
	admin    *sql.DB
	lock     *sql.Conn // holds this run's advisory lock while the binary lives
	run      int32
	template string
	counter  atomic.Int64
)

// Main runs the package's tests around a template database. Use it from
// TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := setup(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	code := m.Run()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := drop(ctx, template); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: cleanup:", err)
	}
	_ = lock.Close()
	_ = admin.Close()
	return code
}

func setup(ctx context.Context) error {
	var err error
	admin, err = sql.Open("postgres", ServerURL())
	if err != nil {
		return err
	}
	if lock, err = admin.Conn(ctx); err != nil {
		return fmt.Errorf("connect (is PostgreSQL running at %s?): %w", ServerURL(), err)
	}
	for {
		run = rand.Int32()
		var ok bool
		if err := lock.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, $2)`, lockSpace, run).Scan(&ok); err != nil {
			return fmt.Errorf("take the run lock: %w", err)
		}
		if ok {
			break
		}
	}
	if err := sweep(ctx); err != nil {
		return err
	}
	template = fmt.Sprintf("pgtest_%d_tpl", run)
	if err := create(ctx, template, ""); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, urlFor(template), discard)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Migrate(ctx)
}

// New returns a fresh migrated database for t, dropped at the end of t.
func New(t testing.TB) *postgres.DB {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, NewURL(t), discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// NewURL creates a fresh migrated database for t and returns its URL, for
// code under test that opens its own connections.
func NewURL(t testing.TB) string {
	t.Helper()
	if template == "" {
		t.Fatal("pgtest: call pgtest.Main from TestMain")
	}
	name := fmt.Sprintf("pgtest_%d_%d", run, counter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := create(ctx, name, template); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := drop(ctx, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return urlFor(name)
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func urlFor(name string) string {
	u, err := url.Parse(ServerURL())
	if err != nil {
		panic(fmt.Sprintf("TEST_DATABASE_URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

// create creates a database, from a template when one is given, and marks
// it as this run's.
func create(ctx context.Context, name, from string) error {
	stmt := `CREATE DATABASE ` + pq.QuoteIdentifier(name)
	if from != "" {
		stmt += ` TEMPLATE ` + pq.QuoteIdentifier(from)
	}
	if _, err := admin.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	comment := pq.QuoteLiteral(marker + strconv.FormatInt(int64(run), 10))
	if _, err := admin.ExecContext(ctx, `COMMENT ON DATABASE `+pq.QuoteIdentifier(name)+` IS `+comment); err != nil {
		return fmt.Errorf("mark %s: %w", name, err)
	}
	return nil
}

func drop(ctx context.Context, name string) error {
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(name)+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	return nil
}

// sweep drops the databases of runs that ended without cleaning up: those
// marked by pgtest whose run's lock is free. Taking that lock while
// dropping keeps two sweeping runs from racing.
func sweep(ctx context.Context) error {
	rows, err := admin.QueryContext(ctx, `SELECT datname, shobj_description(oid, 'pg_database')
		FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE $1
		ORDER BY datname LIKE '%\_tpl', datname`, marker+"%") // clones before their template
	if err != nil {
		return fmt.Errorf("list test databases: %w", err)
	}
	owners := map[string]int32{}
	var names []string
	for rows.Next() {
		var name, comment string
		if err := rows.Scan(&name, &comment); err != nil {
			return err
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(comment, marker), 10, 32)
		if err != nil {
			continue // not a comment pgtest wrote
		}
		owners[name] = int32(id)
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	conn, err := admin.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, name := range names {
		owner := owners[name]
		var free bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, $2)`, lockSpace, owner).Scan(&free); err != nil {
			return fmt.Errorf("check run %d: %w", owner, err)
		}
		if !free {
			continue // its run is alive
		}
		err := drop(ctx, name)
		if _, uerr := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1, $2)`, lockSpace, owner); err == nil {
			err = uerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
