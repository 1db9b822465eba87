package mail_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/locale"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/smtptest"
	"github.com/muster-dev/muster/mail"
)

var from = &netmail.Address{Name: "Muster", Address: "no-reply@muster.test"}

func renderer(t testing.TB) *mail.Renderer {
	t.Helper()
	b, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	r, err := mail.NewRenderer(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func inviteData() mail.Invite {
	return mail.Invite{
		To: mail.To{Name: "Анна", Email: "anna@example.test"}, Client: "ООО Ромашка", Account: "Ромашка Дизайн",
		Feature: "<b>Figma</b> & \"UI\"\nвторая строка", URL: "https://app.test/signup?token=abc", Days: 14,
	}
}

func TestRenderInviteRussianAndEnglish(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	tests := []struct {
		locale   muster.Locale
		subject  string
		greeting string
		expires  string
	}{
		{muster.Russian, "ООО Ромашка приглашает вас в команду «Ромашка Дизайн»", "Здравствуйте, Анна!", "Ссылка действительна 14 дней."},
		{muster.English, "ООО Ромашка invites you to join the team at Ромашка Дизайн", "Hello Анна,", "The link is valid for 14 days."},
	}
	for _, tt := range tests {
		t.Run(string(tt.locale), func(t *testing.T) {
			t.Parallel()
			c, err := r.Render(tt.locale, inviteData())
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != tt.subject {
				t.Errorf("subject = %q, want %q", c.Subject, tt.subject)
			}
			for _, part := range []struct{ name, body string }{{"text", c.Text}, {"html", c.HTML}} {
				for _, want := range []string{tt.greeting, "Ромашка Дизайн", tt.expires, "anna@example.test"} {
					if !strings.Contains(part.body, want) {
						t.Errorf("%s part lacks %q:\n%s", part.name, want, part.body)
					}
				}
			}
			if !strings.Contains(c.Text, "<b>Figma</b> & \"UI\"\nвторая строка") {
				t.Errorf("text part should carry the feature verbatim:\n%s", c.Text)
			}
			if !strings.Contains(c.HTML, "&lt;b&gt;Figma&lt;/b&gt; &amp; &#34;UI&#34;") || strings.Contains(c.HTML, "<b>Figma") {
				t.Errorf("html part must escape the feature:\n%s", c.HTML)
			}
			if !strings.Contains(c.HTML, `href="https://app.test/signup?token=abc"`) {
				t.Errorf("html part lacks the sign-up link:\n%s", c.HTML)
			}
		})
	}
}

func TestRenderEscapesNamesInHTML(t *testing.T) {
	t.Parallel()
	i := inviteData()
	d := mail.Added{To: i.To, Client: i.Client, Account: i.Account, Feature: i.Feature, URL: i.URL}
	d.Name = `<script>alert(1)</script>`
	d.Account = `<img src=x onerror=alert(1)>`
	c, err := renderer(t).Render(muster.Russian, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.HTML, "<script>") || strings.Contains(c.HTML, "<img") {
		t.Fatalf("html part lets markup through:\n%s", c.HTML)
	}
	if !strings.Contains(c.HTML, "&lt;script&gt;") {
		t.Fatalf("html part lost the escaped name:\n%s", c.HTML)
	}
}

func TestRenderNoNameGreetsPolitely(t *testing.T) {
	t.Parallel()
	d := inviteData()
	d.Name = ""
	c, err := renderer(t).Render(muster.Russian, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Text, "Здравствуйте!\n") {
		t.Fatalf("text starts %q", c.Text[:40])
	}
}

func message(t *testing.T, to string) *mail.Message {
	t.Helper()
	c, err := renderer(t).Render(muster.Russian, inviteData())
	if err != nil {
		t.Fatal(err)
	}
	return &mail.Message{To: to, ToName: "Анна", MessageID: "invitation-1@muster.test", Content: *c}
}

func TestSMTPSendsMultipartAndReusesConnections(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s, err := mail.NewSMTP(srv.URL(), mail.SMTPOptions{From: from, Conns: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := s.Send(ctx, message(t, "anna@example.test")); err != nil {
			t.Fatal(err)
		}
	}
	msgs := srv.Wait(t, 3, 5*time.Second)
	if srv.Conns() != 1 {
		t.Errorf("connections = %d, want 1 reused", srv.Conns())
	}
	m := msgs[0]
	if m.Subject != "ООО Ромашка приглашает вас в команду «Ромашка Дизайн»" {
		t.Errorf("subject %q", m.Subject)
	}
	if m.MessageID != "<invitation-1@muster.test>" {
		t.Errorf("Message-ID %q", m.MessageID)
	}
	if !strings.Contains(m.Text, "Здравствуйте, Анна!") || !strings.Contains(m.HTML, "&lt;b&gt;Figma") {
		t.Errorf("parts not decoded as expected:\ntext %q\nhtml %q", m.Text, m.HTML)
	}
	if got := m.Header.Get("From"); !strings.Contains(got, "no-reply@muster.test") {
		t.Errorf("From %q", got)
	}
}

func TestSMTPRefusesHeaderInjection(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s, err := mail.NewSMTP(srv.URL(), mail.SMTPOptions{From: from})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := message(t, "anna@example.test")
	m.ToName = "Anna\r\nBcc: victim@example.test"
	m.Subject = "Hi\r\nBcc: victim@example.test"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	m = message(t, "anna@example.test\r\nBcc: victim@example.test")
	if err := s.Send(context.Background(), m); !mail.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent refusal of the address", err)
	}
	got := srv.Wait(t, 1, 5*time.Second)[0]
	if got.Header.Get("Bcc") != "" || len(got.To) != 1 || strings.Contains(got.Subject, "\n") {
		t.Fatalf("header injected: to %v, subject %q, bcc %q", got.To, got.Subject, got.Header.Get("Bcc"))
	}
}

func TestSMTPClassifiesRefusals(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s, err := mail.NewSMTP(srv.URL(), mail.SMTPOptions{From: from})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv.FailNext(1, 451, "try again later")
	err = s.Send(context.Background(), message(t, "a@example.test"))
	if err == nil || mail.IsPermanent(err) || mail.Reason(err) != "smtp_451" {
		t.Fatalf("451: err = %v (reason %q), want a temporary smtp_451", err, mail.Reason(err))
	}
	srv.FailNext(1, 554, "rejected")
	err = s.Send(context.Background(), message(t, "a@example.test"))
	if !mail.IsPermanent(err) || mail.Reason(err) != "smtp_554" {
		t.Fatalf("554: err = %v (reason %q), want a permanent smtp_554", err, mail.Reason(err))
	}
	if err := s.Send(context.Background(), message(t, "a@example.test")); err != nil {
		t.Fatalf("after refusals: %v", err)
	}
}

func TestSMTPStartTLSAndAuth(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	srv := smtptest.Start(t, smtptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}), smtptest.WithAuth("muster", "s3cret"))
	url := "smtp://muster:s3cret@" + srv.Addr + "?tls=required"
	s, err := mail.NewSMTP(url, mail.SMTPOptions{From: from, TLS: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(context.Background(), message(t, "a@example.test")); err != nil {
		t.Fatal(err)
	}
	srv.Wait(t, 1, 5*time.Second)

	bad, err := mail.NewSMTP("smtp://muster:wrong@"+srv.Addr+"?tls=required", mail.SMTPOptions{From: from, TLS: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Send(context.Background(), message(t, "a@example.test")); err == nil {
		t.Fatal("wrong password accepted")
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestEveryKindRendersInEveryLanguage(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	i := inviteData()
	added := mail.Added{To: i.To, Client: i.Client, Account: i.Account, Feature: i.Feature, URL: i.URL}
	leads := map[mail.Data]map[muster.Locale]string{
		mail.Resend(i):   {muster.Russian: "Отправляем приглашение ещё раз", muster.English: "We are sending your invitation again"},
		mail.Reminder(i): {muster.Russian: "Напоминаем", muster.English: "A reminder"},
		i:                {muster.Russian: "Зарегистрироваться", muster.English: "Sign up"},
		added:            {muster.Russian: "Открыть платформу", muster.English: "Open the platform"},
	}
	subjects := map[string]bool{}
	for data, byLang := range leads {
		kind := data.Template()
		for _, l := range muster.Locales {
			c, err := r.Render(l, data)
			if err != nil {
				t.Fatalf("%s/%s: %v", kind, l, err)
			}
			if c.Subject == "" || subjects[c.Subject] {
				t.Errorf("%s/%s: subject %q is empty or shared with another kind", kind, l, c.Subject)
			}
			subjects[c.Subject] = true
			if !strings.Contains(c.Text, byLang[l]) || !strings.Contains(c.HTML, byLang[l]) {
				t.Errorf("%s/%s: both parts should contain %q", kind, l, byLang[l])
			}
		}
	}
}

func managerData(accounts ...string) mail.Manager {
	return mail.Manager{
		To: mail.To{Name: "Ольга", Email: "olga@example.test"}, Client: "ООО Ромашка", Accounts: accounts, Role: "viewer",
		URL: "https://app.test/managers/accept?token=abc", Days: 7,
	}
}

func TestRenderManagerInvitationListsEveryAccount(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	tests := []struct {
		locale   muster.Locale
		accounts []string
		access   string
	}{
		{muster.Russian, []string{"Дизайн"}, "доступ к 1 аккаунту:"},
		{muster.Russian, []string{"Дизайн", "Маркетинг", "Разработка"}, "доступ к 3 аккаунтам:"},
		{muster.Russian, []string{"a", "b", "c", "d", "e"}, "доступ к 5 аккаунтам:"},
		{muster.English, []string{"Design"}, "access to 1 account:"},
		{muster.English, []string{"Design", "Marketing"}, "access to 2 accounts:"},
	}
	for _, tt := range tests {
		c, err := r.Render(tt.locale, managerData(tt.accounts...))
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range []struct{ name, body string }{{"text", c.Text}, {"html", c.HTML}} {
			for _, want := range append([]string{tt.access, "https://app.test/managers/accept?token=abc"}, tt.accounts...) {
				if !strings.Contains(part.body, want) {
					t.Errorf("%s %d accounts: %s part lacks %q:\n%s", tt.locale, len(tt.accounts), part.name, want, part.body)
				}
			}
		}
	}
	ru, err := r.Render(muster.Russian, managerData("Дизайн"))
	if err != nil {
		t.Fatal(err)
	}
	// The link's 7 days are counted apart from the accounts.
	for _, want := range []string{"«ООО Ромашка» приглашает вас", "наблюдатель", "Ссылка действительна 7 дней.", "Ссылка сработает один раз."} {
		if !strings.Contains(ru.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, ru.Text)
		}
	}
	if ru.Subject != "Приглашение в личный кабинет «ООО Ромашка»" {
		t.Errorf("subject %q", ru.Subject)
	}
}

// A name with quotes, commas or a formula reaches the To header intact; a
// name that cannot be encoded is left out, and the email still goes.
func TestSMTPNamesNeverBreakDelivery(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s, err := mail.NewSMTP(srv.URL(), mail.SMTPOptions{From: from, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	names := map[string]string{ // name given → name in the header
		`ACME "Design, Ltd"`:              `ACME "Design, Ltd"`,
		`=HYPERLINK("http://x.test","a")`: `=HYPERLINK("http://x.test","a")`,
		"Анна <Петрова>, @home":           "Анна <Петрова>, @home",
		"bad \xff utf-8":                  "",
	}
	i := 0
	for name, want := range names {
		i++
		m := message(t, fmt.Sprintf("n%d@example.test", i))
		m.ToName = name
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("name %q: %v", name, err)
		}
		got := srv.Wait(t, i, 5*time.Second)[i-1]
		to, err := got.Header.AddressList("To")
		if err != nil || len(to) != 1 {
			t.Fatalf("name %q: To %q: %v", name, got.Header.Get("To"), err)
		}
		if to[0].Name != want || to[0].Address != fmt.Sprintf("n%d@example.test", i) {
			t.Errorf("name %q: To is %q <%s>, want %q", name, to[0].Name, to[0].Address, want)
		}
	}
}

// A relay that stops answering holds a connection only until the timeout;
// the connection is then replaced and the next message goes out.
func TestSMTPHungServerDoesNotStallThePool(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s, err := mail.NewSMTP(srv.URL(), mail.SMTPOptions{From: from, Conns: 2, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv.HangNext(2)
	errs := make(chan error, 3)
	for i := range 2 {
		go func() { errs <- s.Send(context.Background(), message(t, fmt.Sprintf("hung%d@example.test", i))) }()
	}
	bound := time.After(10 * time.Second)
	for range 2 {
		select {
		case err := <-errs:
			if err == nil || mail.IsPermanent(err) {
				t.Fatalf("a hung send: err = %v, want a temporary failure", err)
			}
		case <-bound:
			t.Fatal("a hung server stalled the pool")
		}
	}
	go func() { errs <- s.Send(context.Background(), message(t, "next@example.test")) }()
	select {
	case err := <-errs:
		if err != nil {
			t.Fatal(err)
		}
	case <-bound:
		t.Fatal("no connection after the hung ones timed out")
	}
	if got := srv.Wait(t, 1, 5*time.Second); got[0].To[0] != "next@example.test" {
		t.Fatalf("delivered to %v", got[0].To)
	}
}

// A pooled connection the server closed while it sat idle is replaced
// before the next message, which goes out.
func TestSMTPReplacesAConnectionClosedWhileIdle(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := sentOnceThenClosed(t, srv, time.Nanosecond)
	ctx := context.Background()
	if err := s.Send(ctx, message(t, "boris@example.test")); err != nil {
		t.Fatalf("send after the server closed the idle connection: %v", err)
	}
	srv.Wait(t, 2, 5*time.Second)
	if srv.Conns() != 2 {
		t.Errorf("connections = %d, want 2 (the closed one replaced)", srv.Conns())
	}
}

// A connection dropped right after use (no check: it was not idle) fails
// one message with a temporary error, never a permanent one, and is not
// reused: the next message goes out on a new connection.
func TestSMTPDropsABrokenConnection(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := sentOnceThenClosed(t, srv, time.Hour)
	ctx := context.Background()
	err := s.Send(ctx, message(t, "boris@example.test"))
	if err == nil {
		t.Fatal("a message on a connection the server closed went out")
	}
	if mail.IsPermanent(err) {
		t.Errorf("a dropped connection is a permanent failure: %v", err)
	}
	if err := s.Send(ctx, message(t, "boris@example.test")); err != nil {
		t.Fatalf("the next message: %v", err)
	}
	msgs := srv.Wait(t, 2, 5*time.Second)
	if msgs[1].To[0] != "boris@example.test" || srv.Conns() != 2 {
		t.Errorf("got %d connections and second recipient %v", srv.Conns(), msgs[1].To)
	}
}

// sentOnceThenClosed sends one message over a one-connection pool, then has
// the server close that connection.
func sentOnceThenClosed(t *testing.T, srv *smtptest.Server, checkIdle time.Duration) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(srv.URL(), mail.SMTPOptions{From: from, Conns: 1, Timeout: 5 * time.Second, CheckIdle: checkIdle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Send(context.Background(), message(t, "anna@example.test")); err != nil {
		t.Fatal(err)
	}
	srv.CloseConns()
	return s
}

// Many messages over reused connections arrive intact, pipelined or not:
// headers, UTF-8 names, and text lines that start with a dot.
func TestSMTPManyMessagesIntact(t *testing.T) {
	t.Parallel()
	for _, lockstep := range []bool{false, true} {
		t.Run(fmt.Sprintf("lockstep=%v", lockstep), func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t)
			s, err := mail.NewSMTP(srv.URL(), mail.SMTPOptions{From: from, Conns: 2, Timeout: 5 * time.Second, NoPipelining: lockstep})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			const n = 20
			errs := make(chan error, n)
			for i := range n {
				go func() {
					m := message(t, fmt.Sprintf("r%d@example.test", i))
					m.MessageID = fmt.Sprintf("many-%d@muster.test", i)
					m.Text = fmt.Sprintf(".%d точка\n.\n..две\n", i) + m.Text
					errs <- s.Send(context.Background(), m)
				}()
			}
			for range n {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			msgs := srv.Wait(t, n, 5*time.Second)
			if srv.Conns() > 2 {
				t.Errorf("connections = %d, want at most 2", srv.Conns())
			}
			for _, m := range msgs {
				var i int
				if _, err := fmt.Sscanf(m.To[0], "r%d@example.test", &i); err != nil {
					t.Fatalf("recipient %v: %v", m.To, err)
				}
				to, err := m.Header.AddressList("To")
				if err != nil || len(to) != 1 || to[0].Name != "Анна" || to[0].Address != m.To[0] {
					t.Errorf("To %q: %v", m.Header.Get("To"), err)
				}
				if m.MessageID != fmt.Sprintf("<many-%d@muster.test>", i) || m.Subject != "ООО Ромашка приглашает вас в команду «Ромашка Дизайн»" {
					t.Errorf("Message-ID %q, subject %q", m.MessageID, m.Subject)
				}
				if want := fmt.Sprintf(".%d точка\n.\n..две\nЗдравствуйте, Анна!", i); !strings.HasPrefix(m.Text, want) {
					t.Errorf("text starts %q, want %q", m.Text[:min(len(m.Text), 60)], want)
				}
			}
		})
	}
}

// A refused recipient is a permanent failure, and the connection serves the
// next message, pipelined or not.
func TestSMTPRefusedRecipientKeepsTheConnection(t *testing.T) {
	t.Parallel()
	for _, lockstep := range []bool{false, true} {
		t.Run(fmt.Sprintf("lockstep=%v", lockstep), func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t)
			srv.RefuseRecipient("gone@example.test", 550, "no such mailbox")
			s, err := mail.NewSMTP(srv.URL(), mail.SMTPOptions{From: from, Conns: 1, Timeout: 5 * time.Second, NoPipelining: lockstep})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Send(context.Background(), message(t, "gone@example.test"))
			if !mail.IsPermanent(err) || mail.Reason(err) != "smtp_550" {
				t.Fatalf("err = %v (reason %q), want a permanent smtp_550", err, mail.Reason(err))
			}
			if err := s.Send(context.Background(), message(t, "anna@example.test")); err != nil {
				t.Fatal(err)
			}
			if got := srv.Wait(t, 1, 5*time.Second); len(got) != 1 || got[0].To[0] != "anna@example.test" || srv.Conns() != 1 {
				t.Fatalf("%d messages (to %v) on %d connections, want 1 to anna on 1", len(got), got[0].To, srv.Conns())
			}
		})
	}
}
