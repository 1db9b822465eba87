package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"
)

// Enqueuer puts tasks on the queues their kinds name (catalogue.go). Task
// ids are derived from what the task is about, so enqueueing it again
// while a task for it is queued, running or waiting to retry is a no-op.
type Enqueuer struct {
	client   *asynq.Client
	attempts int
}

// NewEnqueuer wraps an Asynq client. attempts is SEND_ATTEMPTS.
func NewEnqueuer(c *asynq.Client, attempts int) *Enqueuer {
	return &Enqueuer{client: c, attempts: attempts}
}

// Send enqueues the email of one invitation.
func (e *Enqueuer) Send(ctx context.Context, invitationID int64) error {
	return e.enqueue(ctx, SendArgs{InvitationID: invitationID})
}

// ImportBatch enqueues the emails of one batch of an import, as
// sendTasksPerBatch interchangeable tasks.
func (e *Enqueuer) ImportBatch(ctx context.Context, importID int64, batch int) error {
	for part := range sendTasksPerBatch {
		if err := e.enqueue(ctx, ImportSendArgs{ImportID: importID, Batch: batch, Part: part}); err != nil {
			return err
		}
	}
	return nil
}

// Import enqueues the import of an uploaded file.
func (e *Enqueuer) Import(ctx context.Context, importID int64) error {
	return e.enqueue(ctx, ImportArgs{ImportID: importID})
}

// Merge enqueues a recorded merge.
func (e *Enqueuer) Merge(ctx context.Context, mergeID int64) error {
	return e.enqueue(ctx, MergeArgs{MergeID: mergeID})
}

// enqueue puts a task on its queue, after delay; a task with the same id
// already there is success.
func (e *Enqueuer) enqueue(ctx context.Context, args Args, extra ...asynq.Option) error {
	task, err := newTask(args, e.attempts, extra...)
	if err != nil {
		return err
	}
	_, err = e.client.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("enqueue %s %+v: %w", args.Kind(), args, err)
	}
	return nil
}

// replace enqueues as enqueue does, except that a task Asynq archived under
// the same id (its retries ran out while PostgreSQL still owes its work)
// is deleted, through inspect, and enqueued afresh: otherwise its id would
// make every requeue a no-op and the work would wait forever.
func (e *Enqueuer) replace(ctx context.Context, inspect *asynq.Inspector, args Args) error {
	task, err := newTask(args, e.attempts)
	if err != nil {
		return err
	}
	_, err = e.client.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) && inspect != nil {
		queue, id := kinds[args.Kind()].queue, args.TaskID()
		info, ierr := inspect.GetTaskInfo(queue, id)
		if ierr != nil || info.State != asynq.TaskStateArchived {
			return nil // queued, running or retrying: it will do the work
		}
		if err := inspect.DeleteTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return fmt.Errorf("replace archived task %s: %w", id, err)
		}
		_, err = e.client.EnqueueContext(ctx, task) // a conflict now: another sweep replaced it first
	}
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("enqueue %s %+v: %w", args.Kind(), args, err)
	}
	return nil
}

// enqueuers is how many enqueues run at once in SendMany: one Redis round
// trip each, so a few in flight multiply the throughput.
const enqueuers = 8

// SendMany enqueues the emails of many invitations, the i-th spacing*i
// from now (zero spacing: all at once).
func (e *Enqueuer) SendMany(ctx context.Context, ids []int64, spacing time.Duration) error {
	return e.many(ctx, ids, spacing, func(id int64) Args { return SendArgs{InvitationID: id} })
}

// RemindMany enqueues many reminders as SendMany does.
func (e *Enqueuer) RemindMany(ctx context.Context, ids []int64, spacing time.Duration) error {
	return e.many(ctx, ids, spacing, func(id int64) Args { return RemindSendArgs{InvitationID: id} })
}

func (e *Enqueuer) many(ctx context.Context, ids []int64, spacing time.Duration, args func(int64) Args) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(enqueuers)
	for i, id := range ids {
		g.Go(func() error { return e.enqueue(ctx, args(id), asynq.ProcessIn(spacing*time.Duration(i))) })
	}
	return g.Wait()
}
