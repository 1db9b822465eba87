package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/muster-dev/muster/internal/muster"
)

// RequeueStore is what the requeue sweep needs from the database.
type RequeueStore interface {
	TakeUnsent(ctx context.Context, olderThan time.Duration, limit int) ([]muster.Unsent, error)
	TakeOpenMerges(ctx context.Context, olderThan time.Duration) ([]int64, error)
	TakeStaleImports(ctx context.Context, olderThan time.Duration) ([]int64, error)
}

// Requeuer is the handler of TypeRequeue. PostgreSQL, not Redis, knows
// which emails are still owed: every unsent invitation that has waited
// longer than After is enqueued again. Task ids make that a no-op for the
// ones Redis still holds; the ones Redis lost (a flush, a failover, a
// crash before the first enqueue) go out.
type Requeuer struct {
	Store RequeueStore
	Queue *Enqueuer
	After time.Duration
	Log   *slog.Logger
}

const requeueBatch = 1000

// Process sweeps until nothing older than After is left.
func (r *Requeuer) Process(ctx context.Context, _ RequeueArgs) error {
	merges, err := r.Store.TakeOpenMerges(ctx, r.After)
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
		batch, err := r.Store.TakeUnsent(ctx, r.After, requeueBatch)
		if err != nil {
			return err
		}
		for _, u := range batch {
			if err := r.Queue.Send(ctx, u.ID, queueFor(u)); err != nil {
				return fmt.Errorf("requeue: %w", err)
			}
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
	imports, err := r.Store.TakeStaleImports(ctx, max(r.After, importLease))
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
	return nil
}

// queueFor picks the queue of an invitation's email: the bulk queue for
// the ones an import queued, so a large import never delays one invitation.
func queueFor(u muster.Unsent) string {
	switch {
	case u.Bulk:
		return QueueBulk
	case u.Kind == muster.InviteRemind:
		return QueueDefault
	}
	return QueueCritical
}
