package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

// WriteImportBatch commits one batch of an import: the invite semantics of
// Invite (one global profile per email, one membership per account, an
// excluded contractor invited afresh, a registered one linked with the
// "added" notice, a member skipped) in set-based statements, a handful of
// round trips per batch instead of several per row. The failed rows, the
// counters and the checkpoint are written in the same transaction, so a
// batch is committed exactly once: muster.ErrStaleBatch when the
// checkpoint is not where the batch starts.
func (db *DB) WriteImportBatch(ctx context.Context, b *muster.ImportBatch) (*muster.BatchResult, error) {
	var res muster.BatchResult
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		var at struct {
			Line   int    `db:"checkpoint_line"`
			Status string `db:"status"`
		}
		if err := tx.GetContext(ctx, &at, `SELECT checkpoint_line, status FROM imports WHERE id = $1 FOR UPDATE`, b.ImportID); err != nil {
			return fmt.Errorf("lock import %d: %w", b.ImportID, err)
		}
		if at.Status == muster.ImportCancelled {
			return muster.ErrImportCancelled
		}
		if at.Line != b.After {
			return muster.ErrStaleBatch
		}
		if err := writeRows(ctx, tx, b, &res); err != nil {
			return err
		}
		if err := writeFailed(ctx, tx, b); err != nil {
			return err
		}
		var r importRow
		err := tx.GetContext(ctx, &r, `
			UPDATE imports
			   SET checkpoint_line = $2, processed_rows = processed_rows + $3, created = created + $4,
			       linked = linked + $5, skipped = skipped + $6, failed = failed + $7, heartbeat_at = now()
			 WHERE id = $1 RETURNING `+importColumns,
			b.ImportID, b.Through, b.Len(), res.Created, res.Linked, res.Members+b.Duplicates, len(b.Failed))
		if err != nil {
			return fmt.Errorf("checkpoint import %d: %w", b.ImportID, err)
		}
		res.Import = *r.out()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("batch through row %d: %w", b.Through, err)
	}
	return &res, nil
}

// member is one row on its way through the statements.
type member struct {
	row          *muster.ImportRow
	contractorID int64
	registered   bool
	membershipID int64
}

func writeRows(ctx context.Context, tx *sqlx.Tx, b *muster.ImportBatch, res *muster.BatchResult) error {
	if len(b.Rows) == 0 {
		return nil
	}
	// One lock order (by email, then by contractor) for every writer, so
	// that two imports sharing contractors cannot deadlock.
	rows := make([]*muster.ImportRow, len(b.Rows))
	for i := range b.Rows {
		rows[i] = &b.Rows[i]
	}
	slices.SortFunc(rows, func(x, y *muster.ImportRow) int { return strings.Compare(x.Email, y.Email) })
	byEmail, err := upsertContractors(ctx, tx, rows)
	if err != nil {
		return err
	}
	ms := make([]*member, len(rows))
	for i, r := range rows {
		ms[i] = byEmail[r.Email]
		ms[i].row = r
	}
	fresh, err := insertMemberships(ctx, tx, b.AccountID, ms)
	if err != nil {
		return err
	}
	var others []*member
	for _, m := range ms {
		if !fresh[m.contractorID] {
			others = append(others, m)
		}
	}
	revived, err := reviveMemberships(ctx, tx, b.AccountID, others)
	if err != nil {
		return err
	}
	var joined []*member
	for _, m := range ms {
		if m.membershipID != 0 && (fresh[m.contractorID] || revived[m.contractorID]) {
			joined = append(joined, m)
		}
	}
	res.Members = len(ms) - len(joined)
	if err := assignImportManagers(ctx, tx, joined); err != nil {
		return err
	}
	return queueImportInvitations(ctx, tx, b, joined, res)
}

