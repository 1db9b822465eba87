// Package actions is what people and schedules do to Muster: invite,
// resend, exclude, import a file, record an onboarding event, invite and
// edit managers, merge dashboards, create dashboards and accounts, edit
// cards and tasks, record the mail provider's reports. The JSON API, the command line and the
// console call it; they parse and render, actions decides the order of the
// steps (check, store, then enqueue), and postgres loads and stores.
//
// Each action names the few store methods it needs in its own small
// interface, next to it; Store is only their sum, for the one constructor.
package actions

import (
	"context"
	"log/slog"
	"time"
)

// Queue hands recorded work to the job queue. Each kind of task knows its
// own queue, so callers never choose one.
type Queue interface {
	Send(ctx context.Context, invitationID int64) error
	Merge(ctx context.Context, mergeID int64) error
	Import(ctx context.Context, importID int64) error
}

// Store is every store method an action uses: the sum of the per-action
// interfaces below. *postgres.DB satisfies it.
type Store interface {
	InviteStore
	ContractorStore
	EventStore
	ImportStore
	ManagerStore
	MergeStore
	TokenStore
	AccountStore
	CardStore
	MailStore
}

// Options tune the actions; a zero field means its default.
type Options struct {
	// ResendInterval is the least time between two emails a manual resend
	// may cause for one contractor. Default 10 minutes.
	ResendInterval time.Duration
	// TmpDir holds uploads while they are checked ("" for the system's).
	TmpDir string
	// Limiter bounds invitations, imports, resends and emails per
	// recipient (Limit); nil: no limits.
	Limiter Limiter
	// Emails counts the outcomes the mail provider reports; nil: none.
	Emails EmailCounter
}

// Actions carries out what the entry points ask for.
type Actions struct {
	invites     InviteStore
	contractors ContractorStore
	events      EventStore
	imports     ImportStore
	managers    ManagerStore
	merges      MergeStore
	tokens      TokenStore
	accounts    AccountStore
	cards       CardStore
	mail        MailStore
	queue       Queue
	log         *slog.Logger
	opts        Options
}

// New builds the actions over a store and a queue.
func New(store Store, queue Queue, log *slog.Logger, opts Options) *Actions {
	if opts.ResendInterval == 0 {
		opts.ResendInterval = 10 * time.Minute
	}
	return &Actions{
		invites: store, contractors: store, events: store, imports: store, managers: store, merges: store, tokens: store,
		accounts: store, cards: store, mail: store,
		queue: queue, log: log, opts: opts,
	}
}

// enqueued logs a failed enqueue of work that is already recorded: the
// caller's request succeeded, and the requeue sweep hands the work to
// Redis later, so the failure is not the caller's.
func (a *Actions) enqueued(err error, what string, id int64) {
	if err != nil {
		a.log.Warn("enqueue failed; the requeue sweep will retry", what, id, "error", err)
	}
}
