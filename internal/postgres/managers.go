package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

// managerColumns reads a manager with the accounts they reach: an owner
// reaches every account of the dashboard, anyone else the ones given.
const managerColumns = `m.id, m.client_id, m.email, m.full_name, m.role, m.locale, m.status, m.invited_by, m.created_at, m.accepted_at,
	CASE WHEN m.role = 'owner'
	     THEN ARRAY(SELECT a.id FROM accounts a WHERE a.client_id = m.client_id ORDER BY a.id)
	     ELSE ARRAY(SELECT ma.account_id FROM manager_accounts ma WHERE ma.manager_id = m.id ORDER BY 1)
	END AS account_ids`

type managerRow struct {
	muster.Manager
	IDs pq.Int64Array `db:"account_ids"`
}

func (r *managerRow) manager() muster.Manager {
	m := r.Manager
	m.AccountIDs = append([]int64{}, r.IDs...)
	return m
}

// InviteManager adds a manager to a dashboard with access to the given
// accounts and queues ONE invitation email listing them, in one
// transaction. The email is unique across dashboards: when two dashboards
// invite it at once, the unique index lets exactly one in, and the other
// is told to use another email.
func (db *DB) InviteManager(ctx context.Context, in muster.ManagerInvite) (*muster.Manager, *muster.Invitation, error) {
	var m muster.Manager
	var inv muster.Invitation
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		if err := lockLiveClient(ctx, tx, in.ClientID); err != nil {
			return err
		}
		if err := checkAccounts(ctx, tx, in.ClientID, in.AccountIDs); err != nil {
			return err
		}
		var invitedBy *int64
		if in.InvitedBy != 0 {
			invitedBy = &in.InvitedBy
		}
		// ON CONFLICT waits for a concurrent insert of the same email to
		// end, then yields no row if it committed.
		var id int64
		err := tx.GetContext(ctx, &id, `
			INSERT INTO managers (client_id, email, full_name, role, locale, invited_by)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (email) DO NOTHING RETURNING id`,
			in.ClientID, in.Email, in.FullName, in.Role, in.Locale, invitedBy)
		if errors.Is(err, sql.ErrNoRows) {
			return emailTaken(ctx, tx, in)
		}
		if err != nil {
			return fmt.Errorf("insert manager: %w", err)
		}
		if err := grantAccounts(ctx, tx, id, in.AccountIDs); err != nil {
			return err
		}
		if err := queueManagerInvitation(ctx, tx, id, in.Locale, &inv); err != nil {
			return err
		}
		return findManager(ctx, tx, id, &m)
	})
	if err != nil {
		return nil, nil, err
	}
	return &m, &inv, nil
}

// ResendManagerInvitation queues a new invitation email for a manager who
// has not accepted yet, for a link that expired or an email that was lost.
// Earlier links stay valid until they expire; the first one used wins.
func (db *DB) ResendManagerInvitation(ctx context.Context, managerID int64, interval time.Duration) (*muster.Invitation, error) {
	var inv muster.Invitation
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		var m muster.Manager
		err := tx.GetContext(ctx, &m, `SELECT id, status, locale FROM managers WHERE id = $1 FOR UPDATE`, managerID)
		if errors.Is(err, sql.ErrNoRows) {
			return muster.NotFound("manager_not_found", "manager %d not found", managerID)
		}
		if err != nil {
			return fmt.Errorf("find manager %d: %w", managerID, err)
		}
		if m.Status != muster.ManagerInvited {
			return muster.Conflict("manager_not_invited",
				"manager %d is %s; only an invitation that was not accepted yet can be sent again", managerID, m.Status)
		}
		if err := throttleResend(ctx, tx, "manager_id", managerID, interval, fmt.Sprintf("manager %d", managerID)); err != nil {
			return err
		}
		return queueManagerInvitation(ctx, tx, managerID, m.Locale, &inv)
	})
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

// queueManagerInvitation records a manager's invitation email; the caller
// enqueues it after commit (the requeue sweep covers a failed enqueue).
func queueManagerInvitation(ctx context.Context, tx *sqlx.Tx, managerID int64, locale muster.Locale, inv *muster.Invitation) error {
	err := tx.GetContext(ctx, inv, `
		INSERT INTO invitations (manager_id, kind, locale, enqueued_at)
		VALUES ($1, $2, $3, now()) RETURNING `+invitationColumns, managerID, muster.InviteManager, locale)
	if err != nil {
		return fmt.Errorf("queue invitation of manager %d: %w", managerID, err)
	}
	return nil
}

