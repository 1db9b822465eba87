package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/muster-dev/muster/internal/muster"
)

const accountColumns = `id, client_id, name, kyb_status, based_on_account_id, created_at`

// CreateAccount adds an account to a dashboard. From scratch it starts with
// KYB pending; based on another account of the same dashboard that passed
// KYB it reuses that verification.
func (db *DB) CreateAccount(ctx context.Context, clientID int64, name string, basedOn *int64) (*muster.Account, error) {
	var a muster.Account
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		var c muster.Client
		if err := getClient(ctx, tx, clientID, &c); err != nil {
			return err
		}
		if c.MergedIntoID != nil {
			return muster.Conflict("client_merged", "client %d was merged into client %d; add the account there", c.ID, *c.MergedIntoID)
		}
		kyb := muster.KYBPending
		if basedOn != nil {
			base, err := findAccount(ctx, tx, *basedOn)
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
		return tx.GetContext(ctx, &a, `
			INSERT INTO accounts (client_id, name, kyb_status, based_on_account_id)
			VALUES ($1, $2, $3, $4) RETURNING `+accountColumns, clientID, name, kyb, basedOn)
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
