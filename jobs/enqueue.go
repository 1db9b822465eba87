package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// sendTimeout bounds one attempt at sending an email; the PostgreSQL lease
// outlives it, so a lease never ends while its attempt may still run.
const (
	sendTimeout = time.Minute
	sendLease   = 2 * sendTimeout
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
	task, err := newTask(SendArgs{InvitationID: invitationID},
		asynq.TaskID(sendTaskID(invitationID)),
		asynq.Queue(queue),
		// PostgreSQL counts the attempts and decides the last one; Asynq
		// only needs to keep retrying until then.
		asynq.MaxRetry(e.attempts+5),
		asynq.Timeout(sendTimeout))
	if err != nil {
		return err
	}
	_, err = e.client.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("enqueue invitation %d: %w", invitationID, err)
	}
	return nil
}

// Import enqueues the import of an uploaded file on the bulk queue. The
// task id is derived from the import, so a second enqueue is a no-op while
// the task is queued, running or waiting to retry.
func (e *Enqueuer) Import(ctx context.Context, importID int64) error {
	task, err := newTask(ImportArgs{ImportID: importID},
		asynq.TaskID("import:"+strconv.FormatInt(importID, 10)),
		asynq.Queue(QueueBulk),
		asynq.MaxRetry(20),
		asynq.Timeout(importTimeout))
	if err != nil {
		return err
	}
	_, err = e.client.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("enqueue import %d: %w", importID, err)
	}
	return nil
}

func sendTaskID(invitationID int64) string {
	return "send:" + strconv.FormatInt(invitationID, 10)
}
