package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

const invitationColumns = `id, membership_id, manager_id, kind, locale, status, attempts, last_error, queued_at, sent_at, message_id`

// ClaimInvitation takes the lease on an unsent invitation for one attempt
// and returns what the email needs. Only one worker can hold the lease
// (muster.ErrClaimed for the others); a lease left by a killed worker
// expires and the invitation becomes claimable again. An invitation that
// was sent, failed or cancelled is muster.ErrHandled. One whose reason
// vanished is cancelled here and reported as *muster.Cancelled (which is
// also ErrHandled): the contractor was excluded, or registered before a
// sign-up email left; the manager accepted or was revoked.
func (db *DB) ClaimInvitation(ctx context.Context, id int64, lease time.Duration) (*muster.Delivery, error) {
	got, errs, err := db.ClaimInvitations(ctx, []int64{id}, lease)
	if err != nil {
		return nil, err
	}
	if err := errs[id]; err != nil {
		return nil, err
	}
	return got[id], nil
}

// ClaimInvitations claims several invitations as ClaimInvitation does, in
// one statement committed on its own that also reads what the emails need
// (see readClaimed): the claims of concurrent single sends share a commit.
// Each id gets a delivery or its own error.
func (db *DB) ClaimInvitations(ctx context.Context, ids []int64, lease time.Duration) (map[int64]*muster.Delivery, map[int64]error, error) {
	var rows []claimedRow
	err := db.query(ctx, &rows, claimInvitations, pq.Array(ids), lease.Seconds())
	if err != nil {
		return nil, nil, fmt.Errorf("claim %d invitations (the first: %d): %w", len(ids), ids[0], err)
	}
	ds, err := deliveries(ctx, db, rows)
	if err != nil {
		return nil, nil, err
	}
	got := make(map[int64]*muster.Delivery, len(ds))
	for _, d := range ds {
		got[d.Invitation.ID] = d
	}
	errs := map[int64]error{}
	claimed := make(map[int64]*muster.Invitation, len(rows))
	for i := range rows {
		claimed[rows[i].ID] = &rows[i].Invitation
	}
	for _, id := range ids {
		switch inv := claimed[id]; {
		case got[id] != nil:
		case inv != nil: // cancelled: its reason vanished
			errs[id] = &muster.Cancelled{Kind: inv.Kind, Locale: inv.Locale}
		default:
			errs[id] = whyUnclaimable(ctx, db, id)
		}
	}
	return got, errs, nil
}

// contractorDelivery is what an email to a contractor about one account
// needs, read with its claim (see readClaimed).
type contractorDelivery struct {
	Found        bool       `db:"d_found"` // false: not an email to a contractor
	Email        string     `db:"d_email"`
	FullName     string     `db:"d_full_name"`
	AccountName  string     `db:"d_account_name"`
	ClientName   string     `db:"d_client_name"`
	Feature      string     `db:"d_feature"`
	MemberStatus string     `db:"d_member_status"`
	RegisteredAt *time.Time `db:"d_registered_at"`
	Unsubscribed bool       `db:"d_unsubscribed"`
	Suppressed   *string    `db:"d_suppressed"` // the suppression list's reason for the address
}

// claimedRow is a claimed invitation and, for a contractor's email, what
// the email needs.
type claimedRow struct {
	muster.Invitation
	contractorDelivery
}

