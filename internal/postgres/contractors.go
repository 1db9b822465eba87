package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

const (
	contractorColumns = `id, email, full_name, phone, registered_at, phone_verified_at, tax_status,
		tax_status_set_at, payment_method_linked_at, created_at`
	membershipColumns = `id, account_id, contractor_id, feature, notes, locale, status, send_status, full_name, phone,
		invited_at, linked_at, excluded_at`
)

// ContractorCard returns a contractor of one account: profile, stages,
// membership, emails and tasks. A contractor who is not in the account is
// not found, whatever other accounts they are in.
func (db *DB) ContractorCard(ctx context.Context, accountID, contractorID int64) (*muster.Card, error) {
	var card muster.Card
	m, err := findMembership(ctx, db, accountID, contractorID, false)
	if err != nil {
		return nil, err
	}
	card.Membership = *m
	if err := db.GetContext(ctx, &card.Contractor, `SELECT `+contractorColumns+` FROM contractors WHERE id = $1`, contractorID); err != nil {
		return nil, fmt.Errorf("find contractor %d: %w", contractorID, err)
	}
	var managers pq.Int64Array
	if err := db.GetContext(ctx, &managers, `
		SELECT ARRAY(SELECT manager_id FROM membership_managers WHERE membership_id = $1 ORDER BY 1)`, m.ID); err != nil {
		return nil, fmt.Errorf("find assigned managers: %w", err)
	}
	card.Membership.ManagerIDs = append([]int64{}, managers...)
	card.Invitations = []muster.Invitation{}
	if err := db.SelectContext(ctx, &card.Invitations, `
		SELECT `+invitationColumns+` FROM invitations WHERE membership_id = $1 ORDER BY id`, m.ID); err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	if card.Tasks, err = tasksOf(ctx, db, m.ID); err != nil {
		return nil, err
	}
	card.Contractor = card.Contractor.SeenIn(card.Membership)
	card.Stages = muster.BuildStages(&card.Contractor, &card.Membership, card.Invitations)
	card.Incomplete = muster.Incomplete(&card.Contractor)
	return &card, nil
}

// findMembership returns the contractor's membership in the account,
// locked for update when lock is set.
func findMembership(ctx context.Context, q sqlx.QueryerContext, accountID, contractorID int64, lock bool) (*muster.Membership, error) {
	query := `SELECT ` + membershipColumns + ` FROM memberships WHERE account_id = $1 AND contractor_id = $2`
	if lock {
		query += ` FOR UPDATE`
	}
	var m muster.Membership
	err := sqlx.GetContext(ctx, q, &m, query, accountID, contractorID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, muster.NotFound("contractor_not_found", "contractor %d is not in account %d", contractorID, accountID)
	}
	if err != nil {
		return nil, fmt.Errorf("find membership: %w", err)
	}
	return &m, nil
}

