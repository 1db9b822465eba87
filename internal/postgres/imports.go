package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

// chunkSize is how the uploaded file is cut into rows of import_chunks.
const chunkSize = 1 << 20

const importColumns = `id, account_id, file_name, format, size, sha256, status, sheet, header_row, total_rows,
	processed_rows, created, linked, skipped, failed, error_code, error_message, created_at, started_at,
	finished_at, ignored_columns, ignored_count, cancel_requested_at, mode, mapping, expires_at, preview,
	confirmed_import_id`

// importRow scans an import with its array and JSON columns.
type importRow struct {
	muster.Import
	IgnoredColumns pq.StringArray `db:"ignored_columns"`
	MappingJSON    []byte         `db:"mapping"`
	PreviewJSON    []byte         `db:"preview"`
}

func (r *importRow) out() *muster.Import {
	im := r.Import
	im.Ignored = append([]string{}, r.IgnoredColumns...)
	// Both were written by us from these types; a failure would be a bug
	// that shows as a missing mapping or preview, not a failed request.
	if len(r.MappingJSON) > 2 {
		_ = json.Unmarshal(r.MappingJSON, &im.Mapping)
	}
	if len(r.PreviewJSON) > 0 {
		im.Preview = new(muster.Preview)
		_ = json.Unmarshal(r.PreviewJSON, im.Preview)
	}
	return &im
}

// mappingJSON is a string: jsonb arguments go as text (see Open).
func mappingJSON(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	return string(b)
}