// readClaimed follows a WITH whose last query, claimed, is a claim's
// UPDATE ... RETURNING the invitation's columns: it adds what each email to
// a contractor needs, so one round trip claims and reads. The name is the
// membership's: the contractor's own once registered, else what this
// client typed, never another client's. A manager's invitation or a merge
// notice is read after (see deliveries).
const readClaimed = `
		SELECT claimed.*, m.id IS NOT NULL AS d_found,
		       COALESCE(c.email, '') AS d_email, COALESCE(m.full_name, '') AS d_full_name,
		       COALESCE(a.name, '') AS d_account_name, COALESCE(cl.name, '') AS d_client_name,
		       COALESCE(m.feature, '') AS d_feature, COALESCE(m.status, '') AS d_member_status,
		       c.registered_at AS d_registered_at, COALESCE(m.reminders_stopped_at IS NOT NULL, false) AS d_unsubscribed,
		       s.reason AS d_suppressed
		  FROM claimed
		  LEFT JOIN memberships m ON m.id = claimed.membership_id AND claimed.kind <> 'merged'
		  LEFT JOIN contractors c ON c.id = m.contractor_id
		  LEFT JOIN accounts a ON a.id = m.account_id
		  LEFT JOIN clients cl ON cl.id = a.client_id
		  LEFT JOIN suppressions s ON s.email = lower(c.email)`

// fill fills d and says why the email should no longer be sent, if it
// should not.
func (row *contractorDelivery) fill(d *muster.Delivery) (cancel string) {
	d.Email, d.FullName, d.AccountName, d.ClientName, d.Feature =
		row.Email, row.FullName, row.AccountName, row.ClientName, row.Feature
	if why := muster.ContractorCancel(d.Invitation.Kind, row.MemberStatus, row.RegisteredAt != nil, row.Unsubscribed); why != "" {
		return why
	}
	if row.Suppressed != nil {
		return suppressedWhy(*row.Suppressed)
	}
	return ""
}

// readManagerDelivery fills d for a manager's invitation: the dashboard,
// the role, who invited them and the names of every account they get, as
// the accounts stand now (an edit before sending is reflected).
func readManagerDelivery(ctx context.Context, tx sqlx.QueryerContext, d *muster.Delivery) (cancel string, err error) {
	var row struct {
		Email        string         `db:"email"`
		FullName     string         `db:"full_name"`
		Role         string         `db:"role"`
		Status       string         `db:"status"`
		ClientName   string         `db:"client_name"`
		Inviter      string         `db:"inviter"`
		AccountNames pq.StringArray `db:"account_names"`
	}
	err = sqlx.GetContext(ctx, tx, &row, `
		SELECT m.email, m.full_name, m.role, m.status, cl.name AS client_name,
		       COALESCE(NULLIF(inv.full_name, ''), inv.email, '') AS inviter,
		       ARRAY(SELECT a.name FROM manager_accounts ma JOIN accounts a ON a.id = ma.account_id
		              WHERE ma.manager_id = m.id ORDER BY a.name, a.id) AS account_names
		FROM managers m
		JOIN clients cl ON cl.id = m.client_id
		LEFT JOIN managers inv ON inv.id = m.invited_by
		WHERE m.id = $1`, d.Invitation.ManagerID)
	if err != nil {
		return "", err
	}
	d.Email, d.FullName, d.Role, d.ClientName, d.Inviter, d.AccountNames =
		row.Email, row.FullName, row.Role, row.ClientName, row.Inviter, row.AccountNames
	return muster.ManagerCancel(row.Status), nil
}

// readMergeDelivery fills d for a merge notice: which dashboards went into
// which, and the accounts that concern the reader, under their new names.
// It is sent whatever the reader's state: a source owner is revoked by the
// merge and is told so.
func readMergeDelivery(ctx context.Context, tx sqlx.QueryerContext, d *muster.Delivery) error {
	var row struct {
		Email    string `db:"email"`
		FullName string `db:"full_name"`
		Role     string `db:"role"`
		Plan     []byte `db:"plan"`
	}
	err := sqlx.GetContext(ctx, tx, &row, `
		SELECT m.email, m.full_name, m.role, g.plan
		  FROM invitations i JOIN managers m ON m.id = i.manager_id JOIN merges g ON g.id = i.merge_id
		 WHERE i.id = $1`, d.Invitation.ID)
	if err != nil {
		return err
	}
	var plan muster.MergePlan
	if err := json.Unmarshal(row.Plan, &plan); err != nil {
		return fmt.Errorf("decode merge plan: %w", err)
	}
	d.Email, d.FullName, d.ClientName = row.Email, row.FullName, plan.Target.Name
	d.Audience, d.Sources, d.AccountNames = muster.MergeNotice(&plan, row.Email, row.Role)
	return nil
}

