package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
	"golang.org/x/time/rate"
)

// SMTPOptions tune an SMTP sender.
type SMTPOptions struct {
	From  *mail.Address
	Conns int     // connections kept open; default 4
	Rate  float64 // messages per second; 0 means no cap
	// Timeout bounds connecting, and then each message on a connection
	// (its NOOP check, if any, through the end of DATA); default 10s. A connection
	// that times out is closed and its slot goes to a fresh one.
	Timeout time.Duration
	// TLS overrides the TLS settings (tests trust their own CA this way).
	TLS *tls.Config
	// CheckIdle is how long a pooled connection may sit idle before it is
	// checked with a NOOP before its next message; default 5s. Servers
	// close idle connections after minutes: one in steady use skips the
	// round trip.
	CheckIdle time.Duration
	// NoPipelining sends MAIL, RCPT and DATA one at a time, waiting for
	// each reply, even to a server that offers PIPELINING (benchmarks and
	// tests compare the two).
	NoPipelining bool
}

// SMTP sends over a small pool of reused SMTP connections, so a burst of
// invitations does not pay a TCP, TLS and AUTH handshake per message.
type SMTP struct {
	client  *gomail.Client // configuration and dialling; connections live in idle
	from    *mail.Address
	limiter *rate.Limiter
	timeout time.Duration
	check   time.Duration // SMTPOptions.CheckIdle
	pipe    bool          // pipeline where the server offers it
	slots   chan struct{} // one per connection that may be open
	mu      sync.Mutex
	idle    []idleConn
	closed  bool
}

type idleConn struct {
	c     *smtp.Client
	since time.Time
}

// NewSMTP configures a sender from a URL:
//
//	smtp://[user:pass@]host[:port][?tls=opportunistic|required|none]
//	smtps://[user:pass@]host[:port]   (implicit TLS)
//
// smtp:// uses STARTTLS when the server offers it (tls=opportunistic, the
// default), insists on it with tls=required, and never with tls=none. The
// port defaults to 25 for smtp and 465 for smtps. With a user, the best
// AUTH mechanism the server offers is used.
func NewSMTP(rawURL string, o SMTPOptions) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	if o.Conns <= 0 {
		o.Conns = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.CheckIdle <= 0 {
		o.CheckIdle = 5 * time.Second
	}
	// go-mail checks every connection with a NOOP before each message and
	// again before the RSET it sends after it: three round trips of seven
	// a message. Send checks connections that sat idle instead, and a new
	// MAIL needs no RSET after a delivered message (RFC 5321, 4.1.4). Nor
	// can a failed RSET turn an email the server took into a retry.
	opts := []gomail.Option{gomail.WithTimeout(o.Timeout), gomail.WithoutNoop(), gomail.WithoutRset()}
	port := 25
	switch u.Scheme {
	case "smtps":
		port = 465
		opts = append(opts, gomail.WithSSL())
	case "smtp":
		policy := gomail.TLSOpportunistic
		switch u.Query().Get("tls") {
		case "", "opportunistic":
		case "required":
			policy = gomail.TLSMandatory
		case "none":
			policy = gomail.NoTLS
		default:
			return nil, fmt.Errorf("SMTP_URL: tls=%q is not opportunistic, required or none", u.Query().Get("tls"))
		}
		opts = append(opts, gomail.WithTLSPolicy(policy))
	default:
		return nil, fmt.Errorf("SMTP_URL: scheme %q is not smtp or smtps", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("SMTP_URL: port %q: %w", p, err)
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if o.TLS != nil {
		opts = append(opts, gomail.WithTLSConfig(o.TLS))
	}
	if user := u.User.Username(); user != "" {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(user), gomail.WithPassword(pass))
	}
	c, err := gomail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	s := &SMTP{client: c, from: o.From, limiter: rate.NewLimiter(rate.Inf, 1), timeout: o.Timeout, check: o.CheckIdle, pipe: !o.NoPipelining, slots: make(chan struct{}, o.Conns)}
	if o.Rate > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	return s, nil
}

// Send delivers one message on a pooled connection. A pooled connection the
// server dropped while it sat idle is replaced, transparently.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	msg, err := build(s.from, m)
	if err != nil {
		return err
	}
	return s.send(ctx, msg)
}

