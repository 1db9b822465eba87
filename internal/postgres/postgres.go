// Package postgres is Muster's source of truth: the schema, its migrations,
// and every query, on sqlx and lib/pq.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the database handle every store method hangs off.
type DB struct {
	*sqlx.DB
	log     *slog.Logger
	conn    driver.Connector // for Pool
	generic driver.Connector // for Generic
	stmts   stmtCache
	// Now is the clock for rows written by Go code; tests may replace it.
	Now func() time.Time
}

// Open connects to PostgreSQL and checks the connection.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*DB, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL %s: %w", redact(dsn), err)
	}
	// One round trip a statement instead of two: parse, bind and execute
	// go out together. It sends []byte arguments in binary, so JSON goes
	// to jsonb columns as text (a string), never as []byte.
	cfg.BinaryParameters = true
	conn, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	cfg.Runtime = maps.Clone(cfg.Runtime)
	if cfg.Runtime == nil {
		cfg.Runtime = map[string]string{}
	}
	cfg.Runtime["plan_cache_mode"] = "force_generic_plan"
	generic, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := pool(conn, 20)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database %s: %w", redact(dsn), err)
	}
	return &DB{DB: db, log: log, Now: time.Now, conn: conn, generic: generic}, nil
}

// Pool is another handle on db's database with a pool of its own of at
// most n connections: work given it can keep at most n of PostgreSQL's
// backends busy, whatever else the process does. Close it on its own.
func (db *DB) Pool(n int) *DB {
	return db.on(db.conn, n)
}

// on is a handle like db's with a pool of n connections from conn.
func (db *DB) on(conn driver.Connector, n int) *DB {
	return &DB{DB: pool(conn, n), log: db.log, Now: db.Now, conn: db.conn, generic: db.generic}
}

// Generic is another handle with a pool of its own of at most n
// connections, on which PostgreSQL plans a statement once, whatever its
// arguments (plan_cache_mode = force_generic_plan), instead of at each
// call. It is for single sends' claims and outcomes, hundreds a second:
// PostgreSQL chose to plan the claim at every call, which cost it nearly
// three times the claim's running time (0.37 ms against 0.13), and the
// plan to use is the same for any few ids. Their status tests keep such
// a plan on the primary key (see claimInvitations). Close it on its own.
func (db *DB) Generic(n int) *DB {
	return db.on(db.generic, n)
}

// stmtCache holds a DB's prepared statements, one per query text.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

// prepared returns query prepared on db, preparing it on first use.
// The send path's statements run hundreds of times a second, and
// planning them took as much of PostgreSQL's time as running them
// (pg_stat_statements). Prepared, they are parsed once per connection,
// and planned once on a Generic pool (elsewhere PostgreSQL decides).
// database/sql prepares a statement again on each connection that needs
// it, after a reconnect too.
func (db *DB) prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	c := &db.stmts
	c.mu.Lock()
	st := c.m[query]
	c.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := db.PreparexContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if first := c.m[query]; first != nil { // prepared meanwhile by another call
		st.Close()
		return first, nil
	}
	if c.m == nil {
		c.m = map[string]*sqlx.Stmt{}
	}
	c.m[query] = st
	return st, nil
}

func pool(conn driver.Connector, n int) *sqlx.DB {
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	// As many kept idle as may be open: a burst above the idle count would
	// otherwise close connections after use and open new ones (a fork on
	// the server each) for the next burst, which is what an API's tail
	// latency is made of. Idle ones close after five minutes.
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db
}

// EnsureDatabase creates the database named in dsn when it does not exist,
// connecting to the server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("parse database URL: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return errors.New("database URL names no database")
	}
	admin := *u
	admin.Path = "/postgres"
	db, err := sql.Open("postgres", admin.String())
	if err != nil {
		return fmt.Errorf("open maintenance database: %w", err)
	}
	defer db.Close()
	var exists bool
	err = db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(admin.String()), err)
	}
	if exists {
		return nil
	}
	_, err = db.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name))
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42P04" { // created meanwhile by another process
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// Migrate applies every pending migration. A session advisory lock keeps
// two processes that start together from migrating at once.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.migrator()
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		db.log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// MigrationsPending reports whether the schema is behind the binary.
func (db *DB) MigrationsPending(ctx context.Context) (bool, error) {
	p, err := db.migrator()
	if err != nil {
		return false, err
	}
	return p.HasPending(ctx)
}

func (db *DB) migrator() (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db.DB.DB, mustSub(migrations, "migrations"),
		// Out of order stays off: migrations are append-only and numbered
		// without gaps (TestMigrationsAreAppendOnly), so a migration older
		// than the schema is a mistake to stop at, not to apply.
		goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Transact runs fn in a transaction, committing when fn returns nil.
func (db *DB) Transact(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// redact hides the password of a connection URL for logs and errors.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// isUnique reports whether err is a unique violation of the named constraint
// (any unique constraint when name is empty).
func isUnique(err error, name string) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23505" && (name == "" || pqErr.Constraint == name)
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is a constant embedded at build time
	}
	return sub
}

// query runs a prepared query into dest (a slice), as SelectContext does.
func (db *DB) query(ctx context.Context, dest any, query string, args ...any) error {
	st, err := db.prepared(ctx, query)
	if err != nil {
		return err
	}
	return st.SelectContext(ctx, dest, args...)
}

// exec runs a prepared statement, as ExecContext does.
func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := db.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}