func whyUnclaimable(ctx context.Context, tx sqlx.QueryerContext, id int64) error {
	var status string
	err := sqlx.GetContext(ctx, tx, &status, `SELECT status FROM invitations WHERE id = $1`, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return muster.NotFound("invitation_not_found", "invitation %d not found", id)
	case err != nil:
		return fmt.Errorf("read invitation %d: %w", id, err)
	case status == muster.SendSending:
		return muster.ErrClaimed
	default:
		return muster.ErrHandled
	}
}

// RecordOutcomes writes the outcomes of claimed attempts in one statement.
// An outcome whose attempt no longer holds the row (its lease ran out and
// another attempt claimed it) changes nothing. A retrying row is not
// claimed by the bulk sender before its RetryAt. A postponed one gives
// back the attempt its claim counted, so that waiting for the recipient's
// cap never uses up SEND_ATTEMPTS.
func (db *DB) RecordOutcomes(ctx context.Context, outs []muster.Outcome) error {
	if len(outs) == 0 {
		return nil
	}
	ids := make([]int64, len(outs))
	attempts := make([]int64, len(outs))
	statuses := make([]string, len(outs))
	messageIDs := make([]string, len(outs))
	errs := make([]string, len(outs))
	ats := make([]string, len(outs))
	retryAts := make([]string, len(outs))
	postponed := make([]bool, len(outs))
	for i, o := range outs {
		ids[i], attempts[i], statuses[i], messageIDs[i], errs[i] = o.InvitationID, int64(o.Attempt), o.Status, o.MessageID, o.Error
		ats[i], retryAts[i], postponed[i] = o.At.Format(time.RFC3339Nano), o.RetryAt.Format(time.RFC3339Nano), o.Postponed
	}
	_, err := db.exec(ctx, recordOutcomes,
		pq.Array(ids), pq.Array(attempts), pq.Array(statuses), pq.Array(messageIDs), pq.Array(errs), pq.Array(ats), pq.Array(retryAts), pq.Array(postponed))
	if err != nil {
		return fmt.Errorf("record the outcomes of %d emails (the first: invitation %d %s): %w", len(outs), outs[0].InvitationID, outs[0].Status, err)
	}
	return nil
}

