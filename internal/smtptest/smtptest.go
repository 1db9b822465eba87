// Package smtptest runs a real SMTP server on 127.0.0.1 inside the test
// process (on github.com/emersion/go-smtp) and keeps what it receives,
// decoded: subject, plain-text and HTML parts. It can refuse messages and
// recipients on demand, to test retries and failures.
package smtptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	mustermail "github.com/muster-dev/muster/mail"
)

// Message is one accepted email.
type Message struct {
	From      string
	To        []string
	Raw       []byte
	Header    mail.Header
	Subject   string
	MessageID string
	Text      string
	HTML      string
	At        time.Time
}

// Server is a running SMTP server.
type Server struct {
	Addr string // host:port
	srv  *smtp.Server

	mu       sync.Mutex
	msgs     []*Message
	fail     int // refuse this many more DATA commands
	failWith *smtp.SMTPError
	drop     int           // drop this many more connections after DATA
	stall    time.Duration // how long to stall before dropping them
	faulted  time.Time     // the last refusal or drop
	conns    int
	open     map[*smtp.Conn]bool
	changed  chan struct{}
	user     string
	pass     string
	hang     int                        // hold this many more DATA commands until the server closes
	hung     int                        // DATA commands held now
	closed   chan struct{}              // closed when the server stops
	refuse   map[string]*smtp.SMTPError // RCPT refusals by address
}

// Option configures a Server.
type Option func(*Server)

// WithTLS offers STARTTLS with the given configuration.
func WithTLS(cfg *tls.Config) Option { return func(s *Server) { s.srv.TLSConfig = cfg } }

// WithAuth requires AUTH PLAIN with these credentials.
func WithAuth(user, pass string) Option { return func(s *Server) { s.user, s.pass = user, pass } }

// Start listens on a free loopback port; the server stops when t ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{changed: make(chan struct{}), closed: make(chan struct{}), open: map[*smtp.Conn]bool{}, refuse: map[string]*smtp.SMTPError{}}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.ErrorLog = quiet{}
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go s.srv.Serve(ln) //nolint:errcheck // returns on Close
	t.Cleanup(func() { close(s.closed); s.srv.Close() })
	return s
}

// URL is an SMTP_URL for this server without TLS.
func (s *Server) URL() string { return "smtp://" + s.Addr + "?tls=none" }

// FailNext makes the server refuse the next n messages with code (e.g. 451
// for a temporary failure, 550 for a permanent one).
func (s *Server) FailNext(n, code int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = n
	s.failWith = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: text}
}

// RefuseRecipient makes the server refuse RCPT TO:<addr> with code (e.g.
// 550 for an unknown mailbox), for as long as it runs.
func (s *Server) RefuseRecipient(addr string, code int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse[addr] = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: text}
}

// DropNext makes the server read the next n messages and then close the
// connection without answering, after stalling for stall (0: at once). The
// messages are not kept: a server that never said 250 did not take them.
func (s *Server) DropNext(n int, stall time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop, s.stall = n, stall
}

// Faults returns how many refusals and drops are still to come, and when
// the last one happened.
func (s *Server) Faults() (left int, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail + s.drop, s.faulted
}

// CloseConns closes every connection from the server's side, as a server
// does with connections idle too long.
func (s *Server) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.open {
		c.Close()
		delete(s.open, c)
	}
}

// HangNext makes the server stop answering at the next n messages' DATA,
// as a hung relay does, until the test ends.
func (s *Server) HangNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = n
}

// WaitHung blocks until the server holds n messages hung (see HangNext),
// failing t after timeout.
func (s *Server) WaitHung(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, ch := s.hung, s.changed
		s.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("smtptest: %d messages hung, want %d within %s", got, n, timeout)
		}
	}
}

// Messages returns what the server accepted so far.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.msgs...)
}

// Conns returns how many connections the server has accepted.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Wait blocks until the server holds at least n messages, failing t after timeout.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []*Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, ch := len(s.msgs), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("smtptest: got %d messages, want %d within %s", got, n, timeout)
		}
	}
}

// Changed returns a channel closed at the next accepted message.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Server) accept(m *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) refusal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		s.attempted()
		return s.failWith
	}
	return nil
}

// dropping reports whether to drop this connection, and after how long.
func (s *Server) dropping() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drop == 0 {
		return 0, false
	}
	s.drop--
	s.attempted()
	return s.stall, true
}

// attempted wakes waiters on refused messages too; the lock is held.
func (s *Server) attempted() {
	s.faulted = time.Now()
	close(s.changed)
	s.changed = make(chan struct{})
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	b.s.conns++
	b.s.open[c] = true
	b.s.mu.Unlock()
	return &session{s: b.s, conn: c, authed: b.s.user == ""}, nil
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (se *session) AuthMechanisms() []string {
	if se.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != se.s.user || pass != se.s.pass {
			return errors.New("invalid credentials")
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.s.mu.Lock()
	refusal := se.s.refuse[to]
	if refusal != nil {
		se.s.attempted()
	}
	se.s.mu.Unlock()
	if refusal != nil {
		return refusal
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if stall, drop := se.s.dropping(); drop {
		time.Sleep(stall)
		se.conn.Close()
		return errors.New("connection dropped")
	}
	se.s.mu.Lock()
	hang := se.s.hang > 0
	if hang {
		se.s.hang--
	}
	se.s.mu.Unlock()
	if hang {
		se.s.mu.Lock()
		se.s.hung++
		se.s.attempted()
		se.s.mu.Unlock()
		<-se.s.closed
		return errors.New("server stopped")
	}
	if err := se.s.refusal(); err != nil {
		return err
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparsable message: " + err.Error()}
	}
	m.From, m.To, m.At = se.from, se.to, time.Now()
	se.s.accept(m)
	return nil
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }

// parse decodes headers and the text/plain and text/html parts.
func parse(raw []byte) (*Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	m := &Message{Raw: raw, Header: msg.Header, Subject: subject, MessageID: msg.Header.Get("Message-Id")}
	if m.Text, m.HTML, err = mustermail.DecodeParts(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return nil, err
	}
	return m, nil
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
func (quiet) Println(...any)        {}
