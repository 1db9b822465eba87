package jobs_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/jobs"
)

// sendNow sends one invitation through the worker and returns it as sent.
func (b *testBundle) sendNow(t *testing.T, id int64, want int) *muster.Invitation {
	t.Helper()
	if err := b.queue.Send(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	b.smtp.Wait(t, want, 10*time.Second)
	return b.waitStatus(t, id, muster.SendSent)
}

// An address that hard-bounced kept receiving reminders. A hard bounce now
// marks the email, suppresses the address, and no email reaches SMTP for
// it again, whatever its kind or account, until staff clear it.
func TestBounceSuppressesEveryLaterEmail(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	b.startWorker(t)
	res := b.invite(t, "gone@example.test", "")
	inv := b.sendNow(t, res.Invitation.ID, 1)

	ev, err := muster.NewMailEvent("<"+inv.MessageID+">", muster.MailBounced, muster.BounceHard, time.Now().Format(time.RFC3339), "550 5.1.1 no such user", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.db.ApplyMailEvent(ctx, ev)
	if err != nil || !out.Suppressed || out.Invitation.Status != muster.SendBounced {
		t.Fatalf("bounce: %+v %v", out, err)
	}
	if again, err := b.db.ApplyMailEvent(ctx, ev); err != nil || !again.Duplicate {
		t.Errorf("the same report twice: %+v %v", again, err)
	}
	rows, _, err := b.db.ListContractors(ctx, muster.ListQuery{AccountID: b.account.ID, SendStatus: muster.SendBounced, Sort: "-invited_at", Limit: 10})
	if err != nil || len(rows) != 1 || rows[0].SendStatus != muster.SendBounced || rows[0].Stage != "invitation_failed" {
		t.Errorf("the list's send_status and stage: %+v %v", rows, err)
	}
	card, err := b.db.ContractorCard(ctx, b.account.ID, res.Contractor.ID)
	if err != nil || card.Stages[1].Name != "invitation_failed" {
		t.Errorf("the card's stages: %+v %v", card, err)
	}
	// No reminder is queued for it …
	ids, err := b.db.QueueReminders(ctx, time.Now().Add(100*time.Hour), []time.Duration{72 * time.Hour})
	if err != nil || len(ids) != 0 {
		t.Errorf("reminders queued for a bounced address: %v %v", ids, err)
	}
	// … and one queued before the bounce, or an invitation from another
	// dashboard, is cancelled when claimed, before SMTP.
	var reminder int64
	if err := b.db.Get(&reminder, `INSERT INTO invitations (membership_id, kind, locale, step) VALUES ($1, 'reminder', 'ru', 1) RETURNING id`, res.Membership.ID); err != nil {
		t.Fatal(err)
	}
	_, other, err := b.db.CreateClient(ctx, muster.ClientDraft{Name: "Other", OwnerEmail: "owner@other.test", OwnerLocale: muster.English, AccountName: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := muster.NewInvite(other.ID, "GONE@example.test", "", "", nil, "en")
	fromOther, err := b.db.Invite(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{reminder, fromOther.Invitation.ID} {
		if err := b.queue.Send(ctx, id); err != nil {
			t.Fatal(err)
		}
		got := b.waitStatus(t, id, muster.SendCancelled)
		if !strings.Contains(got.LastError, "suppression list") {
			t.Errorf("invitation %d cancelled for %q", id, got.LastError)
		}
	}
	if n := len(b.smtp.Messages()); n != 1 {
		t.Errorf("%d emails reached SMTP, want only the first", n)
	}
	// Staff clear the address: mail flows again.
	if err := b.db.ClearSuppression(ctx, "gone@example.test"); err != nil {
		t.Fatal(err)
	}
	in, _ = muster.NewInvite(other.ID, "gone@example.test", "", "", nil, "en")
	if _, err := b.db.Exclude(ctx, other.ID, fromOther.Contractor.ID); err != nil {
		t.Fatal(err)
	}
	back, err := b.db.Invite(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b.sendNow(t, back.Invitation.ID, 2)
}

// A reminder carries a one-click unsubscribe (RFC 8058) that stops the
// reminders of that membership only: the same person's invitation to
// another account is still delivered and reminded.
func TestUnsubscribeStopsRemindersOfOneMembership(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.sender.APIURL = "https://api.muster.test"
	ctx := context.Background()
	b.startWorker(t)
	first := b.invite(t, "busy@example.test", "")
	b.sendNow(t, first.Invitation.ID, 1)
	_, other, err := b.db.CreateClient(ctx, muster.ClientDraft{Name: "Other", OwnerEmail: "owner@other.test", OwnerLocale: muster.English, AccountName: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := muster.NewInvite(other.ID, "busy@example.test", "", "", nil, "en")
	second, err := b.db.Invite(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b.sendNow(t, second.Invitation.ID, 2)

	schedule := []time.Duration{72 * time.Hour, 168 * time.Hour}
	ids, err := b.db.QueueReminders(ctx, time.Now().Add(100*time.Hour), schedule)
	if err != nil || len(ids) != 2 {
		t.Fatalf("first reminders: %v %v", ids, err)
	}
	var mine int64
	for _, id := range ids {
		inv, _ := b.db.FindInvitation(ctx, id)
		if *inv.MembershipID == first.Membership.ID {
			mine = id
		}
	}
	b.sendNow(t, mine, 3)
	m := b.smtp.Messages()[2]
	link := strings.Trim(m.Header.Get("List-Unsubscribe"), "<>")
	if m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || !strings.HasPrefix(link, "https://api.muster.test/v1/unsubscribe?token=") {
		t.Fatalf("reminder headers: List-Unsubscribe %q, List-Unsubscribe-Post %q", m.Header.Get("List-Unsubscribe"), m.Header.Get("List-Unsubscribe-Post"))
	}
	u, _ := url.Parse(link)
	subject, err := signed.New("test-key-test-key-test-key-test-key").Verify(jobs.UnsubscribePurpose, u.Query().Get("token"))
	if err != nil || subject != strconv.FormatInt(first.Membership.ID, 10) {
		t.Fatalf("unsubscribe token names %q (%v), want membership %d", subject, err, first.Membership.ID)
	}
	for _, msg := range b.smtp.Messages()[:2] {
		if msg.Header.Get("List-Unsubscribe") != "" {
			t.Errorf("an invitation carries List-Unsubscribe: %q", msg.Subject)
		}
	}
	if err := b.db.StopReminders(ctx, first.Membership.ID); err != nil {
		t.Fatal(err)
	}
	// The second step: only the other account's membership is reminded.
	ids, err = b.db.QueueReminders(ctx, time.Now().Add(200*time.Hour), schedule)
	if err != nil || len(ids) != 1 {
		t.Fatalf("second reminders: %v %v", ids, err)
	}
	if inv, _ := b.db.FindInvitation(ctx, ids[0]); *inv.MembershipID != second.Membership.ID {
		t.Errorf("reminded membership %d, want %d", *inv.MembershipID, second.Membership.ID)
	}
}
