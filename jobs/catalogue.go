package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// The catalogue: every task kind Muster runs, with its arguments and what
// Asynq must know about its tasks (queue, task id, retry budget, timeout),
// declared next to the arguments as river's InsertOpts does. A caller
// enqueues arguments and never chooses a queue. A new kind is, in this
// file, its Type constant, its Args type, its entry in kinds, a field in
// Handlers and a line in register; then its handler in a file of its own.
// NewWorker refuses to start without a handler for every kind.

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
	TypeSend       = "invitation:send"
	TypeRemindSend = "reminder:send"
	TypeImportSend = "import:send"
	TypeImport     = "import:workbook"
	TypeMerge      = "dashboard:merge"
	TypeRequeue    = "invitation:requeue"
	TypeRemind     = "reminder:schedule"
)

// Timeouts of one attempt.
const (
	// sendTimeout bounds one attempt at handing an email to SMTP (the
	// exchange is cut at it); the PostgreSQL lease outlives it by the time
	// the outcome write gets, so a lease never ends while its attempt may
	// still run. The lease is also what an email claimed by a worker that
	// died waits for. A send task's deadline is the lease.
	sendTimeout    = 10 * time.Second
	outcomeTimeout = 10 * time.Second
	sendLease      = sendTimeout + outcomeTimeout
	// importTimeout bounds one attempt at an import (or a batch of its
	// emails); a 100k-row file takes seconds, so this only catches a
	// wedged worker.
	importTimeout = 2 * time.Hour
)

// kind is what Asynq must know about every task of a kind.
type kind struct {
	queue string
	// retries is the retry budget. For emails PostgreSQL counts the
	// attempts and decides the last one (SEND_ATTEMPTS); Asynq only needs
	// to keep retrying until then, hence a few more.
	retries func(sendAttempts int) int
	timeout time.Duration // 0: Asynq's default (30 minutes)
}

func fixed(n int) func(int) int         { return func(int) int { return n } }
func emailRetries(sendAttempts int) int { return sendAttempts + 5 }

// kinds is the catalogue proper.
var kinds = map[string]kind{
	TypeSend:       {queue: QueueCritical, retries: emailRetries, timeout: sendLease},
	TypeRemindSend: {queue: QueueDefault, retries: emailRetries, timeout: sendLease},
	TypeImportSend: {queue: QueueBulk, retries: emailRetries, timeout: importTimeout},
	TypeImport:     {queue: QueueImports, retries: fixed(20), timeout: importTimeout},
	TypeMerge:      {queue: QueueDefault, retries: fixed(10)},
	TypeRequeue:    {queue: QueueDefault, retries: fixed(asynqDefaultRetries)},
	TypeRemind:     {queue: QueueDefault, retries: fixed(asynqDefaultRetries)},
}

// asynqDefaultRetries is Asynq's own default, kept for the periodic sweeps
// (the next period runs them again anyway).
const asynqDefaultRetries = 25

// Args is a task's typed payload. TaskID is "" for kinds whose tasks need
// no id (the periodic sweeps are unique per period instead).
type Args interface {
	Kind() string
	TaskID() string
}

// SendArgs: send one invitation email (a sign-up invitation, a resend, a
// notice, a manager's invitation).
type SendArgs struct {
	InvitationID int64 `json:"invitation_id"`
}

func (SendArgs) Kind() string     { return TypeSend }
func (a SendArgs) TaskID() string { return sendTaskID(a.InvitationID) }

// RemindSendArgs: send one reminder email, as SendArgs does, on the
// default queue so that reminders never delay an invitation. The task id
// is the same as SendArgs', as the invitation is.
type RemindSendArgs struct {
	InvitationID int64 `json:"invitation_id"`
}

func (RemindSendArgs) Kind() string     { return TypeRemindSend }
func (a RemindSendArgs) TaskID() string { return sendTaskID(a.InvitationID) }

func sendTaskID(invitationID int64) string {
	return "send:" + strconv.FormatInt(invitationID, 10)
}

// ImportSendArgs: send the emails imports owe, on behalf of batch Batch
// (its last line) of an import. The batch, not a list of ids, travels in
// the task: PostgreSQL says which emails are still owed when it runs.
type ImportSendArgs struct {
	ImportID int64 `json:"import_id"`
	Batch    int   `json:"batch"`
	Part     int   `json:"part,omitempty"` // which of the batch's sendTasksPerBatch tasks
}

// sendTasksPerBatch is how many import:send tasks a batch queues. They
// are interchangeable (each claims whatever is owed), and several let
// several worker processes, each taking up to BULK_CONCURRENCY of them,
// share one batch's emails: a second worker adds its SMTP connections.
const sendTasksPerBatch = 16