func upsertContractors(ctx context.Context, tx *sqlx.Tx, rows []*muster.ImportRow) (map[string]*member, error) {
	emails := make([]string, len(rows))
	for i, r := range rows {
		emails[i] = r.Email
	}
	// As in Invite, the name and phone a client typed go to its
	// memberships, not to the global profile.
	q, err := tx.QueryContext(ctx, `
		INSERT INTO contractors (email)
		SELECT * FROM unnest($1::text[])
		ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
		RETURNING id, email, registered_at IS NOT NULL`, pq.StringArray(emails))
	if err != nil {
		return nil, fmt.Errorf("upsert contractors: %w", err)
	}
	defer q.Close()
	out := make(map[string]*member, len(rows))
	for q.Next() {
		m := &member{}
		var email string
		if err := q.Scan(&m.contractorID, &email, &m.registered); err != nil {
			return nil, fmt.Errorf("upsert contractors: %w", err)
		}
		out[email] = m
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("upsert contractors: %w", err)
	}
	if len(out) != len(rows) {
		return nil, fmt.Errorf("upsert contractors: %d rows came back for %d emails", len(out), len(rows))
	}
	return out, nil
}

func status(registered bool) string {
	if registered {
		return muster.MemberActive
	}
	return muster.MemberInvited
}

// insertMemberships creates the memberships that do not exist yet and
// returns the contractors that got one. The contractor's columns that the
// list shows are copied in the same statement, by a join, rather than by
// the row trigger that does it for inserts that leave them out.
func insertMemberships(ctx context.Context, tx *sqlx.Tx, accountID int64, ms []*member) (map[int64]bool, error) {
	ids, features, locales, statuses, names, phones := memberArrays(ms)
	return queryMemberships(ctx, tx, "insert memberships", ms, `
		INSERT INTO memberships (account_id, contractor_id, feature, locale, status, linked_at,
		       email, full_name, phone, registered_at, phone_verified_at, tax_status, tax_status_set_at, payment_method_linked_at)
		SELECT $1, t.c, t.f, t.l, t.s, CASE WHEN t.s = 'active' THEN now() END,
		       c.email, COALESCE(NULLIF(c.full_name, ''), t.n), COALESCE(NULLIF(c.phone, ''), t.p),
		       c.registered_at, c.phone_verified_at, c.tax_status, c.tax_status_set_at, c.payment_method_linked_at
		  FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS t(c, f, l, s, n, p)
		  JOIN contractors c ON c.id = t.c
		 ORDER BY t.c
		ON CONFLICT (account_id, contractor_id) DO NOTHING
		RETURNING contractor_id, id`, accountID, ids, features, locales, statuses, names, phones)
}

// memberArrays are the statements' parameters: one array per column.
func memberArrays(ms []*member) (ids pq.Int64Array, features, locales, statuses, names, phones pq.StringArray) {
	n := len(ms)
	ids, features, locales, statuses = make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
	names, phones = make([]string, n), make([]string, n)
	for i, m := range ms {
		ids[i], features[i], locales[i], statuses[i] = m.contractorID, m.row.Feature, string(m.row.Locale), status(m.registered)
		names[i], phones[i] = m.row.FullName, m.row.Phone
	}
	return ids, features, locales, statuses, names, phones
}

