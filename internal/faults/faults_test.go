package faults

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The short form (the default, run by `go test ./...` and CI) runs each
// scenario with the fixed seed 1 and, where the scenario draws random kill
// points, with one random seed too. FAULTS=full runs every scenario
// fullRuns times with random seeds and bigger loads. FAULTS_SEED=N runs
// every scenario once with seed N, to replay a failure.
const (
	fixedSeed = 1
	fullRuns  = 4
	// recoveryTarget is the promise: each recovery under this after the
	// fault clears.
	recoveryTarget = 30 * time.Second
)

var (
	full    = os.Getenv("FAULTS") == "full"
	results struct {
		sync.Mutex
		rows []result
	}
)

type result struct {
	scenario string
	seed     uint64
	tally
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "muster-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	suite.dir = dir
	suite.bin = filepath.Join(dir, "muster")
	build := exec.Command("go", "build", "-o", suite.bin, "github.com/muster-dev/muster/cmd/muster")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "faults: build muster: %v\n%s", err, out)
		return 1
	}
	release, err := reservePorts()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer release()
	pgDir := filepath.Join(dir, "pg")
	if err := os.Mkdir(pgDir, 0o750); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	if suite.pg, err = newPG(pgDir, pgPort); err != nil {
		fmt.Fprintln(os.Stderr, "faults: PostgreSQL:", err)
		return 1
	}
	defer suite.pg.stop() //nolint:errcheck // the directory goes next
	code := m.Run()
	report(os.Stdout)
	if path := os.Getenv("FAULTS_REPORT"); path != "" {
		if f, err := os.Create(path); err == nil {
			report(f)
			f.Close()
		}
	}
	return code
}

// seeds are the seeds a scenario runs with; random scenarios get a random
// one besides the fixed one.
func seeds(random bool) []uint64 {
	if s := os.Getenv("FAULTS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			panic("FAULTS_SEED: " + err.Error())
		}
		return []uint64{n}
	}
	if full {
		out := make([]uint64, fullRuns)
		for i := range out {
			out[i] = rand.Uint64() % 1_000_000
		}
		return out
	}
	if random {
		return []uint64{fixedSeed, rand.Uint64() % 1_000_000}
	}
	return []uint64{fixedSeed}
}

// scenario runs fn once per seed and records what each run counted. A
// lost or doubled email or row fails the test.
func scenario(t *testing.T, name string, random bool, fn func(t *testing.T, rng *rand.Rand) tally) {
	for _, seed := range seeds(random) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("%s: seed %d (replay with FAULTS_SEED=%d go test ./internal/faults -run '%s')", name, seed, seed, t.Name())
			got := fn(t, rand.New(rand.NewPCG(seed, seed)))
			results.Lock()
			results.rows = append(results.rows, result{scenario: name, seed: seed, tally: got})
			results.Unlock()
			t.Logf("%s: lost %d, sent twice %d (and %d in the window), recovery %s (%s)", name, got.lost, got.twice, got.window, got.recovery.Round(100*time.Millisecond), got.detail)
			if got.lost > 0 || got.twice > 0 {
				t.Errorf("%s, seed %d: %d lost, %d sent twice (%s)", name, seed, got.lost, got.twice, got.detail)
			}
		})
	}
}