// ClaimBulk takes the lease on up to n emails that imports owe, for one
// attempt each, and returns what they need; the ones whose reason vanished
// are cancelled instead, and returned as such. It is fair across clients: it takes the oldest
// few of every import that owes emails and deals them out one client at a
// time, so a client's 20 emails go out in the next claim whatever another
// client's import has queued. A retrying email waits for its RetryAt.
func (db *DB) ClaimBulk(ctx context.Context, n int, lease time.Duration) ([]*muster.Delivery, []muster.Cancelled, error) {
	var rows []claimedRow
	err := db.SelectContext(ctx, &rows, `
			WITH RECURSIVE owed(import_id) AS (
			    (SELECT import_id FROM invitations
			      WHERE import_id IS NOT NULL AND status IN ('queued', 'sending', 'retrying')
			      ORDER BY import_id LIMIT 1)
			  UNION ALL
			    SELECT (SELECT i.import_id FROM invitations i
			             WHERE i.import_id IS NOT NULL AND i.import_id > o.import_id
			               AND i.status IN ('queued', 'sending', 'retrying')
			             ORDER BY i.import_id LIMIT 1)
			      FROM owed o WHERE o.import_id IS NOT NULL
			), candidates AS (
			    SELECT x.id, a.client_id
			      FROM owed o
			      JOIN imports im ON im.id = o.import_id
			      JOIN accounts a ON a.id = im.account_id
			      CROSS JOIN LATERAL (
			          SELECT i.id FROM invitations i
			           WHERE i.import_id = o.import_id AND i.status IN ('queued', 'sending', 'retrying')
			             AND (i.status = 'queued' OR i.claimed_until IS NULL OR i.claimed_until < now())
			           ORDER BY i.id LIMIT $1
			           FOR UPDATE OF i SKIP LOCKED) x
			), picked AS (
			    SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY client_id ORDER BY id) AS turn FROM candidates) c
			     ORDER BY turn, id LIMIT $1
			), claimed AS (
			    UPDATE invitations i
			       SET status = 'sending', attempts = i.attempts + 1, claimed_until = now() + make_interval(secs => $2)
			      FROM picked WHERE i.id = picked.id
			    RETURNING `+qualified("i", invitationColumns)+`)`+readClaimed, n, lease.Seconds())
	if err != nil {
		return nil, nil, fmt.Errorf("claim bulk emails: %w", err)
	}
	ds, err := deliveries(ctx, db, rows)
	if err != nil {
		return nil, nil, err
	}
	kept := make(map[int64]bool, len(ds))
	for _, d := range ds {
		kept[d.Invitation.ID] = true
	}
	var cancelled []muster.Cancelled
	for _, inv := range rows {
		if !kept[inv.ID] {
			cancelled = append(cancelled, muster.Cancelled{Kind: inv.Kind, Locale: inv.Locale})
		}
	}
	return ds, cancelled, nil
}

// deliveries makes the claimed rows' deliveries (reading those of
// managers' invitations and merge notices, which the claim did not) and
// cancels the ones whose reason vanished.
func deliveries(ctx context.Context, tx sqlx.ExtContext, rows []claimedRow) ([]*muster.Delivery, error) {
	ds := make([]*muster.Delivery, len(rows))
	why := make([]string, len(rows))
	others := false // emails not to a contractor: checked against the suppression list here
	for i := range rows {
		row := &rows[i]
		d := &muster.Delivery{Invitation: row.Invitation}
		var err error
		switch {
		case row.Kind == muster.InviteMerged:
			err = readMergeDelivery(ctx, tx, d)
		case row.ManagerID != nil:
			why[i], err = readManagerDelivery(ctx, tx, d)
		case !row.Found:
			err = fmt.Errorf("membership %d not found", *row.MembershipID)
		default:
			why[i] = row.fill(d)
		}
		if err != nil {
			return nil, fmt.Errorf("read invitation %d: %w", row.ID, err)
		}
		others = others || !row.Found
		ds[i] = d
	}
	if others {
		if err := suppress(ctx, tx, ds, why); err != nil {
			return nil, err
		}
	}
	var out []*muster.Delivery
	var cancelIDs []int64
	var reasons []string
	for i, d := range ds {
		if why[i] != "" {
			cancelIDs, reasons = append(cancelIDs, d.Invitation.ID), append(reasons, why[i])
			continue
		}
		out = append(out, d)
	}
	if len(cancelIDs) > 0 {
		_, err := tx.ExecContext(ctx, `
			UPDATE invitations i SET status = 'cancelled', last_error = c.reason, claimed_until = NULL
			  FROM unnest($1::bigint[], $2::text[]) AS c(id, reason) WHERE i.id = c.id`,
			pq.Array(cancelIDs), pq.Array(reasons))
		if err != nil {
			return nil, fmt.Errorf("cancel %d emails no longer wanted: %w", len(cancelIDs), err)
		}
	}
	return out, nil
}

// qualified prefixes each of a comma-separated list of columns with table.
func qualified(table, columns string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = table + "." + c
	}
	return strings.Join(cols, ", ")
}

