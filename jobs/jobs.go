// Package jobs is Muster's background work on Asynq: the task kinds, their
// typed arguments, the handlers, the enqueuer and the worker and scheduler
// processes. Handlers are idempotent: PostgreSQL records what was done, so a
// task delivered twice, a worker killed mid-task or a Redis that lost its
// data never sends an email twice or loses one.
package jobs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hibiken/asynq"
)

// Queues. Interactive work and bulk work run on separate Asynq servers in
// each worker, so a 100k-row import never delays a single invitation.
const (
	QueueCritical = "critical" // single invitations, resends, notices
	QueueDefault  = "default"  // reminders, sweeps
	QueueBulk     = "bulk"     // the emails imports queue
	// QueueImports holds the import jobs, on a server of their own: an
	// upload must not wait behind the 100k emails of the import before it.
	QueueImports = "imports"
)

// Task kinds, "domain:action" as Asynq names them.
const (
	TypeSend    = "invitation:send"
	TypeRequeue = "invitation:requeue"
	TypeImport  = "import:workbook"
)

// Args is a task's typed payload.
type Args interface{ Kind() string }

// SendArgs: send one invitation email.
type SendArgs struct {
	InvitationID int64 `json:"invitation_id"`
}

func (SendArgs) Kind() string { return TypeSend }

// ImportArgs: import the rows of one uploaded file.
type ImportArgs struct {
	ImportID int64 `json:"import_id"`
}

func (ImportArgs) Kind() string { return TypeImport }

// RequeueArgs: hand unsent invitations to Redis again.
type RequeueArgs struct{}

func (RequeueArgs) Kind() string { return TypeRequeue }

// newTask encodes args as a task.
func newTask(args Args, opts ...asynq.Option) (*asynq.Task, error) {
	payload, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", args.Kind(), err)
	}
	return asynq.NewTask(args.Kind(), payload, opts...), nil
}

// lastAttempt reports whether Asynq will not run this task again if it
// fails now: its state in PostgreSQL must then be settled, or the row would
// wait for a task that is archived (and whose id keeps the requeue sweep's
// enqueue a no-op).
func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	max, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= max
}

// typed adapts a handler of typed args to Asynq. A payload that does not
// decode will never decode: it is not retried.
func typed[T Args](fn func(context.Context, T) error) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		var args T
		if err := json.Unmarshal(t.Payload(), &args); err != nil {
			return fmt.Errorf("decode %s payload: %v: %w", t.Type(), err, asynq.SkipRetry)
		}
		return fn(ctx, args)
	}
}
