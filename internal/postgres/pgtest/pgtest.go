// Package pgtest gives each test its own migrated PostgreSQL database, so
// tests of one package and of different packages can run in parallel.
//
// Main migrates a template database once per test binary; New clones it
// for one test and drops the clone when the test ends. Databases are named
// after the process id, and ones left by a killed run are dropped on the
// next start.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
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

var (
	template string
	counter  atomic.Int64
)

// Main runs the package's tests around a template database. Use it from
// TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	template = fmt.Sprintf("muster_tpl_%d", os.Getpid())
	err := setup(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	code := m.Run()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dropAll(ctx, func(name string) bool { return pidOf(name) == strconv.Itoa(os.Getpid()) }); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: cleanup:", err)
	}
	return code
}

func setup(ctx context.Context) error {
	if err := dropAll(ctx, func(name string) bool { return !alive(pidOf(name)) }); err != nil {
		return err
	}
	if err := exec(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(template)); err != nil {
		return fmt.Errorf("create template: %w", err)
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
	name := fmt.Sprintf("muster_t_%d_%d", os.Getpid(), counter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name)+` TEMPLATE `+pq.QuoteIdentifier(template)); err != nil {
		t.Fatalf("pgtest: create %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, `DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(name)+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
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

func exec(ctx context.Context, stmt string) error {
	db, err := sql.Open("postgres", ServerURL())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// dropAll drops the test databases whose names match.
func dropAll(ctx context.Context, match func(name string) bool) error {
	db, err := sql.Open("postgres", ServerURL())
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'muster\_t\_%' OR datname LIKE 'muster\_tpl\_%'
		ORDER BY datname COLLATE "C"`) // clones (muster_t_) sort before templates
	if err != nil {
		return fmt.Errorf("list test databases (is PostgreSQL running at %s?): %w", ServerURL(), err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, n := range names {
		if !match(n) {
			continue
		}
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(n)+` WITH (FORCE)`); err != nil {
			return fmt.Errorf("drop %s: %w", n, err)
		}
	}
	return nil
}

// pidOf extracts the process id from muster_t_<pid>_<n> or muster_tpl_<pid>.
func pidOf(name string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(name, "muster_tpl_"), "muster_t_")
	pid, _, _ := strings.Cut(rest, "_")
	return pid
}

func alive(pid string) bool {
	_, err := os.Stat("/proc/" + pid)
	return err == nil
}
