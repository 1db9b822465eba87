package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/mail"
)

// The catalogue: every task kind Muster runs, with its arguments, what
// Asynq must know about its tasks (queue, task id, retry budget, timeout,
// period) declared next to the arguments as river's InsertOpts does, and
// how its handler is built from the worker's Deps. A caller enqueues
// arguments and never chooses a queue. A new kind is, in this file, its
// Type constant, its Args type and its entry in kinds (plus its store in
// Store); then its handler, with the New… function that builds it from
// Deps, in a file of its own. Nothing else changes: the process hands
// every worker the same Deps. NewWorker refuses to start when a kind has
// no handler or two.

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
	// died waits for. A send task's deadline is the lease. SMTP_TIMEOUT
	// cannot exceed sendTimeout.
	sendTimeout    = config.MaxSMTPTimeout
	outcomeTimeout = 10 * time.Second
	sendLease      = sendTimeout + outcomeTimeout
	// importTimeout bounds one attempt at an import (or a batch of its
	// emails); a 100k-row file takes seconds, so this only catches a
	// wedged worker.
	importTimeout = 2 * time.Hour
)

// kind is what Asynq must know about every task of a kind, and how a
// worker handles them.
type kind struct {
	queue string
	// retries is the retry budget. For emails PostgreSQL counts the
	// attempts and decides the last one (SEND_ATTEMPTS); Asynq only needs
	// to keep retrying until then, hence a few more.
	retries func(sendAttempts int) int
	timeout time.Duration // 0: Asynq's default (30 minutes)
	// every makes the kind periodic: the scheduler enqueues it this often
	// (its Args have no fields). 0: something enqueues it.
	every time.Duration
	// handler builds the kind's handler (see handler); nil is a kind the
	// worker refuses to start without.
	handler *builder
}

func fixed(n int) func(int) int         { return func(int) int { return n } }
func emailRetries(sendAttempts int) int { return sendAttempts + 5 }

// kinds is the catalogue proper. init fills it, not its declaration: the
// handlers enqueue tasks, which reads kinds, and Go refuses that cycle in
// a variable's initializer.
var kinds map[string]kind