// CreateImport stores an uploaded file and queues its import, in one
// transaction. The same file (by SHA-256) uploaded again to the same
// account creates nothing: the existing import is returned with
// existing = true.
func (db *DB) CreateImport(ctx context.Context, up muster.Upload, file io.Reader) (im *muster.Import, existing bool, err error) {
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		var tokenID *int64
		if up.TokenID > 0 {
			tokenID = &up.TokenID
		}
		mode, ttl := muster.ModeImport, 0.0
		if up.Preview {
			mode, ttl = muster.ModePreview, muster.PreviewTTL.Seconds()
		}
		var id int64
		// Previews are not deduplicated: each is its own dry run.
		err := tx.GetContext(ctx, &id, `
			INSERT INTO imports (account_id, token_id, file_name, format, size, sha256, enqueued_at, mapping, mode, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, now(), $7, $8, CASE WHEN $8 = 'preview' THEN now() + make_interval(secs => $9) END)
			ON CONFLICT (account_id, sha256, mapping) WHERE mode = 'import' DO NOTHING
			RETURNING id`, up.AccountID, tokenID, up.FileName, up.Format, up.Size, up.SHA256, mappingJSON(up.Mapping), mode, ttl)
		if errors.Is(err, sql.ErrNoRows) {
			existing = true
			if err := tx.GetContext(ctx, &id, `SELECT id FROM imports WHERE account_id = $1 AND sha256 = $2 AND mapping = $3 AND mode = 'import'`,
				up.AccountID, up.SHA256, mappingJSON(up.Mapping)); err != nil {
				return fmt.Errorf("find the same upload: %w", err)
			}
			im, err = findImport(ctx, tx, id)
			return err
		}
		if err != nil {
			return fmt.Errorf("insert import: %w", err)
		}
		buf := make([]byte, chunkSize)
		for seq := 0; ; seq++ {
			n, rerr := io.ReadFull(file, buf)
			if n > 0 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO import_chunks (import_id, seq, data) VALUES ($1, $2, $3)`, id, seq, buf[:n]); err != nil {
					return fmt.Errorf("store import %d chunk %d: %w", id, seq, err)
				}
			}
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				break
			}
			if rerr != nil {
				return fmt.Errorf("read upload: %w", rerr)
			}
		}
		im, err = findImport(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return im, existing, nil
}

// FindImport returns an import by id.
func (db *DB) FindImport(ctx context.Context, id int64) (*muster.Import, error) {
	return findImport(ctx, db, id)
}

func findImport(ctx context.Context, q sqlx.QueryerContext, id int64) (*muster.Import, error) {
	var r importRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+importColumns+` FROM imports WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, muster.NotFound("import_not_found", "import %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("find import %d: %w", id, err)
	}
	return r.out(), nil
}

// ListImports returns an account's imports, newest first: up to limit of
// them with ids below before (0: from the newest), with who uploaded each.
func (db *DB) ListImports(ctx context.Context, accountID int64, before int64, limit int) ([]*muster.Import, error) {
	var rows []struct {
		importRow
		TokenKind    *string `db:"token_kind"`
		TokenName    *string `db:"token_name"`
		ManagerEmail *string `db:"manager_email"`
	}
	err := db.SelectContext(ctx, &rows, `
		SELECT `+prefixed("i.", importColumns)+`, t.kind AS token_kind, t.name AS token_name, m.email AS manager_email
		  FROM imports i
		  LEFT JOIN api_tokens t ON t.id = i.token_id
		  LEFT JOIN managers m ON m.id = t.manager_id
		 WHERE i.account_id = $1 AND ($2 = 0 OR i.id < $2)
		 ORDER BY i.id DESC
		 LIMIT $3`, accountID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("imports of account %d: %w", accountID, err)
	}
	out := make([]*muster.Import, len(rows))
	for i, r := range rows {
		im := r.out()
		im.UploadedBy = &muster.Uploader{Kind: "cli"}
		if r.TokenKind != nil {
			im.UploadedBy = &muster.Uploader{Kind: *r.TokenKind, Name: deref(r.TokenName), Email: deref(r.ManagerEmail)}
		}
		out[i] = im
	}
	return out, nil
}

func prefixed(p, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// CancelImport stops an import at its next batch, in one transaction with
// the cancelling of its invitations that no worker is sending: the batches
// committed before stay, and nothing more of the import is sent. The row
// lock orders it with WriteImportBatch, which refuses to write a batch of
// a cancelled import. A finished import is left as it is (muster.ErrHandled).
func (db *DB) CancelImport(ctx context.Context, id int64) (im *muster.Import, cancelledEmails int, err error) {
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		var r importRow
		err := tx.GetContext(ctx, &r, `
			UPDATE imports SET status = 'cancelled', cancel_requested_at = now(), finished_at = now()
			 WHERE id = $1 AND status IN ('queued', 'running')
			RETURNING `+importColumns, id)
		if errors.Is(err, sql.ErrNoRows) {
			return muster.ErrHandled
		}
		if err != nil {
			return fmt.Errorf("cancel import %d: %w", id, err)
		}
		im = r.out()
		res, err := tx.ExecContext(ctx, `
			UPDATE invitations SET status = 'cancelled', last_error = 'the import was cancelled', claimed_until = NULL
			 WHERE import_id = $1
			   AND (status IN ('queued', 'retrying') OR (status = 'sending' AND claimed_until < now()))`, id)
		if err != nil {
			return fmt.Errorf("cancel the emails of import %d: %w", id, err)
		}
		n, _ := res.RowsAffected()
		cancelledEmails = int(n)
		return nil
	})
	return im, cancelledEmails, err
}

// ClassifyEmails says, without writing, what importing these emails into
// the account would do to each: muster.RowMember (in the account, not
// excluded), RowLinked (a registered contractor) or RowCreated.
func (db *DB) ClassifyEmails(ctx context.Context, accountID int64, emails []string) (map[string]string, error) {
	var rows []struct {
		Email      string `db:"email"`
		Registered bool   `db:"registered"`
		Member     bool   `db:"member"`
	}
	err := db.SelectContext(ctx, &rows, `
		SELECT e.email, COALESCE(c.registered_at IS NOT NULL, false) AS registered,
		       COALESCE(m.status <> 'excluded', false) AS member
		  FROM unnest($2::text[]) AS e(email)
		  LEFT JOIN contractors c ON c.email = e.email
		  LEFT JOIN memberships m ON m.contractor_id = c.id AND m.account_id = $1`, accountID, pq.StringArray(emails))
	if err != nil {
		return nil, fmt.Errorf("classify %d emails: %w", len(emails), err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		switch {
		case r.Member:
			out[r.Email] = muster.RowMember
		case r.Registered:
			out[r.Email] = muster.RowLinked
		default:
			out[r.Email] = muster.RowCreated
		}
	}
	return out, nil
}

// FinishPreview records what a preview found and ends it.
func (db *DB) FinishPreview(ctx context.Context, id int64, total int, p *muster.Preview) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("preview %d: %w", id, err)
	}
	_, err = db.ExecContext(ctx, `
		UPDATE imports SET status = 'previewed', preview = $2, total_rows = $3, processed_rows = $3, finished_at = now()
		 WHERE id = $1 AND status IN ('queued', 'running')`, id, string(data), total)
	if err != nil {
		return fmt.Errorf("finish preview %d: %w", id, err)
	}
	return nil
}

