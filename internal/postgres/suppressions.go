package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

// suppressedWhy is why an email to a suppressed address is cancelled.
func suppressedWhy(reason string) string {
	return "the address is on the suppression list (" + reason + ")"
}

// suppress gives why[i] a reason for each claimed email whose address is
// on the suppression list (and had none yet), in one query. A claim reads
// a contractor's address with its suppression (readClaimed) and calls this
// for the others, so nothing reaches SMTP for an address that bounced or
// complained.
func suppress(ctx context.Context, q sqlx.QueryerContext, ds []*muster.Delivery, why []string) error {
	var emails []string
	for i, d := range ds {
		if why[i] == "" {
			emails = append(emails, strings.ToLower(d.Email))
		}
	}
	if len(emails) == 0 {
		return nil
	}
	var rows []struct {
		Email  string `db:"email"`
		Reason string `db:"reason"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT email, reason FROM suppressions WHERE email = ANY($1)`, pq.Array(emails)); err != nil {
		return fmt.Errorf("check the suppression list: %w", err)
	}
	listed := make(map[string]string, len(rows))
	for _, r := range rows {
		listed[r.Email] = r.Reason
	}
	for i, d := range ds {
		if r, ok := listed[strings.ToLower(d.Email)]; ok && why[i] == "" {
			why[i] = suppressedWhy(r)
		}
	}
	return nil
}

// ApplyMailEvent records a provider's report on an email. A hard bounce or
// a complaint gives the email that status (the contractor list's sending
// status shows it) and puts the address on the suppression list. The same
// report twice changes nothing the second time.
func (db *DB) ApplyMailEvent(ctx context.Context, ev muster.MailEvent) (*muster.MailEventResult, error) {
	var out muster.MailEventResult
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &out.Invitation, `
			SELECT `+invitationColumns+` FROM invitations WHERE id = $1 AND message_id = $2 FOR UPDATE`,
			ev.InvitationID, ev.MessageID)
		if errors.Is(err, sql.ErrNoRows) {
			return muster.NotFound("message_not_found", "no email was sent with Message-ID %s", ev.MessageID)
		}
		if err != nil {
			return fmt.Errorf("find invitation %d: %w", ev.InvitationID, err)
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO mail_events (invitation_id, type, bounce, at, detail) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (invitation_id, type, at) DO NOTHING`, ev.InvitationID, ev.Type, ev.Bounce, ev.At, ev.Detail)
		if err != nil {
			return fmt.Errorf("record mail event: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			out.Duplicate = true
		}
		if !ev.Suppresses() {
			return nil
		}
		status := muster.SendComplained
		if ev.Type == muster.MailBounced {
			status = muster.SendBounced
		}
		// A complaint outranks a bounce; neither undoes the other.
		if err := tx.GetContext(ctx, &out.Invitation, `
			UPDATE invitations SET status = $2
			 WHERE id = $1 AND status IN ('sent', 'bounced')
			RETURNING `+invitationColumns, ev.InvitationID, status); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mark invitation %d %s: %w", ev.InvitationID, status, err)
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO suppressions (email, reason, invitation_id, detail)
			SELECT COALESCE(c.email, mg.email), $2, i.id, $3
			  FROM invitations i
			  LEFT JOIN memberships m ON m.id = i.membership_id
			  LEFT JOIN contractors c ON c.id = m.contractor_id
			  LEFT JOIN managers mg ON mg.id = i.manager_id
			 WHERE i.id = $1
			ON CONFLICT (email) DO NOTHING`, ev.InvitationID, ev.Type, ev.Detail)
		if err != nil {
			return fmt.Errorf("suppress the address of invitation %d: %w", ev.InvitationID, err)
		}
		out.Suppressed = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListSuppressions returns the suppression list, newest first; email, when
// set, narrows it to that address.
func (db *DB) ListSuppressions(ctx context.Context, email string, limit int) ([]muster.Suppression, error) {
	out := []muster.Suppression{}
	err := db.SelectContext(ctx, &out, `
		SELECT email, reason, invitation_id, detail, created_at FROM suppressions
		 WHERE $1 = '' OR email = lower($1)
		 ORDER BY created_at DESC, email LIMIT $2`, email, limit)
	if err != nil {
		return nil, fmt.Errorf("list suppressions: %w", err)
	}
	return out, nil
}

// ClearSuppression takes an address off the list, so that mail to it
// goes out again (the person fixed their mailbox, or asked).
func (db *DB) ClearSuppression(ctx context.Context, email string) error {
	res, err := db.ExecContext(ctx, `DELETE FROM suppressions WHERE email = lower($1)`, email)
	if err != nil {
		return fmt.Errorf("clear suppression: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return muster.NotFound("suppression_not_found", "%s is not on the suppression list", email)
	}
	return nil
}

// StopReminders records a one-click unsubscribe from a reminder: that
// membership gets no more reminders; other emails and other accounts are
// untouched. Doing it twice is harmless.
func (db *DB) StopReminders(ctx context.Context, membershipID int64) error {
	res, err := db.ExecContext(ctx, `
		UPDATE memberships SET reminders_stopped_at = COALESCE(reminders_stopped_at, now()) WHERE id = $1`, membershipID)
	if err != nil {
		return fmt.Errorf("stop reminders of membership %d: %w", membershipID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return muster.NotFound("membership_not_found", "membership %d not found", membershipID)
	}
	return nil
}
