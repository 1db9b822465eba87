package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/postgres"
	"github.com/muster-dev/muster/internal/postgres/pgtest"
	"github.com/muster-dev/muster/jobs"
	"github.com/muster-dev/muster/mail"
)

// proxy is a TCP proxy on loopback in front of PostgreSQL that a test can
// cut (every connection dropped, new ones refused) and restore: an outage
// without stopping the shared server.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.Cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *proxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }() //nolint:errcheck // ends with either side
	io.Copy(c, up)                             //nolint:errcheck
	c.Close()
}

// Cut drops every connection and refuses new ones until Restore.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// cutAfterSend hands messages to real SMTP and cuts PostgreSQL off right
// after the server accepted the first one: the moment an outcome is owed.
type cutAfterSend struct {
	mail.Sender
	proxy *proxy
	once  sync.Once
	cut   chan struct{}
}

func (c *cutAfterSend) Send(ctx context.Context, m *mail.Message) error {
	err := c.Sender.Send(ctx, m)
	if err == nil {
		c.once.Do(func() { c.proxy.Cut(); close(c.cut) })
	}
	return err
}

// senderBehindProxy is the bundle's sender with its PostgreSQL behind a
// proxy that is cut once the first email is accepted.
func senderBehindProxy(t *testing.T, b *testBundle, dbURL string) (*jobs.Sender, *cutAfterSend) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	db, err := postgres.Open(context.Background(), u.String(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cut := &cutAfterSend{Sender: b.sender.Mail, proxy: p, cut: make(chan struct{})}
	s := *b.sender
	s.Store, s.Mail = db, cut
	return &s, cut
}

// PostgreSQL goes away right after the SMTP server accepted an email and
// comes back: the outcome is written late, and nothing is sent twice.
func TestNoDuplicateWhenPostgresBlinks(t *testing.T) {
	t.Parallel()
	url := pgtest.NewURL(t)
	b := setup(t, options{dbURL: url})
	s, cut := senderBehindProxy(t, b, url)
	res := b.invite(t, "blink@example.test", "")
	go func() {
		<-cut.cut
		time.Sleep(time.Second) // the outage
		cut.proxy.Restore()
	}()
	if err := s.Process(context.Background(), jobs.SendArgs{InvitationID: res.Invitation.ID}); err != nil {
		t.Fatal(err)
	}
	inv := b.waitStatus(t, res.Invitation.ID, muster.SendSent)
	if n := len(b.smtp.Messages()); n != 1 || inv.Attempts != 1 {
		t.Fatalf("%d emails, %d attempts; want 1 and 1", n, inv.Attempts)
	}
}

// PostgreSQL stays away past the outcome window (a worker that died would
// do the same): the lease runs out, and the next claimer finds the Redis
// record and records the email sent instead of sending it again.
func TestNextClaimerFindsEmailSentDuringOutage(t *testing.T) {
	t.Parallel()
	url := pgtest.NewURL(t)
	b := setup(t, options{dbURL: url})
	s, cut := senderBehindProxy(t, b, url)
	s.OutcomeWindow = 300 * time.Millisecond
	res := b.invite(t, "outage@example.test", "")
	// SMTP took the email: the task is done, and its outcome is written
	// behind it, until the window ends.
	if err := s.Process(context.Background(), jobs.SendArgs{InvitationID: res.Invitation.ID}); err != nil {
		t.Fatal(err)
	}
	b.deps.Settled()
	if inv, err := b.db.FindInvitation(context.Background(), res.Invitation.ID); err != nil || inv.Status != muster.SendSending {
		t.Fatalf("invitation %+v (%v): the outcome was written with PostgreSQL cut off", inv, err)
	}
	cut.proxy.Restore()
	if _, err := b.db.Exec(`UPDATE invitations SET claimed_until = now() - interval '1 second' WHERE id = $1`, res.Invitation.ID); err != nil {
		t.Fatal(err) // the lease runs out
	}
	if err := b.process(context.Background(), jobs.SendArgs{InvitationID: res.Invitation.ID}); err != nil {
		t.Fatal(err)
	}
	inv := b.waitStatus(t, res.Invitation.ID, muster.SendSent)
	msgs := b.smtp.Messages()
	if len(msgs) != 1 || "<"+inv.MessageID+">" != msgs[0].MessageID {
		t.Fatalf("%d emails (want 1), recorded as %q", len(msgs), inv.MessageID)
	}
	// The record is dropped off the send path, just after the outcome.
	key := "muster:sent:" + strconv.FormatInt(res.Invitation.ID, 10)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n, err := b.redis.Client.Exists(context.Background(), key).Result()
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Redis record outlived the outcome by 5 s: %d %v", n, err)
		}
	}
}

// A send's task ends once SMTP took the email, and its outcome is written
// behind it: a worker told to stop then waits for that write. Here
// PostgreSQL is away when the email is accepted and back a moment later,
// while the worker stops.
func TestStoppingWorkerWaitsForOutcomesWrittenBehind(t *testing.T) {
	t.Parallel()
	url := pgtest.NewURL(t)
	b := setup(t, options{dbURL: url})
	s, cut := senderBehindProxy(t, b, url)
	b.sender.Store, b.sender.Mail = s.Store, s.Mail // the worker's sender
	stop := b.startWorker(t)
	res := b.invite(t, "behind@example.test", "")
	if err := b.queue.Send(context.Background(), res.Invitation.ID); err != nil {
		t.Fatal(err)
	}
	<-cut.cut
	go func() {
		time.Sleep(500 * time.Millisecond)
		cut.proxy.Restore()
	}()
	stop()
	inv, err := b.db.FindInvitation(context.Background(), res.Invitation.ID)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != muster.SendSent || len(b.smtp.Messages()) != 1 {
		t.Fatalf("after the worker stopped: invitation %s, %d emails; want sent, 1", inv.Status, len(b.smtp.Messages()))
	}
}