func (ImportSendArgs) Kind() string { return TypeImportSend }
func (a ImportSendArgs) TaskID() string {
	id := "import:" + strconv.FormatInt(a.ImportID, 10) + ":send:" + strconv.Itoa(a.Batch)
	if a.Part > 0 {
		id += ":" + strconv.Itoa(a.Part)
	}
	return id
}

// ImportArgs: import the rows of one uploaded file.
type ImportArgs struct {
	ImportID int64 `json:"import_id"`
}

func (ImportArgs) Kind() string     { return TypeImport }
func (a ImportArgs) TaskID() string { return "import:" + strconv.FormatInt(a.ImportID, 10) }

// MergeArgs: run merge MergeID.
type MergeArgs struct {
	MergeID int64 `json:"merge_id"`
}

func (MergeArgs) Kind() string     { return TypeMerge }
func (a MergeArgs) TaskID() string { return "merge:" + strconv.FormatInt(a.MergeID, 10) }

// RequeueArgs: hand unsent invitations, open merges and stale imports to
// Redis again.
type RequeueArgs struct{}

func (RequeueArgs) Kind() string   { return TypeRequeue }
func (RequeueArgs) TaskID() string { return "" }

// RemindArgs: queue the reminders that are due.
type RemindArgs struct{}

func (RemindArgs) Kind() string   { return TypeRemind }
func (RemindArgs) TaskID() string { return "" }

// newTask encodes args as a task with the options its kind declares;
// extra options (a delay, uniqueness) come after them.
func newTask(args Args, sendAttempts int, extra ...asynq.Option) (*asynq.Task, error) {
	k, ok := kinds[args.Kind()]
	if !ok {
		return nil, fmt.Errorf("task kind %q is not in the catalogue (jobs/catalogue.go)", args.Kind())
	}
	payload, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", args.Kind(), err)
	}
	opts := []asynq.Option{asynq.Queue(k.queue), asynq.MaxRetry(k.retries(sendAttempts))}
	if id := args.TaskID(); id != "" {
		opts = append(opts, asynq.TaskID(id))
	}
	if k.timeout > 0 {
		opts = append(opts, asynq.Timeout(k.timeout))
	}
	return asynq.NewTask(args.Kind(), payload, append(opts, extra...)...), nil
}

// registry builds the worker's mux from the handlers, and refuses a kind
// handled twice or not at all.
type registry struct {
	mux  *asynq.ServeMux
	seen map[string]bool
	errs []error
}

// handle registers fn, a method of h, as the handler of T's kind. A nil h
// is a missing handler.
func handle[T Args, H any](r *registry, h *H, fn func(*H, context.Context, T) error) {
	var zero T
	kind := zero.Kind()
	switch {
	case h == nil:
		return // reported by check
	case r.seen[kind]:
		r.errs = append(r.errs, fmt.Errorf("task kind %q has two handlers", kind))
		return
	}
	r.seen[kind] = true
	r.mux.Handle(kind, typed(func(ctx context.Context, args T) error { return fn(h, ctx, args) }))
}

// check reports every catalogue kind without a handler, and every kind
// handled twice.
func (r *registry) check() error {
	for k := range kinds {
		if !r.seen[k] {
			r.errs = append(r.errs, fmt.Errorf("task kind %q has no handler: set its field in jobs.Handlers", k))
		}
	}
	return errors.Join(r.errs...)
}

// Handlers are the task handlers a worker runs, one for each kind of the
// catalogue; register pairs them.
type Handlers struct {
	Send      *Sender // invitation:send and reminder:send
	Batches   *BatchSender
	Import    *Importer
	Merger    *Merger
	Requeue   *Requeuer
	Reminders *Reminders
}

// register pairs every kind with its handler.
func (h Handlers) register(mux *asynq.ServeMux) error {
	r := &registry{mux: mux, seen: map[string]bool{}}
	handle(r, h.Send, (*Sender).Process)
	handle(r, h.Send, (*Sender).Remind)
	handle(r, h.Batches, (*BatchSender).Process)
	handle(r, h.Import, (*Importer).Process)
	handle(r, h.Merger, (*Merger).Process)
	handle(r, h.Requeue, (*Requeuer).Process)
	handle(r, h.Reminders, (*Reminders).Process)
	return r.check()
}

// typed adapts a handler of typed args to Asynq. A payload that does not
// decode will never decode: it is not retried.
func typed[T Args](fn func(context.Context, T) error) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		var args T
		if err := json.Unmarshal(t.Payload(), &args); err != nil {
			return permanent(fmt.Errorf("decode %s payload: %v", t.Type(), err))
		}
		return fn(ctx, args)
	}
}
