package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/internal/locale"
	"github.com/muster-dev/muster/internal/metrics"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/postgres"
	"github.com/muster-dev/muster/internal/postgres/pgtest"
	"github.com/muster-dev/muster/internal/redistest"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/internal/smtptest"
	"github.com/muster-dev/muster/jobs"
	muster_mail "github.com/muster-dev/muster/mail"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	redistest.Stop()
	os.Exit(code)
}

type testBundle struct {
	db      *postgres.DB
	redis   *redistest.DB
	smtp    *smtptest.Server
	queue   *jobs.Enqueuer
	sender  *jobs.Sender   // the worker's
	requeue *jobs.Requeuer // a sweep without Redis's checks, called directly
	deps    *jobs.Deps
	account *muster.Account
	metrics *metrics.Metrics
}

type options struct {
	attempts int
	dbURL    string // a database pgtest.NewURL made; default: a new one
}

func setup(t testing.TB, o options) *testBundle {
	t.Helper()
	if o.attempts == 0 {
		o.attempts = 3
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := &testBundle{redis: redistest.New(t), smtp: smtptest.Start(t), metrics: metrics.New()}
	if o.dbURL == "" {
		b.db = pgtest.New(t)
	} else {
		db, err := postgres.Open(context.Background(), o.dbURL, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		b.db = db
	}
	b.queue = jobs.NewEnqueuer(asynq.NewClientFromRedisClient(b.redis.Client), o.attempts)
	loc, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	render, err := muster_mail.NewRenderer(loc)
	if err != nil {
		t.Fatal(err)
	}
	from := &mail.Address{Name: "Muster", Address: "no-reply@muster.test"}
	smtp, err := muster_mail.NewSMTP(b.smtp.URL(), muster_mail.SMTPOptions{From: from, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtp.Close() })
	b.deps = &jobs.Deps{
		Store: b.db, Queue: b.queue, Redis: b.redis.Client, Mail: smtp, BulkMail: smtp, Render: render,
		Signer: signed.New("test-key-test-key-test-key-test-key"), Log: log, Metrics: b.metrics,
		Config: &config.Config{
			AppURL: "https://app.muster.test", MailFrom: "Muster <no-reply@muster.test>", SendAttempts: o.attempts,
			SMTPConns: 4, RetryBase: time.Millisecond, ReminderSchedule: []time.Duration{72 * time.Hour},
		},
	}
	b.sender = jobs.NewSender(b.deps)
	b.requeue = &jobs.Requeuer{Store: b.db, Queue: b.queue, Tasks: asynq.NewInspectorFromRedisClient(b.redis.Client), Log: log}
	_, b.account, err = b.db.CreateClient(context.Background(), muster.ClientDraft{
		Name: "ООО Ромашка", OwnerEmail: strings.ToLower(t.Name()) + "@owner.test", OwnerLocale: muster.Russian, AccountName: "Ромашка Дизайн",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// process runs a send task as the worker does, and waits for the outcome
// it writes after it returned.
func (b *testBundle) process(ctx context.Context, args jobs.SendArgs) error {
	err := b.sender.Process(ctx, args)
	b.deps.Settled()
	return err
}

// startWorker runs a worker with fast polling and retries until t ends,
// or until stop, which returns once the worker stopped.
func (b *testBundle) startWorker(t *testing.T) (stop func()) {
	t.Helper()
	w, err := jobs.NewWorker(b.redis.Client, jobs.WorkerConfig{
		Concurrency: 4, BulkConcurrency: 2, PollInterval: 20 * time.Millisecond,
		RetryBase: 20 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, b.deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	stop = sync.OnceFunc(w.Shutdown)
	t.Cleanup(stop)
	return stop
}

func (b *testBundle) invite(t *testing.T, email, locale string) *muster.Invited {
	t.Helper()
	in, err := muster.NewInvite(b.account.ID, email, "Анна", "<b>Figma</b> & UI", nil, locale)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.db.Invite(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// waitStatus polls the invitation until it reaches status or t times out.
func (b *testBundle) waitStatus(t *testing.T, id int64, status string) *muster.Invitation {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		inv, err := b.db.FindInvitation(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Status == status {
			return inv
		}
		if time.Now().After(deadline) {
			t.Fatalf("invitation %d is %s (attempts %d, error %q), want %s", id, inv.Status, inv.Attempts, inv.LastError, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInvitationArrivesInItsLanguage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		locale, subject, greeting string
	}{
		{"", "ООО Ромашка приглашает вас в команду «Ромашка Дизайн»", "Здравствуйте, Анна!"},
		{"en", "ООО Ромашка invites you to join the team at Ромашка Дизайн", "Hello Анна,"},
	}
	for _, tt := range tests {
		t.Run("locale="+tt.locale, func(t *testing.T) {
			t.Parallel()
			b := setup(t, options{})
			b.startWorker(t)
			res := b.invite(t, "Anna@Example.test", tt.locale)
			if err := b.queue.Send(context.Background(), res.Invitation.ID); err != nil {
				t.Fatal(err)
			}
			m := b.smtp.Wait(t, 1, 10*time.Second)[0]
			if m.Subject != tt.subject {
				t.Errorf("subject = %q, want %q", m.Subject, tt.subject)
			}
			if len(m.To) != 1 || m.To[0] != "anna@example.test" {
				t.Errorf("to = %v", m.To)
			}
			for name, body := range map[string]string{"text": m.Text, "html": m.HTML} {
				for _, want := range []string{tt.greeting, "Ромашка Дизайн", "https://app.muster.test/signup?invitation="} {
					if !strings.Contains(body, want) {
						t.Errorf("%s part lacks %q:\n%s", name, want, body)
					}
				}
			}
			if !strings.Contains(m.Text, "<b>Figma</b> & UI") {
				t.Errorf("text part lacks the feature as typed:\n%s", m.Text)
			}
			if !strings.Contains(m.HTML, "&lt;b&gt;Figma&lt;/b&gt; &amp; UI") || strings.Contains(m.HTML, "<b>Figma") {
				t.Errorf("html part does not escape the feature:\n%s", m.HTML)
			}
			inv := b.waitStatus(t, res.Invitation.ID, muster.SendSent)
			if inv.SentAt == nil || "<"+inv.MessageID+">" != m.MessageID || inv.Attempts != 1 {
				t.Errorf("recorded %+v, message id on the wire %s", inv, m.MessageID)
			}
			locale := tt.locale
			if locale == "" {
				locale = "ru"
			}
			b.wantMetric(t, `muster_emails_total{kind="invite",locale="`+locale+`",outcome="sent"}`, 1)
			b.wantMetric(t, `muster_email_send_seconds_count{kind="invite"}`, 1)
		})
	}
}

func TestRegisteredContractorGetsNoticeNotInvitation(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	first := b.invite(t, "reg@example.test", "")
	if _, err := b.db.ExecContext(ctx, `UPDATE contractors SET registered_at = now() WHERE id = $1`, first.Contractor.ID); err != nil {
		t.Fatal(err)
	}
	second, err := b.db.CreateAccount(ctx, b.account.ClientID, "Ромашка Маркетинг", nil)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := muster.NewInvite(second.ID, "REG@example.test ", "", "", nil, "")
	res, err := b.db.Invite(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Linked || res.Membership.Status != muster.MemberActive || res.Membership.LinkedAt == nil || res.Invitation.Kind != muster.InviteAdded {
		t.Fatalf("second account: %+v", res)
	}
	if res.Contractor.ID != first.Contractor.ID {
		t.Fatalf("a second profile was created: %d vs %d", res.Contractor.ID, first.Contractor.ID)
	}
	b.startWorker(t)
	if err := b.queue.Send(ctx, res.Invitation.ID); err != nil {
		t.Fatal(err)
	}
	m := b.smtp.Wait(t, 1, 10*time.Second)[0]
	if m.Subject != "Вас добавили в аккаунт «Ромашка Маркетинг»" {
		t.Errorf("subject %q", m.Subject)
	}
	if strings.Contains(m.Text, "/signup") || !strings.Contains(m.Text, "https://app.muster.test/login") {
		t.Errorf("notice should link to login, not sign-up:\n%s", m.Text)
	}
}

func TestSameTaskTwiceSendsOneEmail(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	res := b.invite(t, "twice@example.test", "")
	ctx := context.Background()
	args := jobs.SendArgs{InvitationID: res.Invitation.ID}
	// Two deliveries at once (Asynq delivers at least once), then a late third.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _ = b.sender.Process(ctx, args) })
	}
	wg.Wait()
	b.deps.Settled()
	if err := b.process(ctx, args); err != nil {
		t.Fatalf("late delivery: %v", err)
	}
	b.smtp.Wait(t, 1, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // a second email would have arrived by now
	if n := len(b.smtp.Messages()); n != 1 {
		t.Fatalf("%d emails sent, want 1", n)
	}
	if inv := b.waitStatus(t, res.Invitation.ID, muster.SendSent); inv.Attempts != 1 {
		t.Errorf("attempts = %d, want 1", inv.Attempts)
	}
}

func TestFailingSMTPRetriesThenFails(t *testing.T) {
	t.Parallel()
	b := setup(t, options{attempts: 3})
	b.smtp.FailNext(1000, 451, "mailbox busy, try later")
	b.startWorker(t)
	res := b.invite(t, "busy@example.test", "")
	if err := b.queue.Send(context.Background(), res.Invitation.ID); err != nil {
		t.Fatal(err)
	}
	inv := b.waitStatus(t, res.Invitation.ID, muster.SendFailed)
	if inv.Attempts != 3 || !strings.Contains(inv.LastError, "451") || !strings.Contains(inv.LastError, "mailbox busy") {
		t.Fatalf("failed after %d attempts with %q; want 3 and the server's reply", inv.Attempts, inv.LastError)
	}
	if len(b.smtp.Messages()) != 0 {
		t.Fatal("a refused message was recorded as accepted")
	}
}

func TestPermanentRefusalFailsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{attempts: 5})
	b.smtp.FailNext(1, 554, "no such user")
	res := b.invite(t, "nobody@example.test", "")
	err := b.process(context.Background(), jobs.SendArgs{InvitationID: res.Invitation.ID})
	if err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("err = %v", err)
	}
	inv := b.waitStatus(t, res.Invitation.ID, muster.SendFailed)
	if inv.Attempts != 1 {
		t.Fatalf("attempts = %d, want 1: a permanent refusal is not retried", inv.Attempts)
	}
	b.wantMetric(t, `muster_emails_total{kind="invite",locale="ru",outcome="failed"}`, 1)
	b.wantMetric(t, `muster_email_errors_total{kind="invite",reason="smtp_554"}`, 1)
	b.wantMetric(t, `muster_emails_total{kind="invite",locale="ru",outcome="sent"}`, 0)
}

func TestRedisLosingItsDataLosesNoEmail(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	res := b.invite(t, "lost@example.test", "")
	if err := b.queue.Send(ctx, res.Invitation.ID); err != nil {
		t.Fatal(err)
	}
	// Enqueueing again while the task waits is a no-op…
	if err := b.queue.Send(ctx, res.Invitation.ID); err != nil {
		t.Fatal(err)
	}
	// …and then Redis forgets everything before a worker saw it.
	if err := b.redis.Client.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	b.startWorker(t)
	if err := b.requeue.Process(ctx, jobs.RequeueArgs{}); err != nil {
		t.Fatal(err)
	}
	if err := b.requeue.Process(ctx, jobs.RequeueArgs{}); err != nil { // a second sweep adds nothing
		t.Fatal(err)
	}
	b.smtp.Wait(t, 1, 10*time.Second)
	b.waitStatus(t, res.Invitation.ID, muster.SendSent)
	time.Sleep(200 * time.Millisecond)
	if n := len(b.smtp.Messages()); n != 1 {
		t.Fatalf("%d emails, want 1", n)
	}
}

func TestKilledWorkersLeaseRunsOut(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	res := b.invite(t, "killed@example.test", "")
	// A worker claims the invitation and dies before sending.
	if _, err := b.db.ClaimInvitation(ctx, res.Invitation.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	args := jobs.SendArgs{InvitationID: res.Invitation.ID}
	if err := b.process(ctx, args); err == nil {
		t.Fatal("a held lease should make the task retry later")
	}
	if _, err := b.db.ExecContext(ctx, `UPDATE invitations SET claimed_until = now() - interval '1 second' WHERE id = $1`, res.Invitation.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.process(ctx, args); err != nil {
		t.Fatal(err)
	}
	b.smtp.Wait(t, 1, 5*time.Second)
	if inv := b.waitStatus(t, res.Invitation.ID, muster.SendSent); inv.Attempts != 2 {
		t.Errorf("attempts = %d, want 2", inv.Attempts)
	}
}

func TestExcludedBeforeSendingIsCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	res := b.invite(t, "gone@example.test", "")
	if _, err := b.db.ExecContext(ctx, `UPDATE memberships SET status = 'excluded', excluded_at = now() WHERE id = $1`, res.Membership.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.process(ctx, jobs.SendArgs{InvitationID: res.Invitation.ID}); err != nil {
		t.Fatal(err)
	}
	inv := b.waitStatus(t, res.Invitation.ID, muster.SendCancelled)
	if !strings.Contains(inv.LastError, "excluded") {
		t.Errorf("reason %q", inv.LastError)
	}
	if len(b.smtp.Messages()) != 0 {
		t.Fatal("an excluded contractor was emailed")
	}
	b.wantMetric(t, `muster_emails_total{kind="invite",locale="ru",outcome="cancelled"}`, 1)
}

func TestManagerInvitationListsAccountsAsTheyStandWhenSent(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	second, err := b.db.CreateAccount(ctx, b.account.ClientID, "Ромашка Маркетинг", nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := muster.NewManagerInvite(b.account.ClientID, "olga@example.test", "", muster.RoleManager, []int64{b.account.ID}, "")
	if err != nil {
		t.Fatal(err)
	}
	m, inv, err := b.db.InviteManager(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// Edited before the worker got to it: the email says what holds now.
	ids := []int64{b.account.ID, second.ID}
	if _, err := b.db.UpdateManager(ctx, muster.ManagerEdit{ManagerID: m.ID, AccountIDs: ids}); err != nil {
		t.Fatal(err)
	}
	if err := b.process(ctx, jobs.SendArgs{InvitationID: inv.ID}); err != nil {
		t.Fatal(err)
	}
	got := b.smtp.Wait(t, 1, 5*time.Second)[0]
	for _, want := range []string{"доступ к 2 аккаунтам", "- Ромашка Дизайн\n", "- Ромашка Маркетинг\n", "https://app.muster.test/managers/accept?token="} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, got.Text)
		}
	}
	if sent := b.waitStatus(t, inv.ID, muster.SendSent); sent.Attempts != 1 {
		t.Errorf("attempts %d", sent.Attempts)
	}

	// An invitation sent again after the manager accepted is not emailed.
	again, err := b.db.ResendManagerInvitation(ctx, m.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.db.AcceptManager(ctx, inv.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.process(ctx, jobs.SendArgs{InvitationID: again.ID}); err != nil {
		t.Fatal(err)
	}
	if c := b.waitStatus(t, again.ID, muster.SendCancelled); !strings.Contains(c.LastError, "accepted") {
		t.Errorf("reason %q", c.LastError)
	}
	if n := len(b.smtp.Messages()); n != 1 {
		t.Errorf("%d emails, want 1", n)
	}
}

// wantMetric checks one series of the bundle's metrics, written as the
// Prometheus text format writes it; a series never recorded counts 0.
func (b *testBundle) wantMetric(t *testing.T, series string, want float64) {
	t.Helper()
	rec := httptest.NewRecorder()
	b.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	got := 0.0
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			if _, err := fmt.Sscan(v, &got); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
		}
	}
	if got != want {
		t.Errorf("%s = %v, want %v", series, got, want)
	}
}

// A send task Asynq archived while PostgreSQL still owes its email (every
// retry spent during an outage) is replaced by the requeue sweep, not kept
// as a no-op under the same id.
func TestRequeueReplacesArchivedTask(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	res := b.invite(t, "archived@example.test", "")
	if err := b.queue.Send(ctx, res.Invitation.ID); err != nil {
		t.Fatal(err)
	}
	inspect := asynq.NewInspectorFromRedisClient(b.redis.Client)
	id := "send:" + strconv.FormatInt(res.Invitation.ID, 10)
	if err := inspect.ArchiveTask(jobs.QueueCritical, id); err != nil {
		t.Fatal(err)
	}
	if err := b.requeue.Process(ctx, jobs.RequeueArgs{}); err != nil {
		t.Fatal(err)
	}
	info, err := inspect.GetTaskInfo(jobs.QueueCritical, id)
	if err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("task after the sweep: %+v, %v; want pending", info, err)
	}
	b.startWorker(t)
	b.smtp.Wait(t, 1, 10*time.Second)
	b.waitStatus(t, res.Invitation.ID, muster.SendSent)
}

// One task delivered twice at once (a redelivery racing the first run):
// the shared claim gives the invitation to one of them, and one email goes.
func TestConcurrentDeliveriesOfOneTaskSendOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	res := b.invite(t, "twice@example.test", "")
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- b.sender.Process(context.Background(), jobs.SendArgs{InvitationID: res.Invitation.ID}) }()
	}
	ok := 0
	for range 4 {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, muster.ErrClaimed):
			t.Fatalf("a delivery failed otherwise: %v", err)
		}
	}
	b.waitStatus(t, res.Invitation.ID, muster.SendSent)
	if n := len(b.smtp.Messages()); n != 1 || ok < 1 {
		t.Fatalf("%d emails, %d deliveries succeeded; want 1 email", n, ok)
	}
}
