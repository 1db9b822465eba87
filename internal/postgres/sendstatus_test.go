package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

// The list shows a contractor's latest email (the first one or a resend;
// not a reminder) as its sending status, and when it last went out.
func TestListShowsTheLatestEmail(t *testing.T) {
	t.Parallel()
	db, acc := setup(t)
	ctx := context.Background()
	res, err := invite(t, db, acc.ID, "anna@example.test")
	if err != nil {
		t.Fatal(err)
	}
	other, err := invite(t, db, acc.ID, "boris@example.test")
	if err != nil {
		t.Fatal(err)
	}
	shows := func(memberID int64, status string, sentAt time.Time) {
		t.Helper()
		var got struct {
			Status string     `db:"send_status"`
			SentAt *time.Time `db:"last_sent_at"`
		}
		if err := db.GetContext(ctx, &got, `SELECT send_status, last_sent_at FROM memberships WHERE id = $1`, memberID); err != nil {
			t.Fatal(err)
		}
		if got.Status != status || (got.SentAt == nil) != sentAt.IsZero() || (got.SentAt != nil && !got.SentAt.Equal(sentAt)) {
			t.Fatalf("membership %d shows %s sent at %v; want %s at %v", memberID, got.Status, got.SentAt, status, sentAt)
		}
	}
	send := func(id int64, at time.Time) {
		t.Helper()
		d, err := db.ClaimInvitation(ctx, id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		out := muster.Outcome{InvitationID: id, Attempt: d.Invitation.Attempts, Status: muster.SendSent, MessageID: "m", At: at}
		if err := db.RecordOutcomes(ctx, []muster.Outcome{out}); err != nil {
			t.Fatal(err)
		}
	}
	first := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	anna, boris := res.Membership.ID, other.Membership.ID

	// A claim leaves the status before the attempt.
	if _, err := db.ClaimInvitation(ctx, res.Invitation.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	shows(anna, muster.SendQueued, time.Time{})
	if err := db.RecordOutcomes(ctx, []muster.Outcome{{InvitationID: res.Invitation.ID, Attempt: 1, Status: muster.SendSent, MessageID: "m", At: first}}); err != nil {
		t.Fatal(err)
	}
	shows(anna, muster.SendSent, first)
	shows(boris, muster.SendQueued, time.Time{})

	// A resend: queued, then sent later.
	again, err := db.Resend(ctx, acc.ID, res.Contractor.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	shows(anna, muster.SendQueued, first)
	second := first.Add(time.Hour)
	send(again.ID, second)
	shows(anna, muster.SendSent, second)

	// A statement over both of Anna's emails and Boris's: the older
	// email's change does not show, the others' do.
	if _, err := db.ExecContext(ctx, `UPDATE invitations SET status = CASE id WHEN $2 THEN 'cancelled' ELSE 'failed' END
		WHERE id = ANY($1)`, pq.Array([]int64{res.Invitation.ID, again.ID, other.Invitation.ID}), res.Invitation.ID); err != nil {
		t.Fatal(err)
	}
	shows(anna, muster.SendFailed, second)
	shows(boris, muster.SendFailed, time.Time{})
	if _, err := db.ExecContext(ctx, `UPDATE invitations SET status = 'cancelled' WHERE id = $1`, res.Invitation.ID); err != nil {
		t.Fatal(err)
	}
	shows(anna, muster.SendFailed, second)

	// A reminder has its own history, in the card.
	var reminder int64
	if err := db.GetContext(ctx, &reminder, `INSERT INTO invitations (membership_id, kind, locale, step)
		VALUES ($1, 'reminder', 'ru', 1) RETURNING id`, anna); err != nil {
		t.Fatal(err)
	}
	send(reminder, second.Add(time.Hour))
	shows(anna, muster.SendFailed, second)
}
