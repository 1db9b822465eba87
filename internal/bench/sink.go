package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is an SMTP server on loopback that accepts everything after delay
// (a relay's latency), counts messages by recipient domain and Message-ID,
// and wakes waiters.
type sink struct {
	srv   *smtp.Server
	addr  string
	delay time.Duration

	mu      sync.Mutex
	total   int
	byDom   map[string]int
	firsts  map[string]time.Time // when the first message to each domain came
	ids     map[string]int
	changed chan struct{}
	busy    int // messages being taken now
	peak    int // the most taken at once
}

func startSink(addr string, delay time.Duration) (*sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &sink{addr: ln.Addr().String(), delay: delay, changed: make(chan struct{})}
	s.reset()
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.ErrorLog = quiet{}
	go s.srv.Serve(ln) //nolint:errcheck // returns on Close
	return s, nil
}

func (s *sink) url() string { return "smtp://" + s.addr + "?tls=none" }

func (s *sink) close() { s.srv.Close() }

func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total, s.byDom, s.firsts, s.ids = 0, map[string]int{}, map[string]time.Time{}, map[string]int{}
}

// duplicates counts Message-IDs accepted more than once.
func (s *sink) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, c := range s.ids {
		if id != "" && c > 1 {
			n += c - 1
		}
	}
	return n
}

// first is when the first message to domain came (zero if none did).
func (s *sink) first(domain string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firsts[domain]
}

// wait blocks until the sink holds n messages to domain ("" for any), or
// until timeout; it returns when that happened.
func (s *sink) wait(ctx context.Context, domain string, n int, timeout time.Duration) (time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, ch := s.total, s.changed
		if domain != "" {
			got = s.byDom[domain]
		}
		s.mu.Unlock()
		if got >= n {
			return time.Now(), nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-deadline.C:
			return time.Time{}, errors.New("timed out waiting for emails at the sink")
		}
	}
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }

type session struct {
	s  *sink
	to string
}

func (se *session) AuthMechanisms() []string                  { return nil }
func (se *session) Mail(string, *smtp.MailOptions) error      { return nil }
func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error { se.to = to; return nil }
func (se *session) Reset()                                    {}
func (se *session) Logout() error                             { return nil }
func (se *session) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, m.Body); err != nil {
		return err
	}
	se.s.mu.Lock()
	se.s.busy++
	se.s.peak = max(se.s.peak, se.s.busy)
	se.s.mu.Unlock()
	if se.s.delay > 0 {
		time.Sleep(se.s.delay)
	}
	_, dom, _ := strings.Cut(se.to, "@")
	se.s.mu.Lock()
	se.s.busy--
	se.s.total++
	se.s.byDom[dom]++
	if se.s.byDom[dom] == 1 {
		se.s.firsts[dom] = time.Now()
	}
	se.s.ids[m.Header.Get("Message-Id")]++
	close(se.s.changed)
	se.s.changed = make(chan struct{})
	se.s.mu.Unlock()
	return nil
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
func (quiet) Println(...any)        {}
