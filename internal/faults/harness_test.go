package faults

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/smtptest"
)

// Ports: everything the suite starts listens in a block of portSpan ports
// that TestMain reserves (18300-18330 when it is free), so that two runs
// on one machine do not meet.
var (
	pgPort       int
	redisPort    int // the single server; a replica or a second server takes the next
	sentinelPort int // three sentinels: +0 to +2
	clusterPort  int // three masters: +0 to +2
	webPort      int
)

// portSpan is the size of the suite's block of ports.
const portSpan = 31

// usePorts lays the suite's servers out from base.
func usePorts(base int) {
	pgPort, redisPort, sentinelPort, clusterPort, webPort = base, base+1, base+3, base+10, base+20
}

const (
	secretKey     = "faults-suite-secret-key-0123456789abcdef"
	readyTimeout  = 30 * time.Second
	settleTimeout = 180 * time.Second
)

// suite is what every scenario shares: the muster binary, built once, and
// the PostgreSQL cluster, in which each scenario gets its own database.
var suite struct {
	dir string
	bin string
	pg  *pgCluster
}

// pgCluster is a PostgreSQL cluster of our own, so that it can be stopped
// and started without touching anyone else's. The postmaster is our child
// and dies with the suite.
type pgCluster struct {
	bin, dir, data string
	port           int
	cred           *syscall.Credential // the postgres user's, when we are root (initdb refuses root)
	cmd            *exec.Cmd
	done           chan struct{}
}

func newPG(dir string, port int) (*pgCluster, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return nil, errors.New("no PostgreSQL server binaries under /usr/lib/postgresql")
	}
	sort.Strings(bins)
	p := &pgCluster{bin: filepath.Dir(bins[len(bins)-1]), dir: dir, data: filepath.Join(dir, "data"), port: port}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	initdb := p.command("initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	return p, p.start()
}

func (p *pgCluster) command(tool string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, tool), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

// start runs the postmaster and waits until it takes connections.
func (p *pgCluster) start() error {
	log, err := os.OpenFile(filepath.Join(p.dir, "log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	p.cmd = p.command("postgres", "-D", p.data, "-p", strconv.Itoa(p.port), "-k", p.dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300")
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("postgres: %w", err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); log.Close(); close(p.done) }() //nolint:errcheck // stopped on purpose
	return waitFor(readyTimeout, func() error {
		db, err := sql.Open("postgres", p.url("postgres"))
		if err != nil {
			return err
		}
		defer db.Close()
		return db.Ping()
	})
}

// stop shuts the cluster down at once (fast shutdown: connections are cut,
// as in an outage) and waits for it to go.
func (p *pgCluster) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(readyTimeout):
		return errors.New("PostgreSQL did not stop")
	}
}

