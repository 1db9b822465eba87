package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/muster-dev/muster/internal/muster"
)

const clientColumns = `c.id, c.name, c.merged_into_id, c.created_at,
	COALESCE((SELECT m.email FROM managers m WHERE m.client_id = c.id AND m.role = 'owner' AND m.status <> 'revoked'), '') AS owner_email`

// CreateClient creates a dashboard, its owner and its first account in one
// transaction. An owner email that already manages a dashboard is refused:
// one manager profile belongs to one dashboard.
func (db *DB) CreateClient(ctx context.Context, in muster.ClientDraft) (*muster.Client, *muster.Account, error) {
	var c muster.Client
	var a muster.Account
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &c.ID, `INSERT INTO clients (name) VALUES ($1) RETURNING id`, in.Name); err != nil {
			return fmt.Errorf("insert client: %w", err)
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO managers (client_id, email, role, locale, status, accepted_at)
			VALUES ($1, $2, 'owner', $3, 'active', now())`, c.ID, in.OwnerEmail, in.OwnerLocale)
		if isUnique(err, "managers_email_key") {
			return muster.Conflict("manager_email_taken",
				"%s already manages another dashboard; one manager profile belongs to one dashboard, so use another email", in.OwnerEmail)
		}
		if err != nil {
			return fmt.Errorf("insert owner: %w", err)
		}
		if err := tx.GetContext(ctx, &a, `
			INSERT INTO accounts (client_id, name) VALUES ($1, $2) RETURNING `+accountColumns, c.ID, in.AccountName); err != nil {
			return fmt.Errorf("insert first account: %w", err)
		}
		return getClient(ctx, tx, c.ID, &c)
	})
	if err != nil {
		return nil, nil, err
	}
	return &c, &a, nil
}

// FindClient returns a dashboard by id.
func (db *DB) FindClient(ctx context.Context, id int64) (*muster.Client, error) {
	var c muster.Client
	if err := getClient(ctx, db, id, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// lockLiveClient checks that a dashboard was not merged away and holds a
// share lock on it until the transaction ends: a change adding to the
// dashboard waits for a merge running on it, then sees it merged, instead
// of leaving an account or a manager behind in a merged-away dashboard.
func lockLiveClient(ctx context.Context, tx *sqlx.Tx, id int64) error {
	var c muster.Client
	err := tx.GetContext(ctx, &c, `SELECT `+clientColumns+` FROM clients c WHERE c.id = $1 FOR SHARE OF c`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return muster.NotFound("client_not_found", "client %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("lock client %d: %w", id, err)
	}
	if c.MergedIntoID != nil {
		return muster.Conflict("client_merged", "client %d was merged into client %d; work in that dashboard now", c.ID, *c.MergedIntoID)
	}
	return nil
}

func getClient(ctx context.Context, q sqlx.QueryerContext, id int64, c *muster.Client) error {
	err := sqlx.GetContext(ctx, q, c, `SELECT `+clientColumns+` FROM clients c WHERE c.id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return muster.NotFound("client_not_found", "client %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("find client %d: %w", id, err)
	}
	return nil
}

// SearchClients finds dashboards for staff: q is an id, a piece of an owner
// email, or a piece of a name (any case); empty lists all. Pages go in id
// order.
func (db *DB) SearchClients(ctx context.Context, q muster.ClientQuery) ([]muster.Client, error) {
	id, _ := strconv.ParseInt(q.Q, 10, 64)
	like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q.Q) + "%"
	out := []muster.Client{}
	err := db.SelectContext(ctx, &out, `SELECT `+clientColumns+` FROM clients c
		WHERE c.id > $1
		  AND ($2 = '' OR c.id = $3 OR c.name ILIKE $4
		       OR EXISTS (SELECT 1 FROM managers m WHERE m.client_id = c.id AND m.role = 'owner' AND m.status <> 'revoked' AND m.email ILIKE $4))
		ORDER BY c.id LIMIT $5`, q.After, q.Q, id, like, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("search clients %q: %w", q.Q, err)
	}
	return out, nil
}