// UpdateCard changes the feature, notes and assigned managers of a
// contractor in an account.
func (db *DB) UpdateCard(ctx context.Context, accountID, contractorID int64, u muster.CardUpdate) error {
	return db.Transact(ctx, func(tx *sqlx.Tx) error {
		m, err := findMembership(ctx, tx, accountID, contractorID, true)
		if err != nil {
			return err
		}
		if u.Feature != nil || u.Notes != nil {
			_, err := tx.ExecContext(ctx, `
				UPDATE memberships SET feature = COALESCE($2, feature), notes = COALESCE($3, notes) WHERE id = $1`,
				m.ID, u.Feature, u.Notes)
			if err != nil {
				return fmt.Errorf("update card: %w", err)
			}
		}
		if u.ManagerIDs == nil {
			return nil
		}
		acc, err := findAccount(ctx, tx, accountID)
		if err != nil {
			return err
		}
		if err := checkManagers(ctx, tx, acc, *u.ManagerIDs); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM membership_managers WHERE membership_id = $1`, m.ID); err != nil {
			return fmt.Errorf("reset managers: %w", err)
		}
		return assignManagers(ctx, tx, m.ID, *u.ManagerIDs)
	})
}

func assignManagers(ctx context.Context, tx *sqlx.Tx, membershipID int64, ids []int64) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO membership_managers (membership_id, manager_id)
		SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, membershipID, pq.Array(ids))
	if err != nil {
		return fmt.Errorf("assign managers: %w", err)
	}
	return nil
}

// Resend queues the sign-up invitation again, in the language it was first
// sent in. It is refused for a contractor who registered or was excluded,
// and at most one email goes out per interval: the error then says when
// the next one is allowed.
func (db *DB) Resend(ctx context.Context, accountID, contractorID int64, interval time.Duration) (*muster.Invitation, error) {
	var inv muster.Invitation
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		m, err := findMembership(ctx, tx, accountID, contractorID, true)
		if err != nil {
			return err
		}
		switch m.Status {
		case muster.MemberExcluded:
			return muster.Conflict("contractor_excluded", "contractor %d was excluded from account %d; invite them again instead", contractorID, accountID)
		case muster.MemberActive:
			return muster.Conflict("already_registered", "contractor %d has registered and is linked to account %d; there is nothing to resend", contractorID, accountID)
		}
		if err := throttleResend(ctx, tx, "membership_id", m.ID, interval, fmt.Sprintf("contractor %d", contractorID)); err != nil {
			return err
		}
		return queueResend(ctx, tx, m, &inv)
	})
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

// throttleResend refuses a resend when an email of the same membership or
// manager (column: membership_id or manager_id) was queued less than
// interval ago; the caller holds that row's lock.
func throttleResend(ctx context.Context, tx *sqlx.Tx, column string, id int64, interval time.Duration, who string) error {
	var wait float64
	err := tx.GetContext(ctx, &wait, `
		SELECT COALESCE(EXTRACT(EPOCH FROM max(queued_at) + make_interval(secs => $2) - now()), 0)
		  FROM invitations WHERE `+column+` = $1`, id, interval.Seconds())
	if err != nil {
		return fmt.Errorf("check resend throttle: %w", err)
	}
	if wait <= 0 {
		return nil
	}
	retry := time.Duration(wait * float64(time.Second))
	e := muster.Errorf(muster.KindRateLimited, "resend_throttled",
		"an invitation was sent to %s less than %s ago; the next is allowed in %s", who, interval, retry.Round(time.Second))
	e.RetryAfter = retry
	return e
}

// queueResend queues the invitation again, in the membership's language,
// and shows it as the membership's sending status.
func queueResend(ctx context.Context, tx *sqlx.Tx, m *muster.Membership, inv *muster.Invitation) error {
	if err := queueInvitation(ctx, tx, m.ID, muster.InviteResend, m.Locale, inv); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE memberships SET send_status = 'queued' WHERE id = $1`, m.ID); err != nil {
		return fmt.Errorf("mark membership queued: %w", err)
	}
	return nil
}

// Exclude removes a contractor from an account: the membership stays for
// history as excluded, and every email not sent yet (invitation, resend,
// reminder) is cancelled. Excluding twice is harmless; inviting again
// undoes it.
func (db *DB) Exclude(ctx context.Context, accountID, contractorID int64) (*muster.Membership, error) {
	var m *muster.Membership
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		var err error
		if m, err = findMembership(ctx, tx, accountID, contractorID, true); err != nil {
			return err
		}
		if m.Status == muster.MemberExcluded {
			return nil
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE invitations SET status = 'cancelled', last_error = 'the contractor was excluded from the account', claimed_until = NULL
			 WHERE membership_id = $1 AND status IN ('queued', 'retrying')`, m.ID)
		if err != nil {
			return fmt.Errorf("cancel pending emails: %w", err)
		}
		return tx.GetContext(ctx, m, `
			UPDATE memberships SET status = 'excluded', excluded_at = now() WHERE id = $1 RETURNING `+membershipColumns, m.ID)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
