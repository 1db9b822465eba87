// Package bench measures the email pipeline end to end, as `muster bench`
// runs it: real worker and web processes (the muster binary itself), a
// PostgreSQL database of its own, a Redis database it empties, and SMTP
// sinks on loopback, one that answers at once and one that takes 50 ms per
// message like a real relay. Each scenario prints the median and range of
// several runs and its ratio to a baseline measured in the same run.
package bench

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/postgres"
	"github.com/muster-dev/muster/jobs"
)

// Options say where the bench runs.
type Options struct {
	DatabaseURL string // a PostgreSQL server; the bench creates and drops a database of its own
	RedisURL    string // a Redis database the bench may empty
	Exe         string // the muster binary, started as worker and web processes
	Runs        int    // runs per scenario; medians and ranges are over them
	Quick       bool   // smaller imports, for a first look
	Only        []int  // the scenarios to run (1–5; 6 comes with 1); none: all
	Port        int    // the first of the ports the bench listens on (sinks, API)
	Out         io.Writer
}

// sizes are the scenario sizes, full and quick.
type sizes struct {
	importRows, burst, scaleRows, bigImport, loadSeconds int
}

func (o Options) sizes() sizes {
	if o.Quick {
		return sizes{importRows: 5_000, burst: 1_000, scaleRows: 2_000, bigImport: 20_000, loadSeconds: 3}
	}
	return sizes{importRows: 20_000, burst: 2_000, scaleRows: 4_000, bigImport: 100_000, loadSeconds: 10}
}

// env is what one run shares: the database, Redis, the sinks.
type env struct {
	o       Options
	dbURL   string
	db      *postgres.DB
	rc      redis.UniversalClient
	queue   *jobs.Enqueuer
	fast    *sink
	slow    *sink
	clients int
}