// report prints the table the README carries: per scenario, the runs, what
// was lost and sent twice in all, and the slowest recovery.
func report(w io.Writer) {
	results.Lock()
	defer results.Unlock()
	if len(results.rows) == 0 {
		return
	}
	type agg struct {
		runs, lost, twice, window int
		slowest                   time.Duration
		seeds                     []string
		stuck, noFault            bool
	}
	var order []string
	by := map[string]*agg{}
	for _, r := range results.rows {
		a := by[r.scenario]
		if a == nil {
			a = &agg{}
			by[r.scenario] = a
			order = append(order, r.scenario)
		}
		a.runs++
		a.lost += r.lost
		a.twice += r.twice
		a.window += r.window
		a.seeds = append(a.seeds, strconv.FormatUint(r.seed, 10))
		if r.recovery < 0 {
			a.stuck = true
		}
		a.slowest = max(a.slowest, r.recovery)
		a.noFault = r.noFault
	}
	form := "short"
	if full {
		form = "full"
	}
	fmt.Fprintf(w, "\nFault suite (%s form):\n\n", form)
	fmt.Fprintln(w, "| scenario | runs | lost | sent twice | sent again in the window | recovery s (slowest) | seeds |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, name := range order {
		a := by[name]
		rec := fmt.Sprintf("%.1f", a.slowest.Seconds())
		switch {
		case a.stuck:
			rec = "not settled in " + settleTimeout.String()
		case a.noFault:
			rec = "no fault (all done in " + rec + " s)"
		case a.slowest > recoveryTarget:
			rec += " (over " + recoveryTarget.String() + ")"
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %s | %s |\n", name, a.runs, a.lost, a.twice, a.window, rec, strings.Join(a.seeds, ", "))
	}
	fmt.Fprintln(w)
}

// pick returns a duration in [lo, hi) drawn from rng.
func pick(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// size is n in the short form and n×f in the full form.
func size(n, f int) int {
	if full {
		return n * f
	}
	return n
}

// importedRows counts an import's rows that are done: memberships of the
// account, and failed rows recorded.
func importedRows(account, importID int64) string {
	return fmt.Sprintf(`SELECT (SELECT count(*) FROM memberships WHERE account_id = %d) + (SELECT count(*) FROM import_errors WHERE import_id = %d)`, account, importID)
}

// world starts a Redis server, a fresh environment on it, and the web and
// scheduler roles; the scenario starts its workers.
func world(t *testing.T, vars ...string) (*env, *redisServer) {
	t.Helper()
	r := startRedis(t, t.TempDir(), redisPort)
	e := newEnv(t, redisURL(r.addr()), vars...)
	e.start("web")
	e.start("scheduler")
	return e, r
}

func membersOf(account int64) string {
	return fmt.Sprintf(`SELECT count(*) FROM memberships WHERE account_id = %d`, account)
}

// until polls cond every 10 ms, for at most settleTimeout.
func until(t *testing.T, cond func() bool) {
	t.Helper()
	if err := waitFor(settleTimeout, func() error {
		if cond() {
			return nil
		}
		return errors.New("condition not met")
	}); err != nil {
		t.Fatal(err)
	}
}

// killWhen kills worker w once cond holds and starts another in its place.
func (e *env) killWhen(w *proc, cond func() bool) *proc {
	e.t.Helper()
	until(e.t, cond)
	w.kill()
	return e.start("worker")
}

// sent is a condition: the SMTP server holds at least n messages.
func (e *env) sent(n int) func() bool {
	return func() bool { return len(e.smtp.Messages()) >= n }
}

// waitSent blocks until the SMTP server holds n messages.
func (e *env) waitSent(n int) {
	e.t.Helper()
	e.smtp.Wait(e.t, n, settleTimeout)
}

func redisURL(addr string) string { return "redis://" + addr + "/0" }

func TestKillWorkerDuringImport(t *testing.T) {
	scenario(t, "kill -9 of the worker during an import", true, func(t *testing.T, rng *rand.Rand) tally {
		e, _ := world(t)
		_, acc := e.client("Kill import", "owner@kill-import.example")
		rows, kills := size(1000, 20), size(2, 3)
		e.upload(acc, "imp", rows)
		w := e.start("worker")
		// The first kill lands while rows are written, the others while the
		// import's emails go out.
		first := rows * (1 + rng.IntN(8)) / 10
		w = e.killWhen(w, func() bool { return e.count(membersOf(acc)) >= first })
		for i := 1; i < kills; i++ {
			w = e.killWhen(w, e.sent(rows*(i*10+rng.IntN(10))/(kills*10)))
		}
		return e.settle(time.Now(), rows, rows, membersOf(acc))
	})
}

func TestKillWorkerDuringSends(t *testing.T) {
	scenario(t, "kill -9 of the worker during sends", true, func(t *testing.T, rng *rand.Rand) tally {
		e, _ := world(t)
		_, acc := e.client("Kill sends", "owner@kill-sends.example")
		n := e.invite(acc, "single", size(300, 3))
		w := e.start("worker")
		kills := size(2, 2)
		for i := range kills {
			w = e.killWhen(w, e.sent(n*(i*10+1+rng.IntN(9))/(kills*10)))
		}
		return e.settle(time.Now(), n, n, membersOf(acc))
	})
}

func TestSigtermHandsBack(t *testing.T) {
	scenario(t, "SIGTERM to the worker running an import, a second worker ready", false, func(t *testing.T, _ *rand.Rand) tally {
		e, _ := world(t, "SHUTDOWN_TIMEOUT=200ms")
		a := e.start("worker")
		_, acc := e.client("Hand back", "owner@hand-back.example")
		// Every 30th row is a contractor: an import long enough to be
		// stopped half way, with few enough emails to count soon after.
		rows, good := size(30000, 2), 30
		id := e.uploadMixed(acc, "back", rows, good)
		if err := waitFor(settleTimeout, func() error {
			if e.count(`SELECT checkpoint_line FROM imports WHERE id = $1`, id) > 0 {
				return nil
			}
			return fmt.Errorf("import %d has not started", id)
		}); err != nil {
			t.Fatal(err)
		}
		b := e.start("worker")
		stopped := time.Now()
		if err := a.term(30 * time.Second); err != nil {
			t.Error(err)
		}
		// Recovery here is the hand-back: from the SIGTERM until the second
		// worker has finished the import. Its emails are counted after.
		until(t, func() bool { return e.count(`SELECT count(*) FROM imports WHERE id = $1 AND status = 'done'`, id) == 1 })
		handback := time.Since(stopped)
		done := importedRows(acc, id)
		got := e.settle(stopped, rows, rows/good, done)
		if got.recovery >= 0 {
			got.recovery = handback
		}
		if !logHas(b.log, "import done") {
			t.Errorf("the second worker did not finish the import; the first did, or nobody:\n%s", tail(a.log))
		}
		// The stopped worker waits for its import handler, which releases
		// the import and logs its end, before it closes PostgreSQL.
		if !logHas(a.log, "task=import:workbook") {
			t.Errorf("the stopped worker exited before its import handler returned:\n%s", tail(a.log))
		}
		if logHas(a.log, "database is closed") {
			t.Errorf("the stopped worker used PostgreSQL after closing it:\n%s", tail(a.log))
		}
		return got
	})
}

func TestRedisEmptyDuringSends(t *testing.T) {
	scenario(t, "Redis restarted empty during sends", false, func(t *testing.T, _ *rand.Rand) tally {
		e, r := world(t)
		_, acc := e.client("Redis empty", "owner@redis-empty.example")
		n := e.invite(acc, "single", size(300, 5))
		// 40 emails a second: most are still owed when the fault comes.
		e.start("worker", "SMTP_RATE=40")
		e.waitSent(n / 4)
		r.restartEmpty(t)
		return e.settle(time.Now(), n, n, membersOf(acc))
	})
}

func TestRedisEmptyDuringImport(t *testing.T) {
	scenario(t, "Redis restarted empty during an import", false, func(t *testing.T, _ *rand.Rand) tally {
		e, r := world(t)
		e.start("worker")
		_, acc := e.client("Redis empty import", "owner@redis-empty-import.example")
		rows := size(1000, 20)
		e.upload(acc, "imp", rows)
		e.waitSent(rows / 10)
		r.restartEmpty(t)
		return e.settle(time.Now(), rows, rows, membersOf(acc))
	})
}

// pgOutageFor is how long the PostgreSQL scenarios keep it stopped.
const pgOutageFor = 20 * time.Second

// pgOutage stops the suite's PostgreSQL for d and starts it again.
func pgOutage(t *testing.T, d time.Duration) {
	t.Helper()
	if err := suite.pg.stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	if err := suite.pg.start(); err != nil {
		t.Fatal(err)
	}
}

// TestRedisEmptyAfterReminderSweep waits for the scheduler's reminder
// sweep (it runs every minute), so it belongs to the full form.
func TestRedisEmptyAfterReminderSweep(t *testing.T) {
	if !full {
		t.Skip("full form only (FAULTS=full): it waits up to a minute for the reminder sweep")
	}
	scenario(t, "Redis restarted empty after a reminder sweep", false, func(t *testing.T, _ *rand.Rand) tally {
		e, r := world(t, "REMINDER_SCHEDULE=1s", "REMINDER_RATE=20")
		e.start("worker")
		_, acc := e.client("Reminders", "owner@reminders.example")
		n := e.invite(acc, "single", size(100, 2))
		e.waitSent(n)
		// The sweep records a reminder per contractor and spreads their
		// sends at 20 a second: Redis loses most of them.
		until(t, func() bool {
			return e.count(`SELECT count(*) FROM invitations WHERE kind = 'reminder'`) >= n
		})
		r.restartEmpty(t)
		return e.settle(time.Now(), n, 2*n, membersOf(acc))
	})
}

func TestPostgresStopped(t *testing.T) {
	outage := pgOutageFor
	scenario(t, "PostgreSQL stopped 20 s during sends", false, func(t *testing.T, _ *rand.Rand) tally {
		e, _ := world(t)
		_, acc := e.client("PG outage", "owner@pg-outage.example")
		n := e.invite(acc, "single", size(300, 3))
		e.start("worker", "SMTP_RATE=40")
		e.waitSent(n / 4)
		pgOutage(t, outage)
		return e.settle(time.Now(), n, n, membersOf(acc))
	})
}

func TestPostgresStoppedDuringImport(t *testing.T) {
	scenario(t, "PostgreSQL stopped 20 s during an import", false, func(t *testing.T, _ *rand.Rand) tally {
		e, _ := world(t)
		_, acc := e.client("PG outage import", "owner@pg-outage-import.example")
		// A long file with few emails: every 20th row is a contractor, the
		// others fail, so the outage comes while rows are being written.
		rows, good := size(40000, 2), 20
		id := e.uploadMixed(acc, "imp", rows, good)
		e.start("worker")
		until(t, func() bool { return e.count(`SELECT checkpoint_line FROM imports WHERE id = $1`, id) > 0 })
		pgOutage(t, pgOutageFor)
		emails := rows / good
		done := importedRows(acc, id)
		return e.settle(time.Now(), rows, emails, done)
	})
}

func TestSMTPFaults(t *testing.T) {
	cases := []struct {
		slug, name string
		inject     func(e *env)
		failed     int // emails refused for good, recorded as failed
	}{
		{"451", "SMTP answers 451 30×", func(e *env) { e.smtp.FailNext(30, 451, "try again later") }, 0},
		{"550", "SMTP answers 550 5×", func(e *env) { e.smtp.FailNext(5, 550, "no such user") }, 5},
		{"drop", "SMTP drops 10 connections after DATA", func(e *env) { e.smtp.DropNext(10, 0) }, 0},
		{"hang", "SMTP hangs 5 s after DATA 3×, then drops", func(e *env) { e.smtp.DropNext(3, 5*time.Second) }, 0},
	}
	for _, c := range cases {
		t.Run(c.slug, func(t *testing.T) { smtpFault(t, c.name, c.inject, c.failed) })
	}
}

func smtpFault(t *testing.T, name string, inject func(e *env), failed int) {
	scenario(t, name, false, func(t *testing.T, _ *rand.Rand) tally {
		e, _ := world(t)
		e.start("worker")
		_, acc := e.client("SMTP", "owner@smtp.example")
		inject(e)
		n := e.invite(acc, "single", size(100, 3))
		if err := waitFor(settleTimeout, func() error {
			if left, _ := e.smtp.Faults(); left > 0 {
				return fmt.Errorf("%d faults still to inject", left)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		_, cleared := e.smtp.Faults()
		got := e.settle(cleared, n, n, membersOf(acc))
		if n := e.count(`SELECT count(*) FROM invitations WHERE status = 'failed'`); n != failed {
			t.Errorf("%d invitations failed, want %d", n, failed)
		}
		return got
	})
}

func TestTwoWorkersTwoSchedulers(t *testing.T) {
	scenario(t, "two workers and two schedulers: an import and single invitations", false, func(t *testing.T, _ *rand.Rand) tally {
		e, _ := world(t, "REQUEUE_AFTER=5s")
		for range 2 {
			e.start("worker")
		}
		e.start("scheduler") // the second
		_, acc := e.client("Two of each", "owner@two.example")
		start := time.Now()
		rows := size(1000, 20)
		e.upload(acc, "imp", rows)
		n := e.invite(acc, "single", size(100, 5))
		got := e.settle(start, rows+n, rows+n, membersOf(acc))
		got.noFault = true
		return got
	})
}

func TestMergeKilled(t *testing.T) {
	scenario(t, "kill -9 of the worker during a merge", full, func(t *testing.T, rng *rand.Rand) tally {
		e, _ := world(t)
		w := e.start("worker")
		target, tacc := e.client("Target", "owner@target.example")
		source, sacc := e.client("Source", "owner@source.example")
		n := e.invite(tacc, "t", 20) + e.invite(sacc, "s", 20)
		e.waitSent(n)
		if err := e.api("POST", "/v1/merges", map[string]any{"target_client_id": target, "source_client_ids": []int64{source}}, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(pick(rng, 0, 150*time.Millisecond))
		w.kill()
		e.start("worker")
		done := fmt.Sprintf(`SELECT (SELECT count(*) FROM accounts WHERE client_id = %d) + (SELECT count(*) FROM merges WHERE status = 'done')`, target)
		return e.settle(time.Now(), 3, n, done)
	})
}