// FindInvitation returns one invitation.
func (db *DB) FindInvitation(ctx context.Context, id int64) (*muster.Invitation, error) {
	var inv muster.Invitation
	err := db.GetContext(ctx, &inv, `SELECT `+invitationColumns+` FROM invitations WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, muster.NotFound("invitation_not_found", "invitation %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("find invitation %d: %w", id, err)
	}
	return &inv, nil
}

// TakeUnsent returns up to limit unsent invitations last enqueued before
// olderThan ago, except those a worker's lease still holds, stamping them
// as enqueued now. Rows locked by another sweeper are skipped, so two
// schedulers never take the same row.
func (db *DB) TakeUnsent(ctx context.Context, olderThan time.Duration, limit int) ([]muster.Unsent, error) {
	var out []muster.Unsent
	err := db.SelectContext(ctx, &out, `
		UPDATE invitations SET enqueued_at = now()
		 WHERE id IN (
		       SELECT id FROM invitations
		        WHERE status IN ('queued', 'retrying', 'sending')
		          AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => $1))
		          AND (status <> 'sending' OR claimed_until < now())
		        ORDER BY enqueued_at NULLS FIRST
		        LIMIT $2
		        FOR UPDATE SKIP LOCKED)
		RETURNING id, kind, import_id, import_batch`, olderThan.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("take unsent invitations: %w", err)
	}
	return out, nil
}

// OwedByAge counts the emails not sent yet by how long ago they were
// queued, through the partial index on unsent invitations.
func (db *DB) OwedByAge(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Age string `db:"age"`
		N   int64  `db:"n"`
	}
	err := db.SelectContext(ctx, &rows, `
		SELECT CASE WHEN age < interval '1 minute' THEN 'under_1m'
		            WHEN age < interval '10 minutes' THEN '1m_10m'
		            WHEN age < interval '1 hour' THEN '10m_1h'
		            WHEN age < interval '1 day' THEN '1h_1d'
		            ELSE 'over_1d' END AS age, count(*) AS n
		FROM (SELECT now() - queued_at AS age FROM invitations
		      WHERE status IN ('queued', 'sending', 'retrying')) owed
		GROUP BY 1`)
	if err != nil {
		return nil, fmt.Errorf("count owed emails: %w", err)
	}
	out := map[string]int64{"under_1m": 0, "1m_10m": 0, "10m_1h": 0, "1h_1d": 0, "over_1d": 0}
	for _, r := range rows {
		out[r.Age] = r.N
	}
	return out, nil
}

// claimInvitations and recordOutcomes are prepared, and PostgreSQL may
// plan each once for any ids, not knowing how many (on DB.Generic's pool
// it always does). Their status tests are CASEs so that no such plan can
// read the partial indexes of unsent rows instead of the primary key: one
// made while few rows were owed did, and then read every owed row of an
// import at each claim (TestGenericPlansReadThePrimaryKey).
var claimInvitations = `
		WITH claimed AS (
		    UPDATE invitations i
		       SET status = 'sending', attempts = attempts + 1, claimed_until = now() + make_interval(secs => $2)
		     WHERE id = ANY($1)
		       AND CASE status WHEN 'queued' THEN true WHEN 'retrying' THEN true
		                       WHEN 'sending' THEN claimed_until < now() ELSE false END
		    RETURNING ` + qualified("i", invitationColumns) + `)` + readClaimed

const recordOutcomes = `
		UPDATE invitations i
		   SET status = o.status, last_error = o.error,
		       attempts = i.attempts - CASE WHEN o.postponed THEN 1 ELSE 0 END,
		       sent_at = CASE WHEN o.status = 'sent' THEN o.at ELSE i.sent_at END,
		       message_id = CASE WHEN o.status = 'sent' THEN o.message_id ELSE i.message_id END,
		       claimed_until = CASE WHEN o.status = 'retrying' AND o.retry_at > now() THEN o.retry_at END
		  FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::bool[])
		       AS o(id, attempt, status, message_id, error, at, retry_at, postponed)
		 WHERE i.id = o.id AND CASE i.status WHEN 'sending' THEN i.attempts = o.attempt ELSE false END`