func (p *pgCluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// redisServer is one redis-server (or sentinel) child process. It keeps
// nothing on disk, so a restart comes back empty.
type redisServer struct {
	port int
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func startRedis(t *testing.T, dir string, port int, extra ...string) *redisServer {
	t.Helper()
	rdir := filepath.Join(dir, "redis-"+strconv.Itoa(port))
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &redisServer{port: port, log: filepath.Join(rdir, "log"),
		args: append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", rdir}, extra...)}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.kill)
	return r
}

func (r *redisServer) start() error {
	f, err := os.OpenFile(r.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	r.cmd = exec.Command("redis-server", r.args...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r.cmd.Stdout, r.cmd.Stderr = f, f
	if err := r.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("redis-server on %d: %w", r.port, err)
	}
	r.done = make(chan struct{})
	go func() { r.cmd.Wait(); f.Close(); close(r.done) }() //nolint:errcheck // killed on purpose
	return waitFor(readyTimeout, func() error {
		c := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1})
		defer c.Close()
		return c.Ping(context.Background()).Err()
	})
}

// kill stops the server at once, losing everything it held.
func (r *redisServer) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Kill() //nolint:errcheck // may have exited
	<-r.done
}

// restartEmpty kills the server and starts it again, with nothing in it.
func (r *redisServer) restartEmpty(t *testing.T) {
	t.Helper()
	r.kill()
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// waitFor retries fn until it succeeds or timeout passes.
func waitFor(timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proc is one muster role running as a child process.
type proc struct {
	role   string
	cmd    *exec.Cmd
	done   chan struct{}
	log    string
	killed time.Time // when kill sent SIGKILL
}

// env is one scenario's world: a fresh database, Redis, SMTP server and
// the muster processes running against them.
type env struct {
	t        *testing.T
	dir      string
	dbName   string
	db       *sql.DB
	redisURL string
	smtp     *smtptest.Server
	vars     []string // extra environment for every process
	token    string
	account  int64

	mu    sync.Mutex
	procs []*proc
	n     int
}

func newEnv(t *testing.T, redisURL string, vars ...string) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), redisURL: redisURL, smtp: smtptest.Start(t), vars: vars}
	e.dbName = "faults_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, strings.ToLower(t.Name()))
	admin, err := sql.Open("postgres", suite.pg.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + e.dbName); err != nil {
		t.Fatal(err)
	}
	if e.db, err = sql.Open("postgres", suite.pg.url(e.dbName)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	t.Cleanup(e.stopAll)
	if out, err := e.command("migrate"); err != nil {
		t.Fatalf("muster migrate: %v\n%s", err, out)
	}
	out, err := e.command("token", "create", "--staff", "--name", "faults")
	if err != nil {
		t.Fatalf("muster token create: %v\n%s", err, out)
	}
	e.token = strings.TrimSpace(string(out))
	return e
}

// environ is the processes' environment.
func (e *env) environ(extra ...string) []string {
	vars := append(os.Environ(),
		"DATABASE_URL="+suite.pg.url(e.dbName),
		"REDIS_URL="+e.redisURL,
		"SMTP_URL="+e.smtp.URL(),
		"SECRET_KEY="+secretKey,
		"HTTP_ADDR=127.0.0.1:"+strconv.Itoa(webPort),
		"REMINDER_SCHEDULE=none",
		"LOG_LEVEL=info",
	)
	vars = append(vars, e.vars...)
	return append(vars, extra...)
}

func (e *env) command(args ...string) ([]byte, error) {
	cmd := exec.Command(suite.bin, args...)
	cmd.Env = e.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return append(out.Bytes(), errb.Bytes()...), err
	}
	return out.Bytes(), nil
}

// start runs a role; extra variables apply to it alone.
func (e *env) start(role string, extra ...string) *proc {
	e.t.Helper()
	e.mu.Lock()
	e.n++
	p := &proc{role: role, log: filepath.Join(e.dir, fmt.Sprintf("%02d-%s.log", e.n, role)), done: make(chan struct{})}
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	f, err := os.Create(p.log)
	if err != nil {
		e.t.Fatal(err)
	}
	p.cmd = exec.Command(suite.bin, role)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Env = e.environ(extra...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		e.t.Fatalf("start %s: %v", role, err)
	}
	go func() { p.cmd.Wait(); f.Close(); close(p.done) }() //nolint:errcheck // the exit is checked by whoever stops it
	if role == "web" {
		if err := waitFor(readyTimeout, func() error {
			select {
			case <-p.done:
				return nil
			default:
			}
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", webPort))
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		}); err != nil {
			e.t.Fatalf("web not ready: %v\n%s", err, tail(p.log))
		}
		if p.exited() {
			e.t.Fatalf("web exited at start:\n%s", tail(p.log))
		}
	}
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill() {
	p.killed = time.Now()
	p.cmd.Process.Kill() //nolint:errcheck // may have exited
	<-p.done
}

// term sends SIGTERM and waits up to limit for a clean exit.
func (p *proc) term(limit time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // may have exited
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("%s exited with %d", p.role, code)
		}
		return nil
	case <-time.After(limit):
		p.kill()
		return fmt.Errorf("%s still running %s after SIGTERM", p.role, limit)
	}
}

