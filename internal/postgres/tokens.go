package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

// tokenPrefix marks Muster tokens so that secret scanners can find leaks.
const tokenPrefix = "mst_"

// CreateToken makes an API token and returns it in clear, the only time it
// is ever visible: the database keeps its SHA-256 alone. A token of 256
// random bits needs no slow hash; nobody can guess one to test it.
func (db *DB) CreateToken(ctx context.Context, kind string, clientID, managerID int64, name string) (string, error) {
	var cid, mid *int64
	switch kind {
	case muster.TokenStaff:
	case muster.TokenClient:
		c, err := db.FindClient(ctx, clientID)
		if err != nil {
			return "", err
		}
		if c.MergedIntoID != nil {
			return "", muster.Conflict("client_merged", "client %d was merged into client %d", c.ID, *c.MergedIntoID)
		}
		cid = &clientID
	case muster.TokenManager:
		var m struct {
			ClientID int64  `db:"client_id"`
			Status   string `db:"status"`
		}
		err := db.GetContext(ctx, &m, `SELECT client_id, status FROM managers WHERE id = $1`, managerID)
		if errors.Is(err, sql.ErrNoRows) {
			return "", muster.NotFound("manager_not_found", "manager %d not found", managerID)
		}
		if err != nil {
			return "", fmt.Errorf("find manager %d: %w", managerID, err)
		}
		if m.Status != muster.ManagerActive {
			return "", muster.Conflict("manager_not_active", "manager %d is %s; only an active manager gets a token", managerID, m.Status)
		}
		cid, mid = &m.ClientID, &managerID
	default:
		return "", muster.Invalid("invalid_token_kind", "token kind %q is not staff, client or manager", kind)
	}
	return insertToken(ctx, db, kind, cid, mid, name)
}

// insertToken stores a new token of the given scope and returns it in clear.
func insertToken(ctx context.Context, e sqlx.ExecerContext, kind string, clientID, managerID *int64, name string) (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("token entropy: %w", err)
	}
	plain := tokenPrefix + base64.RawURLEncoding.EncodeToString(buf)
	_, err := e.ExecContext(ctx, `
		INSERT INTO api_tokens (kind, client_id, manager_id, name, hash) VALUES ($1, $2, $3, $4, $5)`,
		kind, clientID, managerID, name, hashToken(plain))
	if err != nil {
		return "", fmt.Errorf("insert token: %w", err)
	}
	return plain, nil
}

// Authenticate resolves a bearer token to the actor it speaks for. Tokens of
// a merged-away dashboard, of a revoked manager, or revoked themselves are
// refused. A manager's role and accounts are read afresh on every call, so
// access edits take effect at once.
func (db *DB) Authenticate(ctx context.Context, token string) (*muster.Actor, error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return nil, errBadToken
	}
	// The same round trip records the use, at most once a minute per token
	// so that a busy token does not rewrite its row on every request.
	return actorWhere(ctx, db, `
		WITH used AS (
		    UPDATE api_tokens SET last_used_at = now()
		     WHERE hash = $1 AND revoked_at IS NULL
		       AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))
		`+actorSelect+` AND t.hash = $1`, hashToken(token))
}

// actorSelect reads the actor of a live token: not revoked, not of a
// merged-away dashboard, not of a manager who is no longer active.
const actorSelect = `
		SELECT t.id, t.kind, t.name, t.client_id, t.manager_id, m.role,
		       ARRAY(SELECT ma.account_id FROM manager_accounts ma WHERE ma.manager_id = t.manager_id ORDER BY 1) AS account_ids
		FROM api_tokens t
		LEFT JOIN clients c ON c.id = t.client_id
		LEFT JOIN managers m ON m.id = t.manager_id
		WHERE t.revoked_at IS NULL
		  AND (t.client_id IS NULL OR c.merged_into_id IS NULL)
		  AND (t.manager_id IS NULL OR (m.status = 'active' AND m.client_id = t.client_id))`

// actorWhere runs a query built on actorSelect and reads its one actor.
func actorWhere(ctx context.Context, db *DB, query string, args ...any) (*muster.Actor, error) {
	var row struct {
		ID         int64          `db:"id"`
		Kind       string         `db:"kind"`
		Name       string         `db:"name"`
		ClientID   sql.NullInt64  `db:"client_id"`
		ManagerID  sql.NullInt64  `db:"manager_id"`
		Role       sql.NullString `db:"role"`
		AccountIDs pq.Int64Array  `db:"account_ids"`
	}
	err := db.GetContext(ctx, &row, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return &muster.Actor{
		TokenID:    row.ID,
		Kind:       row.Kind,
		Name:       row.Name,
		ClientID:   row.ClientID.Int64,
		ManagerID:  row.ManagerID.Int64,
		Role:       row.Role.String,
		AccountIDs: row.AccountIDs,
	}, nil
}

var errBadToken = muster.Errorf(muster.KindUnauthenticated, "invalid_token", "the bearer token is unknown, revoked or no longer valid")

func hashToken(plain string) []byte {
	sum := sha256.Sum256([]byte(plain))
	return sum[:]
}

const tokenColumns = `id, kind, name, client_id, manager_id, created_at, last_used_at, revoked_at`

// ListTokens lists the tokens within f, newest first, revoked ones too.
func (db *DB) ListTokens(ctx context.Context, f muster.TokenFilter) ([]muster.Token, error) {
	out := []muster.Token{}
	err := db.SelectContext(ctx, &out, `SELECT `+tokenColumns+` FROM api_tokens
		WHERE ($1::bigint = 0 OR client_id = $1) AND ($2::bigint = 0 OR manager_id = $2)
		ORDER BY id DESC`, f.ClientID, f.ManagerID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes token id if it is within f; revoking a revoked token
// changes nothing. A token outside f is not found.
func (db *DB) RevokeToken(ctx context.Context, id int64, f muster.TokenFilter) (*muster.Token, error) {
	var t muster.Token
	err := db.GetContext(ctx, &t, `
		UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now())
		WHERE id = $1 AND ($2::bigint = 0 OR client_id = $2) AND ($3::bigint = 0 OR manager_id = $3)
		RETURNING `+tokenColumns, id, f.ClientID, f.ManagerID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, muster.NotFound("token_not_found", "token %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("revoke token %d: %w", id, err)
	}
	return &t, nil
}
