package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

const invitationColumns = `id, membership_id, manager_id, kind, locale, status, attempts, last_error, queued_at, sent_at, message_id`

// ClaimInvitation takes the lease on an unsent invitation for one attempt
// and returns what the email needs. Only one worker can hold the lease
// (muster.ErrClaimed for the others); a lease left by a killed worker
// expires and the invitation becomes claimable again. An invitation that
// was sent, failed or cancelled is muster.ErrHandled. One whose reason
// vanished (the contractor was excluded, or registered before a sign-up
// email left; the manager accepted or was revoked) is cancelled here.
func (db *DB) ClaimInvitation(ctx context.Context, id int64, lease time.Duration) (*muster.Delivery, error) {
	var d muster.Delivery
	cancelled := false
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &d.Invitation, `
			UPDATE invitations
			   SET status = 'sending', attempts = attempts + 1, claimed_until = now() + make_interval(secs => $2)
			 WHERE id = $1
			   AND (status IN ('queued', 'retrying') OR (status = 'sending' AND claimed_until < now()))
			RETURNING `+invitationColumns, id, lease.Seconds())
		if errors.Is(err, sql.ErrNoRows) {
			return whyUnclaimable(ctx, tx, id)
		}
		if err != nil {
			return fmt.Errorf("claim invitation %d: %w", id, err)
		}
		var reason string
		switch {
		case d.Invitation.Kind == muster.InviteMerged:
			err = readMergeDelivery(ctx, tx, &d)
		case d.Invitation.ManagerID != nil:
			reason, err = readManagerDelivery(ctx, tx, &d)
		default:
			reason, err = readContractorDelivery(ctx, tx, &d)
		}
		if err != nil {
			return fmt.Errorf("read invitation %d: %w", id, err)
		}
		if reason == "" {
			return nil
		}
		cancelled = true
		return cancelInvitation(ctx, tx, id, reason)
	})
	if err != nil {
		return nil, err
	}
	if cancelled {
		return nil, muster.ErrHandled
	}
	return &d, nil
}

// readContractorDelivery fills d for an email to a contractor about one
// account, and says why it should no longer be sent, if it should not.
func readContractorDelivery(ctx context.Context, tx *sqlx.Tx, d *muster.Delivery) (cancel string, err error) {
	var row struct {
		Email        string     `db:"email"`
		FullName     string     `db:"full_name"`
		AccountName  string     `db:"account_name"`
		ClientName   string     `db:"client_name"`
		Feature      string     `db:"feature"`
		MemberStatus string     `db:"member_status"`
		RegisteredAt *time.Time `db:"registered_at"`
	}
	err = tx.GetContext(ctx, &row, `
		SELECT c.email, c.full_name, a.name AS account_name, cl.name AS client_name,
		       m.feature, m.status AS member_status, c.registered_at
		FROM memberships m
		JOIN contractors c ON c.id = m.contractor_id
		JOIN accounts a ON a.id = m.account_id
		JOIN clients cl ON cl.id = a.client_id
		WHERE m.id = $1`, d.Invitation.MembershipID)
	if err != nil {
		return "", err
	}
	d.Email, d.FullName, d.AccountName, d.ClientName, d.Feature =
		row.Email, row.FullName, row.AccountName, row.ClientName, row.Feature
	return muster.ContractorCancel(d.Invitation.Kind, row.MemberStatus, row.RegisteredAt != nil), nil
}

// readManagerDelivery fills d for a manager's invitation: the dashboard,
// the role, who invited them and the names of every account they get, as
// the accounts stand now (an edit before sending is reflected).
func readManagerDelivery(ctx context.Context, tx *sqlx.Tx, d *muster.Delivery) (cancel string, err error) {
	var row struct {
		Email        string         `db:"email"`
		FullName     string         `db:"full_name"`
		Role         string         `db:"role"`
		Status       string         `db:"status"`
		ClientName   string         `db:"client_name"`
		Inviter      string         `db:"inviter"`
		AccountNames pq.StringArray `db:"account_names"`
	}
	err = tx.GetContext(ctx, &row, `
		SELECT m.email, m.full_name, m.role, m.status, cl.name AS client_name,
		       COALESCE(NULLIF(inv.full_name, ''), inv.email, '') AS inviter,
		       ARRAY(SELECT a.name FROM manager_accounts ma JOIN accounts a ON a.id = ma.account_id
		              WHERE ma.manager_id = m.id ORDER BY a.name, a.id) AS account_names
		FROM managers m
		JOIN clients cl ON cl.id = m.client_id
		LEFT JOIN managers inv ON inv.id = m.invited_by
		WHERE m.id = $1`, d.Invitation.ManagerID)
	if err != nil {
		return "", err
	}
	d.Email, d.FullName, d.Role, d.ClientName, d.Inviter, d.AccountNames =
		row.Email, row.FullName, row.Role, row.ClientName, row.Inviter, row.AccountNames
	return muster.ManagerCancel(row.Status), nil
}