// ConfirmPreview turns a finished preview into an import of the same
// file, copying the stored chunks in SQL (nothing is uploaded again), with
// the preview's mapping or the one given. Confirming twice, or a file
// already imported with that mapping, returns that import with existing
// set. A preview that is not finished, rejected or expired is refused.
func (db *DB) ConfirmPreview(ctx context.Context, id, tokenID int64, mapping map[string]string) (im *muster.Import, existing bool, err error) {
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		var p importRow
		if err := tx.GetContext(ctx, &p, `SELECT `+importColumns+` FROM imports WHERE id = $1 FOR UPDATE`, id); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return muster.NotFound("import_not_found", "import %d not found", id)
			}
			return fmt.Errorf("lock preview %d: %w", id, err)
		}
		prev := p.out()
		switch {
		case prev.Mode != muster.ModePreview:
			return muster.Conflict("not_a_preview", "import %d is an import, not a preview", id)
		case prev.Status == muster.ImportExpired || prev.ExpiresAt != nil && prev.ExpiresAt.Before(time.Now()):
			return muster.Conflict("preview_expired", "preview %d expired at %s; upload the file again", id, prev.ExpiresAt.Format(time.RFC3339))
		case prev.Status == muster.ImportRejected:
			return muster.Conflict("preview_rejected", "preview %d was rejected (%s); fix the file and upload it again", id, prev.ErrorMessage)
		case prev.Status != muster.ImportPreviewed:
			return muster.Conflict("preview_running", "preview %d is still reading the file; confirm it once its status is previewed", id)
		}
		if mapping == nil {
			mapping = prev.Mapping
		}
		var tok *int64
		if tokenID > 0 {
			tok = &tokenID
		}
		var newID int64
		err := tx.GetContext(ctx, &newID, `
			INSERT INTO imports (account_id, token_id, file_name, format, size, sha256, enqueued_at, mapping)
			SELECT account_id, $2, file_name, format, size, sha256, now(), $3 FROM imports WHERE id = $1
			ON CONFLICT (account_id, sha256, mapping) WHERE mode = 'import' DO NOTHING
			RETURNING id`, id, tok, mappingJSON(mapping))
		if errors.Is(err, sql.ErrNoRows) {
			existing = true
			err = tx.GetContext(ctx, &newID, `SELECT id FROM imports WHERE account_id = $1 AND sha256 = $2 AND mapping = $3 AND mode = 'import'`,
				prev.AccountID, prev.SHA256, mappingJSON(mapping))
		} else if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO import_chunks (import_id, seq, data) SELECT $2, seq, data FROM import_chunks WHERE import_id = $1`, id, newID)
		}
		if err != nil {
			return fmt.Errorf("confirm preview %d: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE imports SET confirmed_import_id = $2 WHERE id = $1`, id, newID); err != nil {
			return fmt.Errorf("confirm preview %d: %w", id, err)
		}
		im, err = findImport(ctx, tx, newID)
		return err
	})
	return im, existing, err
}

// ExpirePreviews ends the previews past their expiry and deletes their
// files; it returns how many it expired.
func (db *DB) ExpirePreviews(ctx context.Context) (int, error) {
	var ids pq.Int64Array
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &ids, `
			WITH e AS (
				UPDATE imports SET status = 'expired', finished_at = COALESCE(finished_at, now())
				 WHERE mode = 'preview' AND status <> 'expired' AND expires_at < now()
				RETURNING id)
			SELECT COALESCE(array_agg(id), '{}') FROM e`); err != nil {
			return fmt.Errorf("expire previews: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM import_chunks WHERE import_id = ANY($1)`, ids); err != nil {
			return fmt.Errorf("delete expired previews' files: %w", err)
		}
		return nil
	})
	return len(ids), err
}

