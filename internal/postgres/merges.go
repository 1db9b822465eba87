package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

const mergeColumns = `id, target_client_id, source_client_ids, dry_run, status, step, progress, plan, noop, error,
	requested_by, created_at, started_at, finished_at`

type mergeRow struct {
	muster.Merge
	Sources pq.Int64Array `db:"source_client_ids"`
	PlanRaw []byte        `db:"plan"`
}

func (r *mergeRow) merge() (*muster.Merge, error) {
	m := r.Merge
	m.SourceClientIDs = r.Sources
	if len(r.PlanRaw) > 0 {
		m.Plan = new(muster.MergePlan)
		if err := json.Unmarshal(r.PlanRaw, m.Plan); err != nil {
			return nil, fmt.Errorf("decode plan of merge %d: %w", m.ID, err)
		}
	}
	return &m, nil
}

// CreateMerge records a merge request after checking it can run: the
// dashboards exist (named by id or by their owner's email), none merges
// into itself, the target was not merged away, no source was merged
// already, and no source is the target of a merge still running. Asking
// again for a merge that was done returns that merge with done set and
// records nothing.
func (db *DB) CreateMerge(ctx context.Context, req muster.MergeRequest, by muster.Actor) (m *muster.Merge, done bool, err error) {
	target, sources, err := db.resolveMerge(ctx, req)
	if err != nil {
		return nil, false, err
	}
	if prev, err := db.mergeDoneAlready(ctx, target, sources); err != nil || prev != nil {
		return prev, prev != nil, err
	}
	if err := checkMergeable(ctx, db, 0, target, sources, req.DryRun); err != nil {
		return nil, false, err
	}
	var row mergeRow
	err = db.GetContext(ctx, &row, `
		INSERT INTO merges (target_client_id, source_client_ids, dry_run, requested_by, token_id)
		VALUES ($1, $2, $3, $4, NULLIF($5, 0)) RETURNING `+mergeColumns,
		target, pq.Array(sources), req.DryRun, by.Name, by.TokenID)
	if err != nil {
		return nil, false, fmt.Errorf("record merge: %w", err)
	}
	m, err = row.merge()
	return m, false, err
}

// resolveMerge turns the request's ids and owner emails into client ids.
func (db *DB) resolveMerge(ctx context.Context, req muster.MergeRequest) (int64, []int64, error) {
	byEmail := func(field, email string) (int64, error) {
		var id int64
		err := db.GetContext(ctx, &id, `SELECT client_id FROM managers WHERE email = $1 AND role = 'owner'`, email)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, muster.NotFound("client_not_found", "%s: no dashboard is owned by %s", field, email)
		}
		return id, err
	}
	target := req.TargetClientID
	if target == 0 {
		var err error
		if target, err = byEmail("target_owner_email", req.TargetOwnerEmail); err != nil {
			return 0, nil, err
		}
	}
	sources := slices.Clone(req.SourceClientIDs)
	for _, e := range req.SourceOwnerEmails {
		id, err := byEmail("source_owner_emails", e)
		if err != nil {
			return 0, nil, err
		}
		sources = append(sources, id)
	}
	sources, err := muster.CheckSources(target, sources)
	if err != nil {
		return 0, nil, err
	}
	for _, id := range append([]int64{target}, sources...) {
		var c muster.Client
		if err := getClient(ctx, db, id, &c); err != nil {
			return 0, nil, err
		}
	}
	return target, sources, nil
}

