package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

// QueueReminders applies muster.ReminderDue to every membership in one
// statement: the two must agree on every kind of membership.
func TestQueueRemindersAgreesWithReminderDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, acc := setup(t)
	now := time.Now().UTC().Truncate(time.Second)
	schedule := []time.Duration{72 * time.Hour, 168 * time.Hour}
	type state struct {
		member, send string
		age          time.Duration
		sent         int
		unsubscribed bool
	}
	var states []state
	for _, member := range []string{muster.MemberInvited, muster.MemberActive, muster.MemberExcluded} {
		for _, send := range []string{muster.SendQueued, muster.SendSent, muster.SendFailed} {
			for _, age := range []time.Duration{time.Hour, 80 * time.Hour, 200 * time.Hour} {
				for sent := range 3 {
					states = append(states, state{member, send, age, sent, false})
				}
			}
		}
	}
	for sent := range 3 {
		states = append(states, state{muster.MemberInvited, muster.SendSent, 200 * time.Hour, sent, true})
	}
	want := map[int64]int{} // membership → the step it is due, 0 for none
	for i, s := range states {
		res, err := invite(t, db, acc.ID, fmt.Sprintf("c%d@remind.test", i))
		if err != nil {
			t.Fatal(err)
		}
		mid := res.Membership.ID
		for step := 1; step <= s.sent; step++ {
			if _, err := db.ExecContext(ctx, `INSERT INTO invitations (membership_id, kind, locale, step, status) VALUES ($1, 'reminder', 'ru', $2, 'sent')`, mid, step); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.ExecContext(ctx, `UPDATE invitations SET status = $2 WHERE id = $1`, res.Invitation.ID, s.send); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE memberships SET status = $2, send_status = $3, invited_at = $4,
			reminders_stopped_at = CASE WHEN $5 THEN now() END WHERE id = $1`,
			mid, s.member, s.send, now.Add(-s.age), s.unsubscribed); err != nil {
			t.Fatal(err)
		}
		step, _ := muster.ReminderDue(s.member, s.send, s.unsubscribed, now.Add(-s.age), s.sent, now, schedule)
		want[mid] = step
	}
	ids, err := db.QueueReminders(ctx, now, schedule)
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		MembershipID int64 `db:"membership_id"`
		Step         int   `db:"step"`
	}
	if err := db.SelectContext(ctx, &got, `SELECT membership_id, step FROM invitations WHERE id = ANY($1)`, pq.Array(ids)); err != nil {
		t.Fatal(err)
	}
	gotStep := map[int64]int{}
	for _, g := range got {
		gotStep[g.MembershipID] = g.Step
	}
	due := 0
	for mid, step := range want {
		if gotStep[mid] != step {
			t.Errorf("membership %d: the sweep queued step %d, ReminderDue says %d", mid, gotStep[mid], step)
		}
		if step > 0 {
			due++
		}
	}
	if due == 0 || due == len(want) || len(ids) != due || !slices.IsSorted(ids) {
		t.Errorf("%d of %d due, %d queued: the cases should cover both outcomes", due, len(want), len(ids))
	}
}