// ReadImportFile writes the stored file to w, one chunk at a time.
func (db *DB) ReadImportFile(ctx context.Context, id int64, w io.Writer) error {
	for seq := 0; ; seq++ {
		var data []byte
		err := db.GetContext(ctx, &data, `SELECT data FROM import_chunks WHERE import_id = $1 AND seq = $2`, id, seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read import %d chunk %d: %w", id, seq, err)
		}
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("copy import %d: %w", id, err)
		}
	}
}

// StartImport claims an import for one worker: a queued import, or a
// running one whose worker stopped beating for longer than lease. A
// finished import is muster.ErrHandled; one another worker is running is
// muster.ErrClaimed.
func (db *DB) StartImport(ctx context.Context, id int64, lease time.Duration) (*muster.Import, int, error) {
	var r struct {
		importRow
		Checkpoint int `db:"checkpoint_line"`
	}
	err := db.GetContext(ctx, &r, `
		UPDATE imports SET status = 'running', started_at = COALESCE(started_at, now()), heartbeat_at = now()
		 WHERE id = $1 AND (status = 'queued' OR (status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $2))))
		RETURNING `+importColumns+`, checkpoint_line`, id, lease.Seconds())
	if errors.Is(err, sql.ErrNoRows) {
		im, err := db.FindImport(ctx, id)
		switch {
		case err != nil:
			return nil, 0, err
		case im.Finished():
			return nil, 0, muster.ErrHandled
		default:
			return nil, 0, muster.ErrClaimed
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("start import %d: %w", id, err)
	}
	return r.out(), r.Checkpoint, nil
}

// Heartbeat tells the sweep that the import's worker is alive.
func (db *DB) Heartbeat(ctx context.Context, id int64) error {
	if _, err := db.ExecContext(ctx, `UPDATE imports SET heartbeat_at = now() WHERE id = $1 AND status = 'running'`, id); err != nil {
		return fmt.Errorf("heartbeat import %d: %w", id, err)
	}
	return nil
}

// ReleaseImport gives up a worker's claim on an import it stopped running
// (on shutdown), so that the next attempt need not wait for the lease.
func (db *DB) ReleaseImport(ctx context.Context, id int64) error {
	if _, err := db.ExecContext(ctx, `UPDATE imports SET heartbeat_at = NULL WHERE id = $1 AND status = 'running'`, id); err != nil {
		return fmt.Errorf("release import %d: %w", id, err)
	}
	return nil
}

// SetImportHeader records where the rows are and an estimate of how many.
func (db *DB) SetImportHeader(ctx context.Context, id int64, sheet string, line int, header, ignored []string, ignoredCount, total int) error {
	var t *int
	if total >= 0 {
		t = &total
	}
	_, err := db.ExecContext(ctx, `
		UPDATE imports SET sheet = $2, header_row = $3, header = $4, ignored_columns = $5, total_rows = $6, ignored_count = $7 WHERE id = $1`,
		id, sheet, line, pq.StringArray(append([]string{}, header...)), pq.StringArray(append([]string{}, ignored...)), t, ignoredCount)
	if err != nil {
		return fmt.Errorf("set import %d header: %w", id, err)
	}
	return nil
}

// FinishImport ends an import: done with the exact row count, or rejected
// with the reason (code empty for done).
func (db *DB) FinishImport(ctx context.Context, id int64, total int, code, message string) error {
	status := muster.ImportDone
	if code != "" {
		status = muster.ImportRejected
	}
	_, err := db.ExecContext(ctx, `
		UPDATE imports SET status = $2, total_rows = CASE WHEN $3 >= 0 THEN $3 ELSE total_rows END,
		       error_code = $4, error_message = $5, finished_at = now()
		 WHERE id = $1 AND status IN ('queued', 'running')`, id, status, total, code, message)
	if err != nil {
		return fmt.Errorf("finish import %d: %w", id, err)
	}
	return nil
}

// AccountManagers returns the managers who may be assigned to contractors
// of the account, by email: live managers of its dashboard who reach it.
func (db *DB) AccountManagers(ctx context.Context, accountID int64) (map[string]int64, error) {
	var rows []struct {
		ID    int64  `db:"id"`
		Email string `db:"email"`
	}
	err := db.SelectContext(ctx, &rows, `
		SELECT m.id, m.email FROM managers m JOIN accounts a ON a.client_id = m.client_id
		WHERE a.id = $1 AND m.status <> 'revoked'
		  AND (m.role = 'owner' OR EXISTS (SELECT 1 FROM manager_accounts ma WHERE ma.manager_id = m.id AND ma.account_id = a.id))`,
		accountID)
	if err != nil {
		return nil, fmt.Errorf("list managers of account %d: %w", accountID, err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Email] = r.ID
	}
	return out, nil
}

// UnsentBatches returns the batches of an import that still have emails
// waiting for their first attempt: after a restart they are handed to the
// queue again (task ids make that a no-op for those Redis still holds).
func (db *DB) UnsentBatches(ctx context.Context, id int64) ([]int, error) {
	var batches []int
	err := db.SelectContext(ctx, &batches, `
		SELECT DISTINCT import_batch FROM invitations WHERE import_id = $1 AND status = 'queued' ORDER BY 1`, id)
	if err != nil {
		return nil, fmt.Errorf("unsent batches of import %d: %w", id, err)
	}
	return batches, nil
}

// BatchUnsent counts the emails of one import batch that are still owed:
// owed are queued, retrying, or left sending by a worker whose lease ran
// out; held are being sent under a lease that has not run out (by a live
// worker, or a dead one whose lease still runs); next is when the first
// owed email may be claimed (a retrying one waits for its retry time).
func (db *DB) BatchUnsent(ctx context.Context, importID int64, batch int) (owed, held int, next time.Time, err error) {
	err = db.QueryRowxContext(ctx, `
		SELECT count(*) FILTER (WHERE status IN ('queued', 'retrying') OR claimed_until < now()),
		       count(*) FILTER (WHERE status = 'sending' AND claimed_until >= now()),
		       COALESCE(min(CASE WHEN status = 'retrying' THEN greatest(claimed_until, now()) ELSE now() END)
		                FILTER (WHERE status IN ('queued', 'retrying') OR claimed_until < now()), now())
		  FROM invitations
		 WHERE import_id = $1 AND import_batch = $2 AND status IN ('queued', 'retrying', 'sending')`,
		importID, batch).Scan(&owed, &held, &next)
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("unsent emails of import %d batch %d: %w", importID, batch, err)
	}
	return owed, held, next, nil
}