// mergeDoneAlready finds the done merge that already put every source into
// the target, if they all are there.
func (db *DB) mergeDoneAlready(ctx context.Context, target int64, sources []int64) (*muster.Merge, error) {
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM clients WHERE id = ANY($1) AND merged_into_id = $2`, pq.Array(sources), target); err != nil {
		return nil, fmt.Errorf("check merged sources: %w", err)
	}
	if n != len(sources) {
		return nil, nil
	}
	var row mergeRow
	err := db.GetContext(ctx, &row, `
		SELECT `+mergeColumns+` FROM merges
		 WHERE target_client_id = $1 AND source_client_ids && $2 AND status = 'done' AND NOT dry_run
		 ORDER BY id DESC LIMIT 1`, target, pq.Array(sources))
	if err != nil {
		return nil, fmt.Errorf("find the earlier merge: %w", err)
	}
	return row.merge()
}

// checkMergeable says why the dashboards cannot be merged now, if they
// cannot. self is the merge asking (0 for a new one), so that it does not
// block itself. A dry run may look at a source that another merge is
// filling: its plan reports that as a conflict.
func checkMergeable(ctx context.Context, q sqlx.QueryerContext, self, target int64, sources []int64, dryRun bool) error {
	var clients []muster.Client
	if err := sqlx.SelectContext(ctx, q, &clients, `SELECT `+clientColumns+` FROM clients c WHERE c.id = ANY($1) ORDER BY c.id`,
		pq.Array(append([]int64{target}, sources...))); err != nil {
		return fmt.Errorf("read dashboards: %w", err)
	}
	for _, c := range clients {
		switch {
		case c.MergedIntoID == nil:
		case c.ID == target:
			return muster.Conflict("target_merged", "target client %d was merged into client %d; merge into that one instead", c.ID, *c.MergedIntoID)
		default:
			return muster.Conflict("source_merged", "source client %d was already merged into client %d", c.ID, *c.MergedIntoID)
		}
	}
	if dryRun {
		return nil
	}
	if other, err := runningMergeInto(ctx, q, self, sources); err != nil || other != nil {
		if err != nil {
			return err
		}
		return muster.Conflict("merge_in_progress", "source client %d is the target of merge %d, which has not finished; run this merge after it", other.TargetClientID, other.ID)
	}
	return nil
}

// runningMergeInto finds an unfinished merge (not a dry run) into one of
// the clients.
func runningMergeInto(ctx context.Context, q sqlx.QueryerContext, self int64, clients []int64) (*muster.Merge, error) {
	var m muster.Merge
	err := sqlx.GetContext(ctx, q, &m, `
		SELECT id, target_client_id FROM merges
		 WHERE status IN ('queued', 'running') AND NOT dry_run AND target_client_id = ANY($1) AND id <> $2
		 ORDER BY id LIMIT 1`, pq.Array(clients), self)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find running merges: %w", err)
	}
	return &m, nil
}

// FindMerge returns one merge.
func (db *DB) FindMerge(ctx context.Context, id int64) (*muster.Merge, error) {
	var row mergeRow
	err := db.GetContext(ctx, &row, `SELECT `+mergeColumns+` FROM merges WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, muster.NotFound("merge_not_found", "merge %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("find merge %d: %w", id, err)
	}
	return row.merge()
}