// emailTaken explains why a manager email cannot be invited.
func emailTaken(ctx context.Context, tx *sqlx.Tx, in muster.ManagerInvite) error {
	var other struct {
		ID       int64 `db:"id"`
		ClientID int64 `db:"client_id"`
	}
	err := tx.GetContext(ctx, &other, `SELECT id, client_id FROM managers WHERE email = $1`, in.Email)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("find manager %s: %w", in.Email, err)
	}
	if err == nil && other.ClientID == in.ClientID {
		return muster.Conflict("manager_exists",
			"%s is already manager %d of this dashboard; change their role or accounts with PATCH /v1/managers/%d, or send the invitation again with POST /v1/managers/%d/resend",
			in.Email, other.ID, other.ID, other.ID)
	}
	return muster.Conflict("manager_email_taken",
		"%s already belongs to another dashboard; one manager profile belongs to one dashboard, so create a new profile with another email address", in.Email)
}

// checkAccounts verifies that every id is an account of the dashboard, and
// keeps them there (FOR SHARE) until the transaction ends.
func checkAccounts(ctx context.Context, tx *sqlx.Tx, clientID int64, ids []int64) error {
	var found []int64
	err := tx.SelectContext(ctx, &found, `
		SELECT id FROM accounts WHERE id = ANY($1) AND client_id = $2 FOR SHARE`, pq.Array(ids), clientID)
	if err != nil {
		return fmt.Errorf("check accounts: %w", err)
	}
	for _, id := range ids {
		if !slices.Contains(found, id) {
			return muster.UnknownAccount(clientID, id)
		}
	}
	return nil
}

func grantAccounts(ctx context.Context, tx *sqlx.Tx, managerID int64, ids []int64) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO manager_accounts (manager_id, account_id)
		SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, managerID, pq.Array(ids))
	if err != nil {
		return fmt.Errorf("give accounts to manager %d: %w", managerID, err)
	}
	return nil
}

// UpdateManager changes a manager's role and accounts. The role applies to
// every account; the owner is not edited this way (it reaches every
// account and a dashboard keeps one). Tokens read role and accounts on
// every request, so the change holds from the next request on.
func (db *DB) UpdateManager(ctx context.Context, e muster.ManagerEdit) (*muster.Manager, error) {
	var m muster.Manager
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		// Lock first, then read in a fresh statement: a read that waited
		// for the lock would see the accounts as they were before it.
		if _, err := tx.ExecContext(ctx, `SELECT id FROM managers WHERE id = $1 FOR UPDATE`, e.ManagerID); err != nil {
			return fmt.Errorf("lock manager %d: %w", e.ManagerID, err)
		}
		if err := findManager(ctx, tx, e.ManagerID, &m); err != nil {
			return err
		}
		switch {
		case m.Status == muster.ManagerRevoked:
			return muster.Conflict("manager_revoked", "manager %d was revoked and cannot be edited", m.ID)
		case m.Role == muster.RoleOwner:
			return muster.Conflict("owner_not_editable",
				"manager %d is the owner: the owner reaches every account and keeps the owner role", m.ID)
		}
		if err := e.CheckRole(&m); err != nil {
			return err
		}
		if e.AccountIDs != nil {
			if err := checkAccounts(ctx, tx, m.ClientID, e.AccountIDs); err != nil {
				return err
			}
			next := e.Accounts(m.AccountIDs)
			_, err := tx.ExecContext(ctx, `
				DELETE FROM manager_accounts WHERE manager_id = $1 AND NOT (account_id = ANY($2))`, m.ID, pq.Array(next))
			if err != nil {
				return fmt.Errorf("remove accounts of manager %d: %w", m.ID, err)
			}
			if err := grantAccounts(ctx, tx, m.ID, next); err != nil {
				return err
			}
		}
		if e.Role != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE managers SET role = $2 WHERE id = $1`, m.ID, e.Role); err != nil {
				return fmt.Errorf("set role of manager %d: %w", m.ID, err)
			}
		}
		return findManager(ctx, tx, m.ID, &m)
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// AcceptManager accepts the manager invitation sent as invitation
// invitationID (the signed link says which): the manager becomes active
// with every account they were given, and gets an API token, returned in
// clear this once. A link works once: the manager's state is the record,
// so a second acceptance, by the same link or another, is refused.
func (db *DB) AcceptManager(ctx context.Context, invitationID int64, tokenName string) (*muster.Manager, string, error) {
	var m muster.Manager
	var token string
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		var row struct {
			ManagerID int64  `db:"manager_id"`
			ClientID  int64  `db:"client_id"`
			Status    string `db:"status"`
			Merged    *int64 `db:"merged_into_id"`
		}
		err := tx.GetContext(ctx, &row, `
			SELECT m.id AS manager_id, m.client_id, m.status, c.merged_into_id
			FROM invitations i
			JOIN managers m ON m.id = i.manager_id
			JOIN clients c ON c.id = m.client_id
			WHERE i.id = $1 AND i.kind = 'manager'
			FOR UPDATE OF m`, invitationID)
		if errors.Is(err, sql.ErrNoRows) {
			return muster.ErrInvitationToken
		}
		if err != nil {
			return fmt.Errorf("find manager invitation %d: %w", invitationID, err)
		}
		switch {
		case row.Merged != nil:
			return muster.Conflict("client_merged", "the dashboard of this invitation was merged into client %d; ask its owner for a new invitation", *row.Merged)
		case row.Status == muster.ManagerActive:
			return muster.Conflict("invitation_used", "this invitation was already accepted; an acceptance link works once")
		case row.Status == muster.ManagerRevoked:
			return muster.Conflict("manager_revoked", "manager %d was revoked; ask the dashboard for a new invitation", row.ManagerID)
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE managers SET status = 'active', accepted_at = now() WHERE id = $1`, row.ManagerID); err != nil {
			return fmt.Errorf("activate manager %d: %w", row.ManagerID, err)
		}
		if token, err = insertToken(ctx, tx, muster.TokenManager, &row.ClientID, &row.ManagerID, tokenName); err != nil {
			return err
		}
		return findManager(ctx, tx, row.ManagerID, &m)
	})
	if err != nil {
		return nil, "", err
	}
	return &m, token, nil
}

