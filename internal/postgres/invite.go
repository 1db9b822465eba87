package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

// Invite brings a contractor into an account in one transaction: it reuses
// or creates the global profile, creates the membership (or revives an
// excluded one) and queues the email. A contractor who already registered
// is linked at once and gets the "added" notice instead of a sign-up
// invitation. Inviting someone who is already in the account is a conflict.
func (db *DB) Invite(ctx context.Context, in muster.Invite) (*muster.Invited, error) {
	var out muster.Invited
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		acc, err := findAccount(ctx, tx, in.AccountID)
		if err != nil {
			return err
		}
		if err := checkManagers(ctx, tx, acc, in.ManagerIDs); err != nil {
			return err
		}
		if err := upsertContractor(ctx, tx, in, &out.Contractor); err != nil {
			return err
		}
		join := muster.JoinFor(out.Contractor)
		out.Linked = join.Linked
		if err := joinAccount(ctx, tx, in, out.Contractor.ID, join, &out.Membership); err != nil {
			return err
		}
		return queueInvitation(ctx, tx, out.Membership.ID, join.Kind, in.Locale, &out.Invitation)
	})
	if err != nil {
		return nil, err
	}
	out.Membership.ManagerIDs = append([]int64{}, in.ManagerIDs...)
	out.Contractor = out.Contractor.SeenIn(out.Membership)
	return &out, nil
}

// checkManagers verifies that every assigned manager belongs to the
// account's dashboard and can reach the account.
func checkManagers(ctx context.Context, tx *sqlx.Tx, acc *muster.Account, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	var ok []int64
	err := tx.SelectContext(ctx, &ok, `
		SELECT m.id FROM managers m
		WHERE m.id = ANY($1) AND m.client_id = $2 AND m.status <> 'revoked'
		  AND (m.role = 'owner' OR EXISTS (
		        SELECT 1 FROM manager_accounts ma WHERE ma.manager_id = m.id AND ma.account_id = $3))`,
		pq.Array(ids), acc.ClientID, acc.ID)
	if err != nil {
		return fmt.Errorf("check managers: %w", err)
	}
	for _, id := range ids {
		if !slices.Contains(ok, id) {
			return muster.Invalid("unknown_manager", "manager %d is not a manager with access to account %d", id, acc.ID)
		}
	}
	return nil
}

func upsertContractor(ctx context.Context, tx *sqlx.Tx, in muster.Invite, c *muster.Contractor) error {
	// The profile is global and holds only what the contractor gave: the
	// name a client typed goes to its membership (joinAccount).
	err := tx.GetContext(ctx, c, `
		INSERT INTO contractors (email) VALUES ($1)
		ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
		RETURNING `+contractorColumns, in.Email)
	if err != nil {
		return fmt.Errorf("upsert contractor: %w", err)
	}
	return nil
}

func joinAccount(ctx context.Context, tx *sqlx.Tx, in muster.Invite, contractorID int64, join muster.Join, m *muster.Membership) error {
	err := tx.GetContext(ctx, m, `
		INSERT INTO memberships (account_id, contractor_id, feature, locale, status, linked_at, full_name)
		VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() END, $7)
		ON CONFLICT (account_id, contractor_id) DO NOTHING
		RETURNING `+membershipColumns, in.AccountID, contractorID, in.Feature, in.Locale, join.Status, join.Linked, in.FullName)
	if errors.Is(err, sql.ErrNoRows) {
		err = rejoinAccount(ctx, tx, in, contractorID, join.Status, m)
	}
	if err != nil {
		return err
	}
	return assignManagers(ctx, tx, m.ID, in.ManagerIDs)
}

// rejoinAccount handles a membership that already exists, as
// muster.Rejoin decides.
func rejoinAccount(ctx context.Context, tx *sqlx.Tx, in muster.Invite, contractorID int64, status string, m *muster.Membership) error {
	err := tx.GetContext(ctx, m, `
		SELECT `+membershipColumns+` FROM memberships WHERE account_id = $1 AND contractor_id = $2 FOR UPDATE`, in.AccountID, contractorID)
	if err != nil {
		return fmt.Errorf("find membership: %w", err)
	}
	if err := muster.Rejoin(in.Email, in.AccountID, *m); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM membership_managers WHERE membership_id = $1`, m.ID); err != nil {
		return fmt.Errorf("reset managers: %w", err)
	}
	err = tx.GetContext(ctx, m, `
		UPDATE memberships
		   SET status = $2, feature = $3, locale = $4, invited_at = now(), excluded_at = NULL,
		       linked_at = CASE WHEN $2 = 'active' THEN now() END, send_status = 'queued',
		       full_name = COALESCE(NULLIF((SELECT full_name FROM contractors WHERE id = contractor_id), ''), $5)
		 WHERE id = $1 RETURNING `+membershipColumns, m.ID, status, in.Feature, in.Locale, in.FullName)
	if err != nil {
		return fmt.Errorf("revive membership: %w", err)
	}
	return nil
}

// queueInvitation records an email to send. enqueued_at is set now because
// the caller enqueues right after commit; should that fail, the requeue
// sweep finds the row once RequeueAfter has passed.
func queueInvitation(ctx context.Context, tx *sqlx.Tx, membershipID int64, kind string, locale muster.Locale, inv *muster.Invitation) error {
	err := tx.GetContext(ctx, inv, `
		INSERT INTO invitations (membership_id, kind, locale, enqueued_at)
		VALUES ($1, $2, $3, now()) RETURNING `+invitationColumns, membershipID, kind, locale)
	if err != nil {
		return fmt.Errorf("queue invitation: %w", err)
	}
	return nil
}
