package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/limit"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/jobs"
)

// capRecipients puts the bundle's senders, single and bulk, under a
// recipient cap counted in rdb (the bundle's Redis when nil).
func (b *testBundle) capRecipients(rdb redis.UniversalClient, rates ...muster.Rate) {
	if rdb == nil {
		rdb = b.redis.Client
	}
	lim := limit.New(rdb, map[string][]muster.Rate{muster.LimitRecipient: rates}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.sender.Recipients, jobs.NewBatchSender(b.deps).Send.Recipients = lim, lim
}

// sentTo counts the emails SMTP accepted for addr.
func (b *testBundle) sentTo(addr string) int {
	n := 0
	for _, m := range b.smtp.Messages() {
		if slices.Contains(m.To, addr) {
			n++
		}
	}
	return n
}

// importOf imports rows of emails into the bundle's account and returns
// the import and its one batch; the batch's send tasks wait in Redis.
func (b *testBundle) importOf(t *testing.T, emails ...string) (int64, int) {
	t.Helper()
	rows := [][]any{{"Email"}}
	for _, e := range emails {
		rows = append(rows, []any{e})
	}
	im, _ := b.upload(t, sheet(t, rows...))
	if err := b.importer(0).Process(context.Background(), jobs.ImportArgs{ImportID: im.ID}); err != nil {
		t.Fatal(err)
	}
	var batch int
	if err := b.db.Get(&batch, `SELECT DISTINCT import_batch FROM invitations WHERE import_id = $1`, im.ID); err != nil {
		t.Fatal(err)
	}
	return im.ID, batch
}

// inviteElsewhere invites email to a new account of the bundle's client
// and sends it on the single path.
func (b *testBundle) inviteElsewhere(t *testing.T, email string) *muster.Invited {
	t.Helper()
	ctx := context.Background()
	acc, err := b.db.CreateAccount(ctx, b.account.ClientID, "Ромашка "+email, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := muster.NewInvite(acc.ID, email, "", "", nil, "")
	res, err := b.db.Invite(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.process(ctx, jobs.SendArgs{InvitationID: res.Invitation.ID}); err != nil {
		t.Fatal(err)
	}
	return res
}

// wantPostponed checks that an email over its recipient's cap waits:
// retrying, its attempts as before the claim, the reason in last_error,
// and its retry time within one emission interval.
func (b *testBundle) wantPostponed(t *testing.T, id int64, attempts int, within time.Duration) time.Time {
	t.Helper()
	var row struct {
		Status    string    `db:"status"`
		Attempts  int       `db:"attempts"`
		LastError string    `db:"last_error"`
		Until     time.Time `db:"claimed_until"`
	}
	if err := b.db.Get(&row, `SELECT status, attempts, last_error, claimed_until FROM invitations WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if row.Status != muster.SendRetrying || row.Attempts != attempts || !strings.HasPrefix(row.LastError, "recipient_cap: ") ||
		row.Until.Before(time.Now()) || row.Until.After(time.Now().Add(within)) {
		t.Fatalf("invitation %d over the cap: %+v; want retrying, %d attempts, recipient_cap, due within %s", id, row, attempts, within)
	}
	return row.Until
}

// An import, a reminder and a resend to one address stop at its cap,
// whatever their kind: the email over it waits without using an attempt
// (the import's email on the bulk path, the resend on the single path),
// goes out once the window allows, and other addresses are not held back.
func TestRecipientCapHoldsForEveryKind(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	const victim = "victim@example.test"
	// Three in a burst, then one every 4 s. The first three go out at
	// once, well within those 4 s.
	b.capRecipients(nil, muster.Rate{N: 3, Per: 12 * time.Second})
	b.inviteElsewhere(t, victim)
	imp, batch := b.importOf(t, "Victim@Example.test", "o1@example.test", "o2@example.test")
	if err := jobs.NewBatchSender(b.deps).Process(ctx, jobs.ImportSendArgs{ImportID: imp, Batch: batch}); err != nil {
		t.Fatal(err)
	}
	var member struct {
		ID         int64 `db:"id"`
		Contractor int64 `db:"contractor_id"`
	}
	if err := b.db.Get(&member, `SELECT id, contractor_id FROM memberships WHERE account_id = $1 AND email = $2`, b.account.ID, victim); err != nil {
		t.Fatal(err)
	}
	var reminder int64
	if err := b.db.Get(&reminder, `INSERT INTO invitations (membership_id, kind, locale, step) VALUES ($1, 'reminder', 'ru', 1) RETURNING id`, member.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.sender.Remind(ctx, jobs.RemindSendArgs{InvitationID: reminder}); err != nil {
		t.Fatal(err)
	}
	b.deps.Settled()
	if n := b.sentTo(victim); n != 3 {
		t.Fatalf("%d emails to the victim, want 3", n)
	}

	// The fourth, a resend, waits for the cap.
	resend, err := b.db.Resend(ctx, b.account.ID, member.Contractor, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = b.process(ctx, jobs.SendArgs{InvitationID: resend.ID})
	if err == nil || !strings.Contains(err.Error(), "recipient_cap") {
		t.Fatalf("the 4th email's task: %v; want it postponed", err)
	}
	until := b.wantPostponed(t, resend.ID, 0, 4*time.Second)
	if n := b.sentTo(victim); n != 3 {
		t.Fatalf("%d emails to the victim, want 3", n)
	}
	b.wantMetric(t, `muster_emails_total{kind="resend",locale="ru",outcome="postponed"}`, 1)
	// Other addresses are not held back.
	other := b.invite(t, "o3@example.test", "")
	if err := b.process(ctx, jobs.SendArgs{InvitationID: other.Invitation.ID}); err != nil {
		t.Fatalf("another address: %v", err)
	}
	for _, o := range []string{"o1@example.test", "o2@example.test", "o3@example.test"} {
		if n := b.sentTo(o); n != 1 {
			t.Errorf("%d emails to %s, want 1", n, o)
		}
	}

	// Once the window allows, the task's retry sends it, at one attempt.
	b.startWorker(t)
	if err := b.queue.Send(ctx, resend.ID); err != nil {
		t.Fatal(err)
	}
	sent := b.waitStatus(t, resend.ID, muster.SendSent)
	if sent.Attempts != 1 || sent.SentAt == nil || sent.SentAt.Before(until.Add(-100*time.Millisecond)) {
		t.Errorf("sent %+v; want one attempt, at %s or later", sent, until)
	}
	if n := b.sentTo(victim); n != 4 {
		t.Errorf("%d emails to the victim, want 4", n)
	}
}

// On the bulk path an import's email to an address at its cap waits, the
// rest of the set goes out, and the batch's task sends it once the window
// allows, at one attempt.
func TestRecipientCapInTheBulkPath(t *testing.T) {
	t.Parallel()
	b := setup(t, options{attempts: 10}) // the batch task retries until the window allows
	ctx := context.Background()
	b.capRecipients(nil, muster.Rate{N: 1, Per: 2 * time.Second})
	b.inviteElsewhere(t, "busy@example.test")
	imp, batch := b.importOf(t, "o1@example.test", "busy@example.test", "o2@example.test")
	err := jobs.NewBatchSender(b.deps).Process(ctx, jobs.ImportSendArgs{ImportID: imp, Batch: batch})
	if err == nil || !strings.Contains(err.Error(), "1 emails wait for their next attempt") || jobs.IsFailure(err) {
		t.Fatalf("the batch: %v; want one email left, the task postponed", err)
	}
	var held int64
	if err := b.db.Get(&held, `SELECT id FROM invitations WHERE import_id = $1 AND status = 'retrying'`, imp); err != nil {
		t.Fatal(err)
	}
	b.wantPostponed(t, held, 0, 2*time.Second)
	if n := b.sentTo("o1@example.test") + b.sentTo("o2@example.test"); n != 2 {
		t.Errorf("%d emails to the others, want 2", n)
	}
	b.wantMetric(t, `muster_emails_total{kind="invite",locale="ru",outcome="postponed"}`, 1)
	b.startWorker(t) // runs the batch's tasks, which the import queued
	if sent := b.waitStatus(t, held, muster.SendSent); sent.Attempts != 1 {
		t.Errorf("attempts %d, want 1", sent.Attempts)
	}
	if n := b.sentTo("busy@example.test"); n != 2 {
		t.Errorf("%d emails to busy@, want 2", n)
	}
}

// Without Redis the cap is not checked and the emails go: PostgreSQL and
// the leases still send each once.
func TestRecipientCapWithoutRedisSends(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	t.Cleanup(func() { down.Close() })
	b.capRecipients(down, muster.Rate{N: 1, Per: 24 * time.Hour})
	b.inviteElsewhere(t, "twice@example.test")
	b.inviteElsewhere(t, "twice@example.test")
	if n := b.sentTo("twice@example.test"); n != 2 {
		t.Errorf("%d emails, want 2: a Redis outage must not stop sending", n)
	}
}