func (s *SMTP) send(ctx context.Context, msg *gomail.Msg) error {
	var body []byte
	if s.pipe {
		// Written before a connection is taken, so that the connection is
		// held for the conversation alone. (Against a server that does not
		// pipeline this is wasted: go-mail writes the message itself.)
		buf := bodies.Get().(*bytes.Buffer)
		defer bodies.Put(buf)
		buf.Reset()
		if _, err := msg.WriteTo(buf); err != nil {
			return &sendError{stage: gomail.ErrWriteContent, err: err}
		}
		body = buf.Bytes()
	}
	if err := s.limiter.Wait(ctx); err != nil {
		return err
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		return ctx.Err()
	}
	conn, err := s.conn(ctx)
	if err != nil {
		return err
	}
	// The timeout, not ctx, bounds the transaction: go-mail holds the
	// connection's lock while it waits for a reply, so nothing can close
	// it sooner. A stopping worker waits SMTP_TIMEOUT at most.
	if ok, _ := conn.Extension("PIPELINING"); s.pipe && ok {
		err = s.pipelined(conn, msg, body)
	} else {
		err = s.client.SendWithSMTPClient(conn, msg)
	}
	s.release(conn, err)
	return classify(err)
}

// conn takes the connection used last, or dials one. A connection idle
// longer than CheckIdle is checked first, and replaced if the server dropped it.
func (s *SMTP) conn(ctx context.Context) (*smtp.Client, error) {
	var ic idleConn
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		ic = s.idle[n-1]
		s.idle = s.idle[:n-1]
	}
	s.mu.Unlock()
	if ic.c != nil && time.Since(ic.since) < s.check {
		return ic.c, nil
	}
	if ic.c != nil {
		err := ic.c.UpdateDeadline(s.timeout)
		if err == nil {
			err = ic.c.Noop()
		}
		if err == nil {
			return ic.c, nil
		}
		_ = ic.c.Close()
	}
	return s.dial(ctx)
}

func (s *SMTP) dial(ctx context.Context) (*smtp.Client, error) {
	c, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to SMTP server %s: %w", s.client.ServerAddr(), err)
	}
	return c, nil
}

// release keeps a healthy connection for the next message. After an error
// the connection's state is unclear, except when the server merely refused
// the sender or recipient and the transaction was reset (one closed for
// good is never kept).
func (s *SMTP) release(c *smtp.Client, sendErr error) {
	stage, code, _ := failure(sendErr)
	keep := sendErr == nil || (code > 0 && (stage == gomail.ErrSMTPRcptTo || stage == gomail.ErrSMTPMailFrom))
	keep = keep && c.HasConnection()
	s.mu.Lock()
	if keep && !s.closed {
		s.idle = append(s.idle, idleConn{c, time.Now()})
		c = nil
	}
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// Close says QUIT on every idle connection.
func (s *SMTP) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	var errs []error
	for _, ic := range idle {
		if err := s.client.CloseWithSMTPClient(ic.c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// classify wraps replies that retrying cannot fix: a 5xx refusal of the
// recipient or of the message itself.
func classify(err error) error {
	if stage, code, _ := failure(err); code >= 500 && code < 600 &&
		(stage == gomail.ErrSMTPRcptTo || stage == gomail.ErrSMTPDataClose) {
		return &PermanentError{Err: err}
	}
	return err
}

// Reason names why a send failed, in a few words fit for a metric label:
// the SMTP reply code when the server gave one ("smtp_550"), or the stage
// that failed.
func Reason(err error) string {
	stage, code, smtpErr := failure(err)
	var pe *sendError
	switch {
	case err == nil:
		return ""
	case code > 0:
		return fmt.Sprintf("smtp_%d", code)
	case errors.As(err, &pe) && errors.Is(pe.err, os.ErrDeadlineExceeded):
		return "timeout" // the pipelined path keeps the cause; go-mail's errors do not
	case smtpErr && stage == gomail.ErrConnCheck, errors.As(err, new(net.Error)), pe != nil && errors.As(pe.err, new(net.Error)):
		return "connection"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case IsPermanent(err):
		return "message" // refused before it left: a bad address, a template
	default:
		return "other"
	}
}
