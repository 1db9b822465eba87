package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/muster"
)

// RequeueStore is what the requeue sweep needs from the database.
type RequeueStore interface {
	TakeUnsent(ctx context.Context, olderThan time.Duration, limit int) ([]muster.Unsent, error)
	TakeOpenMerges(ctx context.Context, olderThan time.Duration) ([]int64, error)
	TakeStaleImports(ctx context.Context, olderThan time.Duration) ([]int64, error)
	ExpirePreviews(ctx context.Context) (int, error)
}

// Requeuer is the handler of TypeRequeue. PostgreSQL, not Redis, knows
// which emails are still owed: every unsent invitation that has waited
// longer than After is enqueued again. Task ids make that a no-op for the
// ones Redis still holds; the ones Redis lost (a flush, a failover, a
// crash before the first enqueue) go out.
//
// With Redis set, each sweep also notices within seconds what would
// otherwise wait for REQUEUE_AFTER or Asynq's own slow recovery: a Redis
// that lost its data (see lostData), and tasks left running by a worker
// that died (see orphans).
type Requeuer struct {
	Store RequeueStore
	Queue *Enqueuer
	Tasks *asynq.Inspector // finds and deletes archived tasks to replace
	After time.Duration
	Redis redis.UniversalClient
	Log   *slog.Logger
}

// NewRequeuer is the worker's requeue sweep: what waited REQUEUE_AFTER,
// and everything at once when Redis lost its data.
func NewRequeuer(d *Deps) *Requeuer {
	return once(d, func() *Requeuer {
		r := &Requeuer{Store: d.Store, Queue: d.Queue, After: d.Config.RequeueAfter, Redis: d.Redis, Log: d.Log}
		if d.Redis != nil {
			r.Tasks = asynq.NewInspectorFromRedisClient(d.Redis)
		}
		return r
	})
}

const requeueBatch = 1000

// Process sweeps until nothing older than After is left, or nothing at all
// when Redis lost its data.
func (r *Requeuer) Process(ctx context.Context, _ RequeueArgs) error {
	after := r.After
	if r.Redis != nil {
		lost, err := r.lostData(ctx)
		if err != nil {
			return err
		}
		if lost {
			r.Log.Warn("Redis may have lost data (its marker is missing or names another server: a restart, a failover, or the first sweep): enqueueing every open task again")
			after = 0
		}
		if err := r.orphans(ctx); err != nil {
			r.Log.Warn("orphaned tasks not checked", "error", err) // the rest of the sweep still helps
		}
	}
	merges, err := r.Store.TakeOpenMerges(ctx, after)
	if err != nil {
		return err
	}
	for _, id := range merges {
		if err := r.Queue.Merge(ctx, id); err != nil {
			return fmt.Errorf("requeue: %w", err)
		}
	}
	total := 0
	for {
		batch, err := r.Store.TakeUnsent(ctx, after, requeueBatch)
		if err != nil {
			return err
		}
		if err := r.requeue(ctx, batch); err != nil {
			return err
		}
		total += len(batch)
		if len(batch) < requeueBatch {
			break
		}
	}
	if total > 0 {
		r.Log.Info("requeued unsent invitations", "count", total)
	}
	// Imports nobody is running (Redis lost the task, or every attempt
	// died) go back to the queue too; StartImport lets only one run.
	stale := max(after, importLease)
	if after == 0 {
		stale = 0
	}
	imports, err := r.Store.TakeStaleImports(ctx, stale)
	if err != nil {
		return err
	}
	for _, id := range imports {
		if err := r.Queue.Import(ctx, id); err != nil {
			return fmt.Errorf("requeue: %w", err)
		}
	}
	if len(imports) > 0 {
		r.Log.Info("requeued stale imports", "imports", imports)
	}
	// Previews not confirmed in time end, and their files go.
	expired, err := r.Store.ExpirePreviews(ctx)
	if err != nil {
		return err
	}
	if expired > 0 {
		r.Log.Info("expired previews", "count", expired)
	}
	return nil
}

// requeue enqueues unsent emails again: an import's as the tasks of their
// batch (once per batch), the others one by one, each reminder as one. A
// task archived under the same id is replaced.
func (r *Requeuer) requeue(ctx context.Context, unsent []muster.Unsent) error {
	type batch struct {
		importID int64
		line     int
	}
	done := map[batch]bool{}
	for _, u := range unsent {
		var err error
		switch {
		case u.ImportID != nil && u.ImportBatch != nil:
			b := batch{*u.ImportID, *u.ImportBatch}
			if !done[b] {
				done[b] = true
				for part := range sendTasksPerBatch {
					if err = r.Queue.replace(ctx, r.Tasks, ImportSendArgs{ImportID: b.importID, Batch: b.line, Part: part}); err != nil {
						break
					}
				}
			}
		case u.Kind == muster.InviteRemind:
			err = r.Queue.replace(ctx, r.Tasks, RemindSendArgs{InvitationID: u.ID})
		default:
			err = r.Queue.replace(ctx, r.Tasks, SendArgs{InvitationID: u.ID})
		}
		if err != nil {
			return fmt.Errorf("requeue: %w", err)
		}
	}
	return nil
}