// Run runs every scenario o.Runs times and prints the table.
func Run(ctx context.Context, o Options) error {
	if o.Runs <= 0 {
		o.Runs = 3
	}
	e, err := setup(ctx, o)
	if err != nil {
		return err
	}
	defer e.close()
	var rows []row
	scenarios := []struct {
		name string
		fn   func(context.Context) ([]row, error)
	}{
		{"import emails vs a bare go-mail loop", e.importVsLoop},
		{"interactive sends vs asynq with one INSERT per task", e.interactive},
		{"worker processes on the 50 ms sink", e.scaleOut},
		{"a small import during a large one", e.fairness},
		{"API latency during a large import", e.apiLatency},
	}
	for i, sc := range scenarios {
		if len(o.Only) > 0 && !slices.Contains(o.Only, i+1) {
			continue
		}
		fmt.Fprintf(o.Out, "# %s…\n", sc.name)
		rs, err := sc.fn(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		rows = append(rows, rs...)
	}
	fmt.Fprintf(o.Out, "\n| Scenario | Muster, median (range) | Baseline, median (range) | Ratio, median | Target |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintln(o.Out, r.String())
	}
	return nil
}

func setup(ctx context.Context, o Options) (*env, error) {
	u, err := url.Parse(o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	u.Path = "/muster_bench_" + strconv.Itoa(os.Getpid())
	e := &env{o: o, dbURL: u.String()}
	if err := postgres.EnsureDatabase(ctx, e.dbURL); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if e.db, err = postgres.Open(ctx, e.dbURL, log); err != nil {
		return nil, err
	}
	if err := e.db.Migrate(ctx); err != nil {
		e.close()
		return nil, err
	}
	if e.rc, err = jobs.NewRedis(o.RedisURL); err != nil {
		e.close()
		return nil, err
	}
	e.queue = jobs.NewEnqueuer(asynq.NewClientFromRedisClient(e.rc), 10)
	if e.fast, err = startSink(fmt.Sprintf("127.0.0.1:%d", o.Port), 0); err != nil {
		e.close()
		return nil, err
	}
	if e.slow, err = startSink(fmt.Sprintf("127.0.0.1:%d", o.Port+1), 50*time.Millisecond); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	if e.fast != nil {
		e.fast.close()
	}
	if e.slow != nil {
		e.slow.close()
	}
	if e.rc != nil {
		e.rc.Close()
	}
	if e.db != nil {
		e.db.Close()
	}
	if e.dbURL != "" {
		u, _ := url.Parse(e.dbURL)
		name := strings.TrimPrefix(u.Path, "/")
		u.Path = "/postgres"
		if db, err := sql.Open("postgres", u.String()); err == nil {
			db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`) //nolint:errcheck // best effort
			db.Close()
		}
	}
}

// fresh empties the queues between runs and cancels what an earlier run
// left unsent, so that each run measures its own emails.
func (e *env) fresh(ctx context.Context) error {
	if _, err := e.db.ExecContext(ctx, `UPDATE invitations SET status = 'cancelled' WHERE status IN ('queued', 'sending', 'retrying')`); err != nil {
		return err
	}
	if _, err := e.db.ExecContext(ctx, `UPDATE imports SET status = 'done' WHERE status IN ('queued', 'running')`); err != nil {
		return err
	}
	e.fast.reset()
	e.slow.reset()
	return e.rc.FlushDB(ctx).Err()
}

// proc is a muster process the bench started.
type proc struct {
	cmd *exec.Cmd
}

// start runs `muster role` against the bench's database, Redis and sink.
func (e *env) start(role string, s *sink, extra ...string) (*proc, error) {
	cmd := exec.Command(e.o.Exe, role)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+e.dbURL, "REDIS_URL="+e.o.RedisURL, "SMTP_URL="+s.url(),
		"SECRET_KEY=bench-secret-bench-secret-bench-secret", "LOG_LEVEL=error",
		"MAIL_FROM=Muster <no-reply@muster.bench>", "METRICS_ADDR=")
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start muster %s: %w", role, err)
	}
	return &proc{cmd: cmd}, nil
}

// stop ends the process and returns its peak RSS in bytes.
func (p *proc) stop() int64 {
	peak := peakRSS(p.cmd.Process.Pid)
	p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }() //nolint:errcheck // its status does not matter here
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill() //nolint:errcheck
		<-done
	}
	return peak
}

// peakRSS reads VmHWM from /proc.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// client creates a dashboard whose contractors' emails end in domain.
func (e *env) client(ctx context.Context) (*muster.Account, error) {
	e.clients++
	_, a, err := e.db.CreateClient(ctx, muster.ClientDraft{
		Name: fmt.Sprintf("Client %d", e.clients), OwnerEmail: fmt.Sprintf("owner%d@owners.bench", e.clients),
		OwnerLocale: muster.Russian, AccountName: fmt.Sprintf("Account %d", e.clients),
	})
	return a, err
}

// importRows stores a CSV of n contractors at domain and queues its import.
func (e *env) importRows(ctx context.Context, account int64, domain string, n int) error {
	var b strings.Builder
	b.WriteString("Email,ФИО\n")
	for i := range n {
		fmt.Fprintf(&b, "c%d@%s,Анна Петрова %d\n", i, domain, i)
	}
	data := b.String()
	im, _, err := e.db.CreateImport(ctx, muster.Upload{
		AccountID: account, FileName: domain + ".csv", Format: "csv", Size: int64(len(data)),
		SHA256: fmt.Sprintf("%x", sha256.Sum256([]byte(data))),
	}, strings.NewReader(data))
	if err != nil {
		return err
	}
	return e.queue.Import(ctx, im.ID)
}

// row is one line of the table.
type row struct {
	name, unit     string
	muster, base   []float64
	ratio          []float64
	target         string
	higherIsBetter bool
}

func (r row) String() string {
	f := func(xs []float64) string {
		if len(xs) == 0 {
			return "—"
		}
		s := slices.Sorted(slices.Values(xs))
		return fmt.Sprintf("%s %s (%s–%s)", num(median(s)), r.unit, num(s[0]), num(s[len(s)-1]))
	}
	ratio := "—"
	if len(r.ratio) > 0 {
		ratio = fmt.Sprintf("%.2f×", median(slices.Sorted(slices.Values(r.ratio))))
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s |", r.name, f(r.muster), f(r.base), ratio, r.target)
}

func median(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func num(x float64) string {
	switch {
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}