func init() {
	kinds = map[string]kind{
		TypeSend: {queue: QueueCritical, retries: emailRetries, timeout: sendLease,
			handler: handler(NewSender, (*Sender).Process)},
		TypeRemindSend: {queue: QueueDefault, retries: emailRetries, timeout: sendLease,
			handler: handler(NewSender, (*Sender).Remind)},
		TypeImportSend: {queue: QueueBulk, retries: emailRetries, timeout: importTimeout,
			handler: handler(NewBatchSender, (*BatchSender).Process)},
		TypeImport: {queue: QueueImports, retries: fixed(20), timeout: importTimeout,
			handler: handler(NewImporter, (*Importer).Process)},
		TypeMerge: {queue: QueueDefault, retries: fixed(10),
			handler: handler(NewMerger, (*Merger).Process)},
		// Every 5 s: the sweep finds a Redis that lost its data and the tasks
		// of a worker that died, and recovery waits for it.
		TypeRequeue: {queue: QueueDefault, retries: fixed(asynqDefaultRetries), every: 5 * time.Second,
			handler: handler(NewRequeuer, (*Requeuer).Process)},
		TypeRemind: {queue: QueueDefault, retries: fixed(asynqDefaultRetries), every: time.Minute,
			handler: handler(NewReminders, (*Reminders).Process)},
	}
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

// Store is every store method the handlers use: the sum of the stores
// their files name. *postgres.DB satisfies it.
type Store interface {
	SendStore
	BatchStore
	ImportStore
	MergeStore
	RequeueStore
	RemindStore
}

// Deps is what every handler is built from. The process builds it once
// and hands it to NewWorker; each kind's entry in kinds says how its
// handler is made from it, so a new kind changes neither.
type Deps struct {
	Store Store
	// BulkStore is the database of bulk work, imports' rows and the emails
	// imports owe: a pool of BULK_DB_CONNS connections, so that they leave
	// PostgreSQL's CPUs to the API and single emails. nil: Store.
	BulkStore Store
	// SendStore claims single emails and records their outcomes: a small
	// pool on which PostgreSQL plans those statements once, not at each
	// call (postgres.DB.Generic). nil: Store.
	SendStore SendStore
	Queue     *Enqueuer
	// Redis is the worker's Redis; nil: no sent log, and no lost-data or
	// orphan checks in the requeue sweep.
	Redis redis.UniversalClient
	// Mail sends single emails; BulkMail, on a pool of connections of its
	// own, the emails imports owe, so that a single invitation never
	// waits behind bulk ones, hung or not.
	Mail, BulkMail mail.Sender
	Render         *mail.Renderer
	Signer         *signed.Signer // signs the links in emails
	Config         *config.Config
	Log            *slog.Logger
	Metrics        Recorder         // nil: nothing recorded
	Now            func() time.Time // nil: time.Now

	mu    sync.Mutex
	built map[any]any // by a nil *H: the handler values once made
	// settling counts the outcomes single sends write after their handler
	// returned (Sender.Behind); the worker waits for them when it stops.
	settling sync.WaitGroup
}

func (d *Deps) bulkStore() Store {
	if d.BulkStore == nil {
		return d.Store
	}
	return d.BulkStore
}

func (d *Deps) sendStore() SendStore {
	if d.SendStore == nil {
		return d.Store
	}
	return d.SendStore
}

func (d *Deps) now() func() time.Time {
	if d.Now == nil {
		return time.Now
	}
	return d.Now
}

// once returns d's value of type H, made by build the first time: a
// worker runs one handler of each type, which kinds may share
// (invitation:send and reminder:send share the Sender) and a test may
// adjust before the worker starts, and handlers share what once makes
// (both senders' SentLog).
func once[H any](d *Deps, build func() *H) *H {
	key := (*H)(nil)
	d.mu.Lock()
	h, ok := d.built[key]
	d.mu.Unlock()
	if ok {
		return h.(*H)
	}
	made := build() // unlocked: a builder may build what it shares
	d.mu.Lock()
	defer d.mu.Unlock()
	if h, ok := d.built[key]; ok {
		return h.(*H)
	}
	if d.built == nil {
		d.built = map[any]any{}
	}
	d.built[key] = made
	return made
}

// builder is how a catalogue entry's handler is made; args is the zero
// value of the arguments it takes.
type builder struct {
	args  Args
	build func(*Deps) asynq.Handler
}

// handler names a kind's handler: fn, a method of the value build makes
// from the worker's Deps.
func handler[T Args, H any](build func(*Deps) *H, fn func(*H, context.Context, T) error) *builder {
	var zero T
	return &builder{args: zero, build: func(d *Deps) asynq.Handler {
		h := build(d)
		return typed(func(ctx context.Context, args T) error { return fn(h, ctx, args) })
	}}
}

// register builds the handler of every kind in cat from d onto mux. It
// refuses a kind without a handler and a kind handled twice (an entry
// naming another kind's handler), before building anything.
func register(mux *asynq.ServeMux, cat map[string]kind, d *Deps) error {
	var errs []error
	handlers := map[string]int{}
	for _, name := range slices.Sorted(maps.Keys(cat)) {
		b := cat[name].handler
		switch {
		case b == nil:
			errs = append(errs, fmt.Errorf("task kind %q has no handler: name it in its entry of kinds (jobs/catalogue.go)", name))
			continue
		case b.args.Kind() != name:
			errs = append(errs, fmt.Errorf("task kind %q has no handler: its entry of kinds names the handler of %q", name, b.args.Kind()))
		}
		handlers[b.args.Kind()]++
	}
	for _, name := range slices.Sorted(maps.Keys(handlers)) {
		if handlers[name] > 1 {
			errs = append(errs, fmt.Errorf("task kind %q has %d handlers", name, handlers[name]))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for name, k := range cat {
		mux.Handle(name, k.handler.build(d))
	}
	return nil
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