// queryMemberships runs a statement returning (contractor_id, membership
// id) pairs, records the ids in ms, and returns the contractors that came
// back.
func queryMemberships(ctx context.Context, tx *sqlx.Tx, what string, ms []*member, query string, args ...any) (map[int64]bool, error) {
	q, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer q.Close()
	byContractor := make(map[int64]*member, len(ms))
	for _, m := range ms {
		byContractor[m.contractorID] = m
	}
	got := make(map[int64]bool, len(ms))
	for q.Next() {
		var cid, mid int64
		if err := q.Scan(&cid, &mid); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		byContractor[cid].membershipID = mid
		got[cid] = true
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return got, nil
}

// reviveMemberships invites excluded contractors afresh, as Invite does;
// the others are already in the account. It returns the revived ones.
func reviveMemberships(ctx context.Context, tx *sqlx.Tx, accountID int64, ms []*member) (map[int64]bool, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	ids, features, locales, statuses, names, phones := memberArrays(ms)
	return queryMemberships(ctx, tx, "revive memberships", ms, `
		WITH old AS (
		     SELECT m.id FROM memberships m
		      WHERE m.account_id = $1 AND m.contractor_id = ANY($2::bigint[]) AND m.status = 'excluded'
		      ORDER BY m.contractor_id FOR UPDATE),
		     unassigned AS (DELETE FROM membership_managers WHERE membership_id IN (SELECT id FROM old))
		UPDATE memberships m
		   SET status = t.s, feature = t.f, locale = t.l, invited_at = now(), excluded_at = NULL,
		       linked_at = CASE WHEN t.s = 'active' THEN now() END, send_status = 'queued',
		       full_name = COALESCE(NULLIF(c.full_name, ''), t.n), phone = COALESCE(NULLIF(c.phone, ''), t.p)
		  FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS t(c, f, l, s, n, p)
		  JOIN contractors c ON c.id = t.c
		 WHERE m.id IN (SELECT id FROM old) AND m.contractor_id = t.c
		RETURNING m.contractor_id, m.id`, accountID, ids, features, locales, statuses, names, phones)
}

func assignImportManagers(ctx context.Context, tx *sqlx.Tx, ms []*member) error {
	var memberships, managers []int64
	for _, m := range ms {
		for _, id := range m.row.ManagerIDs {
			memberships, managers = append(memberships, m.membershipID), append(managers, id)
		}
	}
	if len(memberships) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO membership_managers (membership_id, manager_id)
		SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING`, pq.Int64Array(memberships), pq.Int64Array(managers))
	if err != nil {
		return fmt.Errorf("assign managers: %w", err)
	}
	return nil
}

// queueImportInvitations records one email per joined row: a sign-up
// invitation, or the "added" notice for a registered contractor, marked
// with the batch they are sent in. As in Invite, enqueued_at is set
// because the caller enqueues right after the commit; the requeue sweep
// covers a crash in between.
func queueImportInvitations(ctx context.Context, tx *sqlx.Tx, b *muster.ImportBatch, ms []*member, res *muster.BatchResult) error {
	if len(ms) == 0 {
		return nil
	}
	n := len(ms)
	memberships, kinds, locales := make([]int64, n), make([]string, n), make([]string, n)
	for i, m := range ms {
		memberships[i], locales[i], kinds[i] = m.membershipID, string(m.row.Locale), muster.InviteSignup
		if m.registered {
			kinds[i] = muster.InviteAdded
			res.Linked++
		} else {
			res.Created++
		}
	}
	err := tx.SelectContext(ctx, &res.Invitations, `
		INSERT INTO invitations (membership_id, kind, locale, enqueued_at, import_id, import_batch)
		SELECT m, k, l, now(), $1, $5 FROM unnest($2::bigint[], $3::text[], $4::text[]) AS t(m, k, l)
		RETURNING id`, b.ImportID, pq.Int64Array(memberships), pq.StringArray(kinds), pq.StringArray(locales), b.Through)
	if err != nil {
		return fmt.Errorf("queue invitations: %w", err)
	}
	return nil
}

func writeFailed(ctx context.Context, tx *sqlx.Tx, b *muster.ImportBatch) error {
	if len(b.Failed) == 0 {
		return nil
	}
	n := len(b.Failed)
	lines, raws, problems := make([]int64, n), make([]string, n), make([]string, n)
	for i, f := range b.Failed {
		raw := f.Raw
		if raw == nil {
			raw = []string{}
		}
		r, err := json.Marshal(raw)
		if err != nil {
			return fmt.Errorf("encode row %d: %w", f.Line, err)
		}
		type problem struct {
			Column string `json:"column"`
			Code   string `json:"code"`
			Reason string `json:"reason"`
		}
		ps := make([]problem, len(f.Errors))
		for j, e := range f.Errors {
			ps[j] = problem{e.Column, e.Code, e.Reason}
		}
		p, err := json.Marshal(ps)
		if err != nil {
			return fmt.Errorf("encode row %d: %w", f.Line, err)
		}
		lines[i], raws[i], problems[i] = int64(f.Line), string(r), string(p)
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO import_errors (import_id, line, raw, problems)
		SELECT $1, * FROM unnest($2::int[], $3::jsonb[], $4::jsonb[]) ON CONFLICT DO NOTHING`,
		b.ImportID, pq.Int64Array(lines), pq.StringArray(raws), pq.StringArray(problems))
	if err != nil {
		return fmt.Errorf("record failed rows: %w", err)
	}
	return nil
}