// readMergeDelivery fills d for a merge notice: which dashboards went into
// which, and the accounts that concern the reader, under their new names.
// It is sent whatever the reader's state: a source owner is revoked by the
// merge and is told so.
func readMergeDelivery(ctx context.Context, tx *sqlx.Tx, d *muster.Delivery) error {
	var row struct {
		Email    string `db:"email"`
		FullName string `db:"full_name"`
		Role     string `db:"role"`
		Plan     []byte `db:"plan"`
	}
	err := tx.GetContext(ctx, &row, `
		SELECT m.email, m.full_name, m.role, g.plan
		  FROM invitations i JOIN managers m ON m.id = i.manager_id JOIN merges g ON g.id = i.merge_id
		 WHERE i.id = $1`, d.Invitation.ID)
	if err != nil {
		return err
	}
	var plan muster.MergePlan
	if err := json.Unmarshal(row.Plan, &plan); err != nil {
		return fmt.Errorf("decode merge plan: %w", err)
	}
	d.Email, d.FullName, d.ClientName = row.Email, row.FullName, plan.Target.Name
	d.Audience, d.Sources, d.AccountNames = muster.MergeNotice(&plan, row.Email, row.Role)
	return nil
}

func whyUnclaimable(ctx context.Context, tx *sqlx.Tx, id int64) error {
	var status string
	err := tx.GetContext(ctx, &status, `SELECT status FROM invitations WHERE id = $1`, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return muster.NotFound("invitation_not_found", "invitation %d not found", id)
	case err != nil:
		return fmt.Errorf("read invitation %d: %w", id, err)
	case status == muster.SendSending:
		return muster.ErrClaimed
	default:
		return muster.ErrHandled
	}
}

func cancelInvitation(ctx context.Context, tx *sqlx.Tx, id int64, reason string) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE invitations SET status = 'cancelled', last_error = $2, claimed_until = NULL WHERE id = $1`, id, reason)
	if err != nil {
		return fmt.Errorf("cancel invitation %d: %w", id, err)
	}
	return nil
}

// MarkSent records that the SMTP server accepted attempt n.
func (db *DB) MarkSent(ctx context.Context, id int64, attempt int, messageID string, at time.Time) error {
	_, err := db.ExecContext(ctx, `
		UPDATE invitations
		   SET status = 'sent', sent_at = $4, message_id = $3, last_error = '', claimed_until = NULL
		 WHERE id = $1 AND status = 'sending' AND attempts = $2`, id, attempt, messageID, at)
	if err != nil {
		return fmt.Errorf("mark invitation %d sent: %w", id, err)
	}
	return nil
}

// MarkFailed records a failed attempt n: retrying when another attempt is
// due, failed for good when final.
func (db *DB) MarkFailed(ctx context.Context, id int64, attempt int, reason string, final bool) error {
	status := muster.SendRetrying
	if final {
		status = muster.SendFailed
	}
	_, err := db.ExecContext(ctx, `
		UPDATE invitations SET status = $3, last_error = $4, claimed_until = NULL
		 WHERE id = $1 AND status = 'sending' AND attempts = $2`, id, attempt, status, reason)
	if err != nil {
		return fmt.Errorf("mark invitation %d %s: %w", id, status, err)
	}
	return nil
}

// FindInvitation returns one invitation.
func (db *DB) FindInvitation(ctx context.Context, id int64) (*muster.Invitation, error) {
	var inv muster.Invitation
	err := db.GetContext(ctx, &inv, `SELECT `+invitationColumns+` FROM invitations WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, muster.NotFound("invitation_not_found", "invitation %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("find invitation %d: %w", id, err)
	}
	return &inv, nil
}

// TakeUnsent returns up to limit unsent invitations last enqueued before
// olderThan ago (or whose worker lease ran out), stamping them as enqueued
// now. Rows locked by another sweeper are skipped, so two schedulers never
// take the same row.
func (db *DB) TakeUnsent(ctx context.Context, olderThan time.Duration, limit int) ([]muster.Unsent, error) {
	var out []muster.Unsent
	err := db.SelectContext(ctx, &out, `
		UPDATE invitations SET enqueued_at = now()
		 WHERE id IN (
		       SELECT id FROM invitations
		        WHERE status IN ('queued', 'retrying', 'sending')
		          AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => $1))
		          AND (status <> 'sending' OR claimed_until < now())
		        ORDER BY enqueued_at NULLS FIRST
		        LIMIT $2
		        FOR UPDATE SKIP LOCKED)
		RETURNING id, kind, import_id, import_batch`, olderThan.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("take unsent invitations: %w", err)
	}
	return out, nil
}
