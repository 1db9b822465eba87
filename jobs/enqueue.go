package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/sync/errgroup"
)

// sendTimeout bounds one attempt at sending an email (the SMTP exchange is
// cut at it); the PostgreSQL lease outlives it by the time the outcome
// write gets, so a lease never ends while its attempt may still run. The
// lease is also what an email claimed by a worker that died waits for.
const (
	sendTimeout = 10 * time.Second
	sendLease   = sendTimeout + outcomeTimeout
	// outcomeTimeout bounds the write of a send's outcome.
	outcomeTimeout = 10 * time.Second
)

// Enqueuer puts tasks on the queues.
type Enqueuer struct {
	client   *asynq.Client
	attempts int
}

// NewEnqueuer wraps an Asynq client. attempts is SEND_ATTEMPTS.
func NewEnqueuer(c *asynq.Client, attempts int) *Enqueuer {
	return &Enqueuer{client: c, attempts: attempts}
}

// Send enqueues the email of one invitation. The task id is derived from
// the invitation, so enqueueing it again while a task for it is queued,
// running or waiting to retry is a no-op.
func (e *Enqueuer) Send(ctx context.Context, invitationID int64, queue string) error {
	return e.send(ctx, invitationID, queue, 0)
}

func (e *Enqueuer) send(ctx context.Context, invitationID int64, queue string, delay time.Duration) error {
	return e.enqueue(ctx, SendArgs{InvitationID: invitationID},
		asynq.TaskID(sendTaskID(invitationID)),
		asynq.Queue(queue),
		asynq.ProcessIn(delay),
		// PostgreSQL counts the attempts and decides the last one; Asynq
		// only needs to keep retrying until then.
		asynq.MaxRetry(e.attempts+5),
		asynq.Timeout(sendLease))
}

// ImportBatch enqueues the emails of one batch of an import, as one task on
// the bulk queue.
func (e *Enqueuer) ImportBatch(ctx context.Context, importID int64, batch int) error {
	return e.enqueue(ctx, ImportSendArgs{ImportID: importID, Batch: batch},
		asynq.TaskID("import:"+strconv.FormatInt(importID, 10)+":send:"+strconv.Itoa(batch)),
		asynq.Queue(QueueBulk),
		asynq.MaxRetry(e.attempts+5),
		asynq.Timeout(importTimeout))
}

// Import enqueues the import of an uploaded file, under a task id derived
// from the import in the same way.
func (e *Enqueuer) Import(ctx context.Context, importID int64) error {
	return e.enqueue(ctx, ImportArgs{ImportID: importID},
		asynq.TaskID("import:"+strconv.FormatInt(importID, 10)),
		asynq.Queue(QueueImports),
		asynq.MaxRetry(20),
		asynq.Timeout(importTimeout))
}

// enqueue puts a task on its queue; a task with the same id already there
// is success.
func (e *Enqueuer) enqueue(ctx context.Context, args Args, opts ...asynq.Option) error {
	task, err := newTask(args, opts...)
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

// Merge enqueues a recorded merge; enqueueing it again while it waits or
// runs is a no-op.
func (e *Enqueuer) Merge(ctx context.Context, mergeID int64) error {
	return e.enqueue(ctx, MergeArgs{MergeID: mergeID},
		asynq.TaskID("merge:"+strconv.FormatInt(mergeID, 10)), asynq.Queue(QueueDefault), asynq.MaxRetry(10))
}

// enqueuers is how many enqueues run at once in SendMany: one Redis round
// trip each, so a few in flight multiply the throughput.
const enqueuers = 8

// SendMany enqueues the emails of many invitations, the i-th spacing*i
// from now (zero spacing: all at once).
func (e *Enqueuer) SendMany(ctx context.Context, ids []int64, queue string, spacing time.Duration) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(enqueuers)
	for i, id := range ids {
		g.Go(func() error { return e.send(ctx, id, queue, spacing*time.Duration(i)) })
	}
	return g.Wait()
}

func sendTaskID(invitationID int64) string {
	return "send:" + strconv.FormatInt(invitationID, 10)
}