// ListMerges returns the latest merges, newest first: the audit trail.
func (db *DB) ListMerges(ctx context.Context, limit int) ([]muster.Merge, error) {
	var rows []mergeRow
	if err := db.SelectContext(ctx, &rows, `SELECT `+mergeColumns+` FROM merges ORDER BY id DESC LIMIT $1`, limit); err != nil {
		return nil, fmt.Errorf("list merges: %w", err)
	}
	out := make([]muster.Merge, 0, len(rows))
	for i := range rows {
		m, err := rows[i].merge()
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, nil
}

// MergeProgress records how far a running merge is. It runs outside the
// merge's transaction, so the progress is visible while the merge works.
func (db *DB) MergeProgress(ctx context.Context, id int64, step string, percent int) error {
	_, err := db.ExecContext(ctx, `
		UPDATE merges SET step = $2, progress = $3, status = 'running', started_at = COALESCE(started_at, now())
		 WHERE id = $1 AND status IN ('queued', 'running')`, id, step, percent)
	if err != nil {
		return fmt.Errorf("record progress of merge %d: %w", id, err)
	}
	return nil
}

// FailMerge records why a merge cannot run.
func (db *DB) FailMerge(ctx context.Context, id int64, reason string) error {
	_, err := db.ExecContext(ctx, `
		UPDATE merges SET status = 'failed', error = $2, finished_at = now() WHERE id = $1 AND status IN ('queued', 'running')`, id, reason)
	if err != nil {
		return fmt.Errorf("fail merge %d: %w", id, err)
	}
	return nil
}

// TakeOpenMerges returns merges still queued or running that were last
// handed to Redis more than olderThan ago, stamping them as handed now, so
// that a merge Redis lost, or whose worker died, runs again.
func (db *DB) TakeOpenMerges(ctx context.Context, olderThan time.Duration) ([]int64, error) {
	var ids []int64
	err := db.SelectContext(ctx, &ids, `
		UPDATE merges SET enqueued_at = now()
		 WHERE id IN (SELECT id FROM merges WHERE status IN ('queued', 'running')
		                 AND enqueued_at < now() - make_interval(secs => $1) FOR UPDATE SKIP LOCKED)
		RETURNING id`, olderThan.Seconds())
	if err != nil {
		return nil, fmt.Errorf("take open merges: %w", err)
	}
	return ids, nil
}

// Steps of a merge, and how far along each one is.
var mergeSteps = []struct {
	name    string
	percent int
}{{"planning", 10}, {"accounts", 30}, {"managers", 60}, {"dashboards", 80}, {"notices", 90}}

// RunMerge carries out a recorded merge in one transaction, so a merge
// interrupted at any point leaves the old state, and running it again
// finishes it. The dashboards' rows are locked first, in id order: merges
// touching the same dashboards, and account or manager changes in them,
// wait for each other instead of mixing. Only account, manager and token
// rows change: contractors, memberships, invitations, tasks and queued
// jobs refer to accounts by id and do not move at all.
//
// progress is told each step before it runs; an error from it aborts the
// merge. RunMerge returns the merge and the notices to send after commit.
func (db *DB) RunMerge(ctx context.Context, id int64, progress func(step string, percent int) error) (*muster.Merge, []int64, error) {
	var notices []int64
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		var row mergeRow
		if err := tx.GetContext(ctx, &row, `SELECT `+mergeColumns+` FROM merges WHERE id = $1`, id); err != nil {
			return fmt.Errorf("read merge %d: %w", id, err)
		}
		if row.Status == muster.MergeDone || row.Status == muster.MergeFailed {
			return nil
		}
		target, sources := row.TargetClientID, []int64(row.Sources)
		if _, err := tx.ExecContext(ctx, `SELECT id FROM clients WHERE id = ANY($1) ORDER BY id FOR UPDATE`,
			pq.Array(append([]int64{target}, sources...))); err != nil {
			return fmt.Errorf("lock dashboards: %w", err)
		}
		if err := checkMergeable(ctx, tx, id, target, sources, row.DryRun); err != nil {
			return err
		}
		if err := progress(mergeSteps[0].name, mergeSteps[0].percent); err != nil {
			return err
		}
		plan, err := planMerge(ctx, tx, id, target, sources)
		if err != nil {
			return err
		}
		if !row.DryRun {
			if notices, err = applyMerge(ctx, tx, id, plan, progress); err != nil {
				return err
			}
		}
		data, err := json.Marshal(plan)
		if err != nil {
			return fmt.Errorf("encode plan: %w", err)
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE merges SET status = 'done', step = 'done', progress = 100, plan = $2,
			       started_at = COALESCE(started_at, now()), finished_at = now()
			 WHERE id = $1`, id, string(data))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	m, err := db.FindMerge(ctx, id)
	return m, notices, err
}

// planMerge reads what the merge touches and lets muster.PlanMerge decide.
func planMerge(ctx context.Context, q sqlx.QueryerContext, self, target int64, sources []int64) (*muster.MergePlan, error) {
	var st muster.MergeState
	owner := `COALESCE((SELECT m.email FROM managers m WHERE m.client_id = c.id AND m.role = 'owner' AND m.status <> 'revoked'), '') AS owner_email`
	if err := sqlx.GetContext(ctx, q, &st.Target, `SELECT c.id, c.name, `+owner+` FROM clients c WHERE c.id = $1`, target); err != nil {
		return nil, fmt.Errorf("read target: %w", err)
	}
	if err := sqlx.SelectContext(ctx, q, &st.Sources, `SELECT c.id, c.name, `+owner+` FROM clients c WHERE c.id = ANY($1) ORDER BY c.id`, pq.Array(sources)); err != nil {
		return nil, fmt.Errorf("read sources: %w", err)
	}
	if err := sqlx.SelectContext(ctx, q, &st.Accounts, `SELECT id, name, client_id FROM accounts WHERE client_id = ANY($1) ORDER BY client_id, id`, pq.Array(sources)); err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	if err := sqlx.SelectContext(ctx, q, &st.TargetAccounts, `SELECT name FROM accounts WHERE client_id = $1`, target); err != nil {
		return nil, fmt.Errorf("read target accounts: %w", err)
	}
	if err := readMergeManagers(ctx, q, &st, sources); err != nil {
		return nil, err
	}
	running, err := runningMergeInto(ctx, q, self, sources)
	if err != nil {
		return nil, err
	}
	st.Running = running
	err = sqlx.GetContext(ctx, q, &st, `
		SELECT (SELECT count(*) FROM memberships WHERE account_id = ANY($1)) AS memberships,
		       (SELECT count(*) FROM invitations i JOIN memberships m ON m.id = i.membership_id WHERE m.account_id = ANY($1)) AS invitations,
		       (SELECT count(*) FROM tasks WHERE account_id = ANY($1)) AS tasks`, pq.Array(accountIDs(st.Accounts)))
	if err != nil {
		return nil, fmt.Errorf("count what moves: %w", err)
	}
	return muster.PlanMerge(st), nil
}

// readMergeManagers reads the managers of the sources, with their
// accounts, and of the target.
func readMergeManagers(ctx context.Context, q sqlx.QueryerContext, st *muster.MergeState, sources []int64) error {
	if err := sqlx.SelectContext(ctx, q, &st.Managers, `
		SELECT id, email, full_name, role, status, client_id FROM managers
		 WHERE client_id = ANY($1) AND status <> 'revoked' ORDER BY client_id, id`, pq.Array(sources)); err != nil {
		return fmt.Errorf("read managers: %w", err)
	}
	if err := sqlx.SelectContext(ctx, q, &st.TargetManagers, `
		SELECT id, email, full_name, role, status, client_id FROM managers
		 WHERE client_id = $1 AND status <> 'revoked'`, st.Target.ID); err != nil {
		return fmt.Errorf("read target managers: %w", err)
	}
	ids := make([]int64, len(st.Managers))
	for i, m := range st.Managers {
		ids[i] = m.ID
	}
	var access []struct {
		ManagerID int64 `db:"manager_id"`
		AccountID int64 `db:"account_id"`
	}
	if err := sqlx.SelectContext(ctx, q, &access, `
		SELECT manager_id, account_id FROM manager_accounts WHERE manager_id = ANY($1) ORDER BY manager_id, account_id`, pq.Array(ids)); err != nil {
		return fmt.Errorf("read managers' access: %w", err)
	}
	byManager := map[int64][]int64{}
	for _, a := range access {
		byManager[a.ManagerID] = append(byManager[a.ManagerID], a.AccountID)
	}
	for i := range st.Managers {
		st.Managers[i].AccountIDs = byManager[st.Managers[i].ID]
	}
	return nil
}

// applyMerge moves what the plan says, step by step, and queues the notices.
func applyMerge(ctx context.Context, tx *sqlx.Tx, id int64, p *muster.MergePlan, progress func(string, int) error) ([]int64, error) {
	target, sources := p.Target.ID, make([]int64, len(p.Sources))
	for i, s := range p.Sources {
		sources[i] = s.ID
	}
	steps := []func() error{
		func() error {
			for _, a := range p.Accounts {
				name := a.Name
				if a.RenamedTo != "" {
					name = a.RenamedTo
				}
				if _, err := tx.ExecContext(ctx, `UPDATE accounts SET client_id = $2, name = $3 WHERE id = $1`, a.ID, target, name); err != nil {
					return fmt.Errorf("move account %d: %w", a.ID, err)
				}
			}
			return nil
		},
		func() error {
			if _, err := tx.ExecContext(ctx, `
				UPDATE managers SET client_id = $2 WHERE client_id = ANY($1) AND role <> 'owner' AND status <> 'revoked'`, pq.Array(sources), target); err != nil {
				return fmt.Errorf("move managers: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `
				UPDATE api_tokens t SET client_id = $2 FROM managers m
				 WHERE t.manager_id = m.id AND m.client_id = $2 AND t.client_id = ANY($1)`, pq.Array(sources), target); err != nil {
				return fmt.Errorf("move manager tokens: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `
				UPDATE managers SET status = 'revoked' WHERE client_id = ANY($1) AND role = 'owner'`, pq.Array(sources)); err != nil {
				return fmt.Errorf("revoke source owners: %w", err)
			}
			// What is left on the sources: their client tokens and their owners' tokens.
			_, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE client_id = ANY($1) AND revoked_at IS NULL`, pq.Array(sources))
			if err != nil {
				return fmt.Errorf("revoke source tokens: %w", err)
			}
			return nil
		},
		func() error {
			_, err := tx.ExecContext(ctx, `UPDATE clients SET merged_into_id = $2, merged_at = now() WHERE id = ANY($1)`, pq.Array(sources), target)
			if err != nil {
				return fmt.Errorf("mark dashboards merged: %w", err)
			}
			return nil
		},
	}
	for i, step := range steps {
		s := mergeSteps[i+1]
		if err := progress(s.name, s.percent); err != nil {
			return nil, err
		}
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := progress(mergeSteps[4].name, mergeSteps[4].percent); err != nil {
		return nil, err
	}
	var notices []int64
	err := tx.SelectContext(ctx, &notices, `
		INSERT INTO invitations (manager_id, merge_id, kind, locale, enqueued_at)
		SELECT m.id, $1, 'merged', m.locale, now() FROM managers m
		 WHERE (m.client_id = $2 AND m.role = 'owner' AND m.status = 'active')
		    OR m.id = ANY($3)
		    OR (m.id = ANY($4) AND m.status = 'active')
		RETURNING id`, id, target, pq.Array(p.ManagersTo(muster.MergeRevoke)), pq.Array(p.ManagersTo(muster.MergeMove)))
	if err != nil {
		return nil, fmt.Errorf("queue merge notices: %w", err)
	}
	return notices, nil
}

func accountIDs(as []muster.MergeAccount) []int64 {
	ids := make([]int64, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return ids
}
