package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/muster-dev/muster/internal/muster"
)

const accountColumns = `id, client_id, name, kyb_status, based_on_account_id, kyb_decided_at, created_at`

// CreateAccount adds an account to a dashboard. From scratch it starts with
// KYB pending; based on another account of the same dashboard that passed
// KYB it reuses that verification.
func (db *DB) CreateAccount(ctx context.Context, clientID int64, name string, basedOn *int64) (*muster.Account, error) {
	return db.CreateAccountFor(ctx, 0, clientID, name, basedOn)
}

// CreateAccountFor is CreateAccount made by a manager who reaches only the
// accounts given to them: the base must be one of those, and the new
// account is given to managerID in the same transaction, or its creator
// could not see it. managerID 0 is the dashboard itself.
func (db *DB) CreateAccountFor(ctx context.Context, managerID, clientID int64, name string, basedOn *int64) (*muster.Account, error) {
	var a muster.Account
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		if err := lockLiveClient(ctx, tx, clientID); err != nil {
			return err
		}
		kyb := muster.KYBPending
		if basedOn != nil {
			base, err := findAccount(ctx, tx, *basedOn)
			if err == nil && managerID != 0 {
				err = checkGiven(ctx, tx, managerID, base.ID)
			}
			if muster.ErrorKind(err) == muster.KindNotFound || (err == nil && base.ClientID != clientID) {
				return muster.Invalid("invalid_based_on_account_id", "based_on_account_id %d is not an account of client %d", *basedOn, clientID)
			}
			if err != nil {
				return err
			}
			if base.KYBStatus != muster.KYBVerified {
				return muster.Invalid("base_account_not_verified",
					"account %d has not passed KYB (status %s); create the account from scratch or base it on a verified one", base.ID, base.KYBStatus)
			}
			kyb = muster.KYBVerified
		}
		err := tx.GetContext(ctx, &a, `
			INSERT INTO accounts (client_id, name, kyb_status, based_on_account_id, kyb_decided_at)
			VALUES ($1, $2, $3, $4, CASE WHEN $3 = 'verified' THEN now() END) RETURNING `+accountColumns, clientID, name, kyb, basedOn)
		if err != nil {
			return fmt.Errorf("insert account: %w", err)
		}
		if managerID == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO manager_accounts (manager_id, account_id) VALUES ($1, $2)`, managerID, a.ID)
		if err != nil {
			return fmt.Errorf("give account %d to manager %d: %w", a.ID, managerID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// checkGiven reports an account that was not given to the manager as not
// found: to that manager it does not exist.
func checkGiven(ctx context.Context, tx *sqlx.Tx, managerID, accountID int64) error {
	var given bool
	err := tx.GetContext(ctx, &given, `
		SELECT EXISTS (SELECT 1 FROM manager_accounts WHERE manager_id = $1 AND account_id = $2)`, managerID, accountID)
	if err != nil {
		return fmt.Errorf("check access of manager %d: %w", managerID, err)
	}
	if !given {
		return muster.NotFound("account_not_found", "account %d not found", accountID)
	}
	return nil
}

// ListAccounts returns the accounts of a dashboard, oldest first.
func (db *DB) ListAccounts(ctx context.Context, clientID int64) ([]muster.Account, error) {
	var c muster.Client
	if err := getClient(ctx, db, clientID, &c); err != nil {
		return nil, err
	}
	out := []muster.Account{}
	if err := db.SelectContext(ctx, &out, `SELECT `+accountColumns+` FROM accounts WHERE client_id = $1 ORDER BY id`, clientID); err != nil {
		return nil, fmt.Errorf("list accounts of client %d: %w", clientID, err)
	}
	return out, nil
}

// DecideKYB records staff's KYB decision on an account: verified or
// rejected. Deciding what is already recorded changes nothing, so the
// call can be repeated. A verified account stays verified: other accounts
// may already reuse its verification.
func (db *DB) DecideKYB(ctx context.Context, accountID int64, status string) (*muster.Account, error) {
	var a muster.Account
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &a, `SELECT `+accountColumns+` FROM accounts WHERE id = $1 FOR UPDATE`, accountID)
		if errors.Is(err, sql.ErrNoRows) {
			return muster.NotFound("account_not_found", "account %d not found", accountID)
		}
		if err != nil {
			return fmt.Errorf("find account %d: %w", accountID, err)
		}
		switch {
		case a.KYBStatus == status:
			return nil
		case a.KYBStatus == muster.KYBVerified:
			return muster.Conflict("kyb_final",
				"account %d passed KYB; a verification is final because other accounts may reuse it", accountID)
		}
		err = tx.GetContext(ctx, &a, `
			UPDATE accounts SET kyb_status = $2, kyb_decided_at = now() WHERE id = $1 RETURNING `+accountColumns, accountID, status)
		if err != nil {
			return fmt.Errorf("record KYB of account %d: %w", accountID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// FindAccount returns an account by id.
func (db *DB) FindAccount(ctx context.Context, id int64) (*muster.Account, error) {
	return findAccount(ctx, db, id)
}

func findAccount(ctx context.Context, q sqlx.QueryerContext, id int64) (*muster.Account, error) {
	var a muster.Account
	err := sqlx.GetContext(ctx, q, &a, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, muster.NotFound("account_not_found", "account %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("find account %d: %w", id, err)
	}
	return &a, nil
}
