package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

// Errors of the console's sign-in.
var (
	ErrNoSession  = muster.Errorf(muster.KindUnauthenticated, "no_session", "sign in first")
	ErrLinkUsed   = muster.Conflict("signin_link_used", "this sign-in link was used already; ask for a new one")
	ErrLinkExpire = muster.Invalid("signin_link_expired", "this sign-in link has expired; ask for a new one")
)

// StartSession signs in with an API token: it checks the token and opens a
// session that speaks with its rights. It returns the session's secret
// for the cookie, which the database keeps only as a SHA-256.
func (db *DB) StartSession(ctx context.Context, token string, ttl time.Duration) (string, *muster.Actor, error) {
	a, err := db.Authenticate(ctx, token)
	if err != nil {
		return "", nil, err
	}
	secret, err := insertSession(ctx, db, a.TokenID, false, ttl)
	return secret, a, err
}

func insertSession(ctx context.Context, e sqlx.ExecerContext, tokenID int64, own bool, ttl time.Duration) (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("session entropy: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(buf)
	// Each sign-in also clears the sessions that ran out, so the table
	// holds only live ones.
	_, err := e.ExecContext(ctx, `
		WITH gone AS (DELETE FROM console_sessions WHERE expires_at < now())
		INSERT INTO console_sessions (hash, token_id, own_token, expires_at)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4))`, hashToken(secret), tokenID, own, ttl.Seconds())
	if err != nil {
		return "", fmt.Errorf("insert session: %w", err)
	}
	return secret, nil
}

// SessionActor resolves a session cookie to the actor of its token, read
// afresh as Authenticate reads it: a revoked token or manager, or a
// merged-away dashboard, ends the session too.
func (db *DB) SessionActor(ctx context.Context, secret string) (*muster.Actor, error) {
	a, err := actorWhere(ctx, db, actorSelect+`
		  AND t.id = (SELECT token_id FROM console_sessions WHERE hash = $1 AND expires_at > now())`, hashToken(secret))
	if muster.ErrorKind(err) == muster.KindUnauthenticated {
		return nil, ErrNoSession
	}
	return a, err
}

// EndSession signs out: the session is deleted, and a token made for an
// emailed link is revoked with it.
func (db *DB) EndSession(ctx context.Context, secret string) error {
	_, err := db.ExecContext(ctx, `
		WITH gone AS (DELETE FROM console_sessions WHERE hash = $1 RETURNING token_id, own_token)
		UPDATE api_tokens SET revoked_at = now()
		 WHERE id IN (SELECT token_id FROM gone WHERE own_token) AND revoked_at IS NULL`, hashToken(secret))
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// CreateSigninLink records a sign-in link for the active manager with this
// email (an owner is a manager too). ok is false when there is none, or
// when the address had a link less than every ago: the caller says the
// same thing either way, so that nobody learns which emails exist, and
// nobody can use the form to mail someone again and again.
func (db *DB) CreateSigninLink(ctx context.Context, email string, ttl, every time.Duration) (*muster.SigninLink, bool, error) {
	var l muster.SigninLink
	err := db.GetContext(ctx, &l, `
		WITH m AS (
		    SELECT m.id, m.email, m.full_name, m.locale FROM managers m
		    JOIN clients c ON c.id = m.client_id AND c.merged_into_id IS NULL
		    WHERE m.email = $1 AND m.status = 'active'
		      AND NOT EXISTS (SELECT 1 FROM console_signin_links s
		                       WHERE s.manager_id = m.id AND s.created_at > now() - make_interval(secs => $3)))
		INSERT INTO console_signin_links (manager_id, expires_at)
		SELECT id, now() + make_interval(secs => $2) FROM m
		RETURNING id, (SELECT email FROM m), (SELECT full_name FROM m), (SELECT locale FROM m)`,
		email, ttl.Seconds(), every.Seconds())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("create sign-in link: %w", err)
	}
	return &l, true, nil
}

// UseSigninLink spends a sign-in link once and opens a session for its
// manager, with a token of its own that signing out revokes.
func (db *DB) UseSigninLink(ctx context.Context, linkID int64, ttl time.Duration) (string, *muster.Actor, error) {
	var secret string
	var tokenID int64
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		var row struct {
			ManagerID int64  `db:"manager_id"`
			ClientID  int64  `db:"client_id"`
			Email     string `db:"email"`
			Used      bool   `db:"used"`
			Expired   bool   `db:"expired"`
		}
		err := tx.GetContext(ctx, &row, `
			SELECT s.manager_id, m.client_id, m.email, s.used_at IS NOT NULL AS used, s.expires_at <= now() AS expired
			FROM console_signin_links s JOIN managers m ON m.id = s.manager_id
			WHERE s.id = $1 FOR UPDATE OF s`, linkID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrLinkExpire
		case err != nil:
			return fmt.Errorf("read sign-in link %d: %w", linkID, err)
		case row.Used:
			return ErrLinkUsed
		case row.Expired:
			return ErrLinkExpire
		}
		if _, err := tx.ExecContext(ctx, `UPDATE console_signin_links SET used_at = now() WHERE id = $1`, linkID); err != nil {
			return fmt.Errorf("spend sign-in link %d: %w", linkID, err)
		}
		plain, err := insertToken(ctx, tx, muster.TokenManager, &row.ClientID, &row.ManagerID, row.Email)
		if err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &tokenID, `SELECT id FROM api_tokens WHERE hash = $1`, hashToken(plain)); err != nil {
			return fmt.Errorf("read new token: %w", err)
		}
		secret, err = insertSession(ctx, tx, tokenID, true, ttl)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	a, err := db.SessionActor(ctx, secret)
	if err != nil {
		return "", nil, err // a manager revoked or merged away in between
	}
	return secret, a, nil
}

// Columns returns the contractor-table columns a console user chose, or
// nil when they never chose.
func (db *DB) Columns(ctx context.Context, subject string) ([]string, error) {
	var cols pq.StringArray
	err := db.GetContext(ctx, &cols, `SELECT columns FROM console_columns WHERE subject = $1`, subject)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", subject, err)
	}
	return cols, nil
}

// SaveColumns remembers a console user's columns.
func (db *DB) SaveColumns(ctx context.Context, subject string, cols []string) error {
	_, err := db.ExecContext(ctx, `
		INSERT INTO console_columns (subject, columns) VALUES ($1, $2)
		ON CONFLICT (subject) DO UPDATE SET columns = EXCLUDED.columns`, subject, pq.StringArray(cols))
	if err != nil {
		return fmt.Errorf("save columns of %s: %w", subject, err)
	}
	return nil
}
