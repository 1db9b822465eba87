// Package redistest gives each test its own Redis database on a
// redis-server that the test binary starts for itself, so that test
// binaries share nothing with each other, with a developer's Redis or with
// another checkout's tests.
//
// The server starts on the first call to New, on a free loopback port,
// without persistence, and is stopped by Stop (call it from TestMain after
// the tests ran). It is also started with a parent-death signal, so a test
// binary that is killed takes its server with it.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// databases is how many databases the server has: as many tests of one
// binary can hold one at a time; the others wait for a free one.
const databases = 64

// startTimeout bounds how long the server may take to answer PING.
const startTimeout = 15 * time.Second

// Binary is the redis-server executable, from TEST_REDIS_SERVER.
func Binary() string {
	if v := os.Getenv("TEST_REDIS_SERVER"); v != "" {
		return v
	}
	return "redis-server"
}

// DB is a database reserved for one test.
type DB struct {
	Client *redis.Client
	URL    string // redis://host:port/n, for code that dials itself
	N      int
}

var (
	mu     sync.Mutex
	srv    *server
	srvErr error
	free   chan int // database numbers not in use
)

// New reserves a database for t, flushed, and releases it when t ends.
func New(t testing.TB) *DB {
	t.Helper()
	s, err := start()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	var n int
	select {
	case n = <-free:
	case <-time.After(2 * time.Minute):
		t.Fatal("redistest: no free Redis database within 2 minutes")
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr, DB: n})
	release := func() {
		_ = c.FlushDB(context.Background()).Err()
		_ = c.Close()
		free <- n
	}
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		release()
		t.Fatalf("redistest: flush db %d on %s: %v", n, s.addr, err)
	}
	t.Cleanup(release)
	return &DB{Client: c, URL: fmt.Sprintf("redis://%s/%d", s.addr, n), N: n}
}

// Stop stops the server, if one was started. Call it from TestMain once
// the tests have run.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if srv != nil {
		srv.stop()
		srv = nil
	}
}

func start() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if srv != nil || srvErr != nil {
		return srv, srvErr
	}
	// A port found free can be taken before redis-server binds it; the
	// server then exits at once and another port is tried.
	for range 5 {
		srv, srvErr = launch("--databases", strconv.Itoa(databases))
		if srvErr == nil || !errors.Is(srvErr, errExited) {
			break
		}
	}
	if srvErr == nil {
		free = make(chan int, databases)
		for n := range databases {
			free <- n
		}
	}
	return srv, srvErr
}

var errExited = errors.New("redis-server exited")

type server struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  *bytes.Buffer
}

func launch(extra ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	s := &server{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{}), log: new(bytes.Buffer)}
	s.cmd = exec.Command(Binary(), append([]string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", ""}, extra...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Pdeathsig fires when the thread that started the child exits, so start
	// it from a thread that lives as long as the process.
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread stays for the child's life
		if err := s.cmd.Start(); err != nil {
			started <- fmt.Errorf("start %s (is it installed? set TEST_REDIS_SERVER): %w", Binary(), err)
			return
		}
		started <- nil
		_ = s.cmd.Wait()
		_ = os.RemoveAll(dir)
		close(s.done)
	}()
	if err := <-started; err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.ready(); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// ready waits for the server to answer PING, or to exit.
func (s *server) ready() error {
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%w on %s: %s", errExited, s.addr, bytes.TrimSpace(s.log.Bytes()))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s did not answer PING within %s: %v", s.addr, startTimeout, err)
		}
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