// FindManager returns a manager with the accounts they reach.
func (db *DB) FindManager(ctx context.Context, id int64) (*muster.Manager, error) {
	var m muster.Manager
	if err := findManager(ctx, db, id, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// ListManagers returns the managers of a dashboard, owner first.
func (db *DB) ListManagers(ctx context.Context, clientID int64) ([]muster.Manager, error) {
	var c muster.Client
	if err := getClient(ctx, db, clientID, &c); err != nil {
		return nil, err
	}
	var rows []managerRow
	err := db.SelectContext(ctx, &rows, `
		SELECT `+managerColumns+` FROM managers m WHERE m.client_id = $1 ORDER BY m.role <> 'owner', m.id`, clientID)
	if err != nil {
		return nil, fmt.Errorf("list managers of client %d: %w", clientID, err)
	}
	out := make([]muster.Manager, len(rows))
	for i := range rows {
		out[i] = rows[i].manager()
	}
	return out, nil
}

// findManager reads manager id into m.
func findManager(ctx context.Context, q sqlx.QueryerContext, id int64, m *muster.Manager) error {
	var row managerRow
	err := sqlx.GetContext(ctx, q, &row, `SELECT `+managerColumns+` FROM managers m WHERE m.id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return muster.NotFound("manager_not_found", "manager %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("find manager %d: %w", id, err)
	}
	*m = row.manager()
	return nil
}

// RemoveManager revokes a manager: their tokens stop working and their
// access ends at once, while the profile, the accounts they had and what
// they did stay for history. Removing a removed manager changes nothing.
// The owner is not removed.
func (db *DB) RemoveManager(ctx context.Context, id int64) (*muster.Manager, error) {
	var m muster.Manager
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT id FROM managers WHERE id = $1 FOR UPDATE`, id); err != nil {
			return fmt.Errorf("lock manager %d: %w", id, err)
		}
		if err := findManager(ctx, tx, id, &m); err != nil {
			return err
		}
		if m.Role == muster.RoleOwner {
			return muster.Conflict("owner_not_removable", "manager %d is the owner of the dashboard and cannot be removed", id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE managers SET status = 'revoked' WHERE id = $1`, id); err != nil {
			return fmt.Errorf("revoke manager %d: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE manager_id = $1 AND revoked_at IS NULL`, id); err != nil {
			return fmt.Errorf("revoke tokens of manager %d: %w", id, err)
		}
		return findManager(ctx, tx, id, &m)
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}