func (e *env) stopAll() {
	e.mu.Lock()
	procs := e.procs
	e.mu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			p.kill()
		}
	}
	if e.t.Failed() || os.Getenv("FAULTS_LOGS") != "" {
		for _, p := range procs {
			e.t.Logf("--- %s (%s):\n%s", p.role, filepath.Base(p.log), tail(p.log))
		}
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// logHas reports whether a process's whole log holds s: a tail can miss
// a line written before a burst of retries.
func logHas(path, s string) bool {
	b, _ := os.ReadFile(path)
	return strings.Contains(string(b), s)
}

// api calls the admin API with the staff token and decodes a 2xx answer
// into out.
func (e *env) api(method, path string, body any, out any) error {
	var r io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case *multipartBody:
		r, ctype = b.buf, b.ctype
	default:
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", webPort, path), r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", ctype)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

type multipartBody struct {
	buf   *bytes.Buffer
	ctype string
}

// client creates a dashboard and returns its first account.
func (e *env) client(name, owner string) (clientID, accountID int64) {
	e.t.Helper()
	var out struct {
		Client  struct{ ID int64 } `json:"client"`
		Account struct{ ID int64 } `json:"account"`
	}
	if err := e.api("POST", "/v1/clients", map[string]string{"name": name, "owner_email": owner}, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.Client.ID, out.Account.ID
}

// invite invites n contractors to account, one request each, and returns
// how many the API accepted.
func (e *env) invite(account int64, prefix string, n int) int {
	e.t.Helper()
	ok := 0
	for i := range n {
		err := e.api("POST", fmt.Sprintf("/v1/accounts/%d/invitations", account),
			map[string]string{"email": fmt.Sprintf("%s%d@example.com", prefix, i), "full_name": fmt.Sprintf("Contractor %d", i)}, nil)
		if err != nil {
			e.t.Logf("invite %d: %v", i, err)
			continue
		}
		ok++
	}
	return ok
}

// upload imports a CSV of n contractors into account and returns the import.
func (e *env) upload(account int64, prefix string, n int) int64 {
	return e.uploadMixed(account, prefix, n, 1)
}

// uploadMixed imports a CSV of n rows of which every good-th has a valid
// email and the others fail (a long import with few emails).
func (e *env) uploadMixed(account int64, prefix string, n, good int) int64 {
	e.t.Helper()
	var csv bytes.Buffer
	csv.WriteString("email,full_name\n")
	for i := range n {
		at := "@example.com"
		if i%good != 0 {
			at = "-at-example.com"
		}
		fmt.Fprintf(&csv, "%s%d%s,Contractor %d\n", prefix, i, at, i)
	}
	buf := new(bytes.Buffer)
	w := multipart.NewWriter(buf)
	part, err := w.CreateFormFile("file", prefix+".csv")
	if err != nil {
		e.t.Fatal(err)
	}
	part.Write(csv.Bytes()) //nolint:errcheck // a buffer
	w.Close()
	var out struct{ ID int64 }
	if err := e.api("POST", fmt.Sprintf("/v1/accounts/%d/imports", account), &multipartBody{buf, w.FormDataContentType()}, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.ID
}

// count runs a counting query; an error (PostgreSQL down) reads as -1.
func (e *env) count(query string, args ...any) int {
	var n int
	if err := e.db.QueryRow(query, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

// tally is what a scenario ended with.
type tally struct {
	lost, twice int
	// window counts emails sent again after a worker was killed within
	// windowSpan of the SMTP server accepting them: the documented window
	// (accepted, not yet recorded), which no sender can close. They carry
	// the same Message-ID, which receivers use to drop them.
	window   int
	recovery time.Duration // -1: not settled
	noFault  bool          // recovery is then the time the whole load took
	detail   string
}

// settle waits until every expected row is in PostgreSQL and every email
// PostgreSQL owes has reached the SMTP server once (or was refused for
// good and recorded so), then counts. Recovery is measured from cleared.
func (e *env) settle(cleared time.Time, rows, emails int, rowsQuery string) tally {
	e.t.Helper()
	deadline := time.After(settleTimeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var got counts
	for {
		got = e.counts(rowsQuery)
		if got.rows >= rows && got.accounted() >= emails && got.accounted() >= got.invitations && got.invitations >= 0 {
			break
		}
		select {
		case <-e.smtp.Changed():
		case <-tick.C:
		case <-deadline:
			e.t.Logf("not settled after %s: %+v, want %d rows and %d emails", settleTimeout, got, rows, emails)
			return got.tally(rows, emails, -1)
		}
	}
	rec := time.Since(cleared)
	// A duplicate would come late: give in-flight work a moment to show it.
	time.Sleep(time.Second)
	return e.counts(rowsQuery).tally(rows, emails, rec)
}

type counts struct {
	rows, invitations, failed int
	received, distinct        int // messages at the SMTP server, distinct Message-IDs
	window                    int // copies sent again after a kill in the window
	missing                   int // invitations neither received nor failed
}

func (c counts) accounted() int { return c.distinct + c.failed }

func (c counts) tally(rows, emails int, rec time.Duration) tally {
	owed := max(emails, c.invitations)
	lost := max(rows-c.rows, 0) + max(owed-c.accounted(), 0)
	return tally{lost: lost, twice: c.received - c.distinct - c.window, window: c.window, recovery: rec,
		detail: fmt.Sprintf("rows %d/%d, emails %d received (%d distinct, %d again after a kill in the window), %d failed, %d invitations",
			c.rows, rows, c.received, c.distinct, c.window, c.failed, c.invitations)}
}

func (e *env) counts(rowsQuery string) counts {
	c := counts{rows: e.count(rowsQuery), invitations: e.count(`SELECT count(*) FROM invitations`),
		failed: e.count(`SELECT count(*) FROM invitations WHERE status = 'failed'`)}
	first := map[string]time.Time{}
	var again []*smtptest.Message
	for _, m := range e.smtp.Messages() {
		c.received++
		if _, ok := first[m.MessageID]; ok {
			again = append(again, m)
			continue
		}
		first[m.MessageID] = m.At
	}
	c.distinct = len(first)
	for _, m := range again {
		if e.killedWithin(first[m.MessageID]) {
			c.window++
		}
	}
	return c
}

// windowSpan bounds the documented window: from the SMTP server's 250 to
// the sender's record of it, a few milliseconds; a second is generous.
const windowSpan = time.Second

// killedWithin reports whether a worker was killed within windowSpan of
// at, before or after: a message the server accepted just after the kill
// was sent whole by a sender that died waiting for the 250, which is the
// same window (the kill points aim at one acceptance, and the worker's
// other connections accept theirs a moment later).
func (e *env) killedWithin(at time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.procs {
		if !p.killed.IsZero() && p.killed.Sub(at).Abs() <= windowSpan {
			return true
		}
	}
	return false
}

// freePort tells whether nothing listens on port, so a scenario can start
// its servers there.
func freePort(port int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// reservePorts finds a block of free ports for the suite, from 18300 up in
// steps of 1000, and holds it with an exclusive lock on a file named after
// it, so that a second run started at the same moment takes another block.
// release drops the lock.
func reservePorts() (release func(), err error) {
	for base := 18300; base < 30000; base += 1000 {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("muster-faults-ports-%d.lock", base)), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("reserve ports: %w", err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue
		}
		free := true
		for port := base; port < base+portSpan && free; port++ {
			free = freePort(port)
		}
		if !free {
			f.Close()
			continue
		}
		usePorts(base)
		return func() { f.Close() }, nil
	}
	return nil, errors.New("no block of free loopback ports between 18300 and 30000")
}