// TakeStaleImports returns unfinished imports nobody is working on (no
// heartbeat for olderThan) that were last enqueued before olderThan ago,
// stamping them as enqueued now.
func (db *DB) TakeStaleImports(ctx context.Context, olderThan time.Duration) ([]int64, error) {
	var ids []int64
	err := db.SelectContext(ctx, &ids, `
		UPDATE imports SET enqueued_at = now()
		 WHERE id IN (
		       SELECT id FROM imports
		        WHERE status IN ('queued', 'running')
		          AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => $1))
		          AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $1))
		        FOR UPDATE SKIP LOCKED)
		RETURNING id`, olderThan.Seconds())
	if err != nil {
		return nil, fmt.Errorf("take stale imports: %w", err)
	}
	return ids, nil
}

// ImportErrors calls fn for each failed row of an import, in row order,
// without loading them all.
func (db *DB) ImportErrors(ctx context.Context, id int64, fn func(muster.FailedRow) error) error {
	rows, err := db.QueryxContext(ctx, `SELECT line, raw, problems FROM import_errors WHERE import_id = $1 ORDER BY line`, id)
	if err != nil {
		return fmt.Errorf("list errors of import %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var fr muster.FailedRow
		var raw, problems []byte
		if err := rows.Scan(&fr.Line, &raw, &problems); err != nil {
			return fmt.Errorf("read errors of import %d: %w", id, err)
		}
		if err := json.Unmarshal(raw, &fr.Raw); err != nil {
			return fmt.Errorf("import %d row %d cells: %w", id, fr.Line, err)
		}
		if err := json.Unmarshal(problems, &fr.Errors); err != nil {
			return fmt.Errorf("import %d row %d problems: %w", id, fr.Line, err)
		}
		for i := range fr.Errors {
			fr.Errors[i].Line = fr.Line
		}
		if err := fn(fr); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ImportHeader returns the header cells of an import's file.
func (db *DB) ImportHeader(ctx context.Context, id int64) ([]string, error) {
	var h pq.StringArray
	if err := db.GetContext(ctx, &h, `SELECT header FROM imports WHERE id = $1`, id); err != nil {
		return nil, fmt.Errorf("header of import %d: %w", id, err)
	}
	return h, nil
}
