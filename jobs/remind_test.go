package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/jobs"
)

// reminders builds the sweep with a clock the test moves.
func (b *testBundle) reminders(now *time.Time) *jobs.Reminders {
	return &jobs.Reminders{
		Store: b.db, Queue: b.queue, Schedule: []time.Duration{72 * time.Hour, 168 * time.Hour},
		Now: func() time.Time { return *now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: b.metrics,
	}
}

// sendAll delivers every queued invitation now, as a worker would.
func (b *testBundle) sendAll(t *testing.T) {
	t.Helper()
	var ids []int64
	if err := b.db.Select(&ids, `SELECT id FROM invitations WHERE status = 'queued' ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := b.process(context.Background(), jobs.SendArgs{InvitationID: id}); err != nil {
			t.Fatal(err)
		}
	}
}

func (b *testBundle) reminderSteps(t *testing.T, membershipID int64) []int {
	t.Helper()
	var steps []int
	if err := b.db.Select(&steps, `SELECT step FROM invitations WHERE membership_id = $1 AND kind = 'reminder' ORDER BY step`, membershipID); err != nil {
		t.Fatal(err)
	}
	return steps
}

func TestRemindersFollowTheCadenceOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	waiting := b.invite(t, "waiting@example.test", "en")
	registered := b.invite(t, "registered@example.test", "")
	excluded := b.invite(t, "excluded@example.test", "")
	b.sendAll(t)
	if _, _, err := b.db.ApplyEvent(ctx, muster.Event{Email: "registered@example.test", Type: muster.EventRegistered, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Exclude(ctx, b.account.ID, excluded.Contractor.ID); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := b.reminders(&now)
	sweep := func() {
		t.Helper()
		if err := r.Process(ctx, jobs.RemindArgs{}); err != nil {
			t.Fatal(err)
		}
	}

	now = now.Add(24 * time.Hour) // day 1: nothing is due
	sweep()
	b.wantMetric(t, "muster_reminder_sweep_seconds_count", 1)
	if got := b.reminderSteps(t, waiting.Membership.ID); len(got) != 0 {
		t.Fatalf("day 1: reminders %v", got)
	}
	now = now.Add(48*time.Hour + time.Minute) // day 3: the first reminder
	sweep()
	sweep() // a second run at the same time adds nothing
	if got := b.reminderSteps(t, waiting.Membership.ID); len(got) != 1 || got[0] != 1 {
		t.Fatalf("day 3: reminders %v, want [1]", got)
	}
	b.sendAll(t)
	msgs := b.smtp.Wait(t, 4, 5*time.Second) // three invitations, one reminder
	last := msgs[len(msgs)-1]
	if last.To[0] != "waiting@example.test" || last.Subject != "Reminder: your invitation to Ромашка Дизайн is still waiting" {
		t.Errorf("reminder: to %v, subject %q", last.To, last.Subject)
	}
	now = now.Add(4 * 24 * time.Hour) // day 7: the second
	sweep()
	b.sendAll(t)
	now = now.Add(30 * 24 * time.Hour) // later: no more than the schedule
	sweep()
	if got := b.reminderSteps(t, waiting.Membership.ID); len(got) != 2 {
		t.Fatalf("after day 7: reminders %v, want [1 2]", got)
	}
	for _, m := range []*muster.Invited{registered, excluded} {
		if got := b.reminderSteps(t, m.Membership.ID); len(got) != 0 {
			t.Errorf("%s got reminders %v", m.Contractor.Email, got)
		}
	}
	if n := len(b.smtp.Messages()); n != 5 {
		t.Errorf("%d emails, want 5 (three invitations, two reminders)", n)
	}
}

func TestTwoSchedulersQueueEachReminderOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	for _, e := range []string{"a@example.test", "b@example.test", "c@example.test"} {
		b.invite(t, e, "")
	}
	b.sendAll(t)
	now := time.Now().Add(73 * time.Hour)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := b.reminders(&now).Process(context.Background(), jobs.RemindArgs{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var n int
	b.db.Get(&n, `SELECT count(*) FROM invitations WHERE kind = 'reminder'`)
	if n != 3 {
		t.Fatalf("%d reminders from four concurrent sweeps, want 3", n)
	}
}

func TestExcludeCancelsAScheduledReminder(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	res := b.invite(t, "later@example.test", "")
	b.sendAll(t)
	now := time.Now().Add(73 * time.Hour)
	r := b.reminders(&now)
	r.Rate = 0.001 // the reminder task waits in Redis, scheduled for much later
	if err := r.Process(ctx, jobs.RemindArgs{}); err != nil {
		t.Fatal(err)
	}
	var reminder int64
	if err := b.db.Get(&reminder, `SELECT id FROM invitations WHERE kind = 'reminder'`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Exclude(ctx, b.account.ID, res.Contractor.ID); err != nil {
		t.Fatal(err)
	}
	// The scheduled task runs anyway; it must send nothing.
	if err := b.process(ctx, jobs.SendArgs{InvitationID: reminder}); err != nil {
		t.Fatal(err)
	}
	if inv := b.waitStatus(t, reminder, muster.SendCancelled); inv.Attempts != 0 {
		t.Errorf("cancelled reminder was attempted: %+v", inv)
	}
	if n := len(b.smtp.Messages()); n != 1 {
		t.Fatalf("%d emails, want only the invitation", n)
	}
}
