package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

const taskColumns = `t.id, t.account_id, m.contractor_id, t.title, t.description, t.status, t.created_at, t.updated_at`

// CreateTask gives a contractor of the account a task. An excluded
// contractor gets none.
func (db *DB) CreateTask(ctx context.Context, accountID, contractorID int64, title, description, actor string) (*muster.Task, error) {
	var t *muster.Task
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		m, err := findMembership(ctx, tx, accountID, contractorID, false)
		if err != nil {
			return err
		}
		if m.Status == muster.MemberExcluded {
			return muster.Conflict("contractor_excluded", "contractor %d was excluded from account %d", contractorID, accountID)
		}
		var id int64
		err = tx.GetContext(ctx, &id, `
			INSERT INTO tasks (account_id, membership_id, title, description) VALUES ($1, $2, $3, $4) RETURNING id`,
			accountID, m.ID, title, description)
		if err != nil {
			return fmt.Errorf("insert task: %w", err)
		}
		if err := recordTask(ctx, tx, id, muster.TaskNew, actor); err != nil {
			return err
		}
		t, err = findTask(ctx, tx, accountID, id, false)
		return err
	})
	return t, err
}

// UpdateTask changes a task's title, description or status; a status
// change must be a legal move and is added to the history.
func (db *DB) UpdateTask(ctx context.Context, accountID, taskID int64, u muster.TaskUpdate, actor string) (*muster.Task, error) {
	var t *muster.Task
	err := db.Transact(ctx, func(tx *sqlx.Tx) error {
		cur, err := findTask(ctx, tx, accountID, taskID, true)
		if err != nil {
			return err
		}
		if u.Status != nil && *u.Status != cur.Status {
			if err := muster.CheckTaskMove(cur.Status, *u.Status); err != nil {
				return err
			}
			if err := recordTask(ctx, tx, taskID, *u.Status, actor); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE tasks SET title = COALESCE($2, title), description = COALESCE($3, description),
			       status = COALESCE($4, status), updated_at = now()
			 WHERE id = $1`, taskID, u.Title, u.Description, u.Status)
		if err != nil {
			return fmt.Errorf("update task %d: %w", taskID, err)
		}
		t, err = findTask(ctx, tx, accountID, taskID, false)
		return err
	})
	return t, err
}

// Tasks lists an account's tasks, newest first, for one contractor when
// contractorID is not zero.
func (db *DB) Tasks(ctx context.Context, accountID, contractorID int64) ([]muster.Task, error) {
	var ts []muster.Task
	err := db.SelectContext(ctx, &ts, `
		SELECT `+taskColumns+` FROM tasks t JOIN memberships m ON m.id = t.membership_id
		 WHERE t.account_id = $1 AND ($2 = 0 OR m.contractor_id = $2)
		 ORDER BY t.id DESC LIMIT 1000`, accountID, contractorID)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return ts, withHistory(ctx, db, ts)
}

func tasksOf(ctx context.Context, q sqlx.QueryerContext, membershipID int64) ([]muster.Task, error) {
	ts := []muster.Task{}
	err := sqlx.SelectContext(ctx, q, &ts, `
		SELECT `+taskColumns+` FROM tasks t JOIN memberships m ON m.id = t.membership_id
		 WHERE t.membership_id = $1 ORDER BY t.id DESC`, membershipID)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return ts, withHistory(ctx, q, ts)
}

func findTask(ctx context.Context, q sqlx.QueryerContext, accountID, taskID int64, lock bool) (*muster.Task, error) {
	query := `SELECT ` + taskColumns + ` FROM tasks t JOIN memberships m ON m.id = t.membership_id
		WHERE t.id = $1 AND t.account_id = $2`
	if lock {
		query += ` FOR UPDATE OF t`
	}
	var t muster.Task
	err := sqlx.GetContext(ctx, q, &t, query, taskID, accountID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, muster.NotFound("task_not_found", "task %d not found in account %d", taskID, accountID)
	}
	if err != nil {
		return nil, fmt.Errorf("find task %d: %w", taskID, err)
	}
	ts := []muster.Task{t}
	if err := withHistory(ctx, q, ts); err != nil {
		return nil, err
	}
	return &ts[0], nil
}

// withHistory loads the status history of the tasks in one query.
func withHistory(ctx context.Context, q sqlx.QueryerContext, ts []muster.Task) error {
	if len(ts) == 0 {
		return nil
	}
	ids := make([]int64, len(ts))
	at := map[int64]int{}
	for i, t := range ts {
		ids[i], at[t.ID] = t.ID, i
		ts[i].History = []muster.TaskEvent{}
	}
	var evs []muster.TaskEvent
	err := sqlx.SelectContext(ctx, q, &evs, `
		SELECT task_id, status, at, actor FROM task_events WHERE task_id = ANY($1) ORDER BY id`, pq.Array(ids))
	if err != nil {
		return fmt.Errorf("task history: %w", err)
	}
	for _, e := range evs {
		i := at[e.TaskID]
		ts[i].History = append(ts[i].History, e)
	}
	return nil
}

func recordTask(ctx context.Context, tx *sqlx.Tx, taskID int64, status, actor string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO task_events (task_id, status, actor) VALUES ($1, $2, $3)`, taskID, status, actor)
	if err != nil {
		return fmt.Errorf("record task status: %w", err)
	}
	return nil
}
