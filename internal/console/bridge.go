package console

import (
	"context"
	"log/slog"
	"time"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/jobs"
)

// StoreActions carry out the console's actions with the store and queue
// calls the JSON API's handlers make, in their order (record, then
// enqueue), until both call one application layer.
type StoreActions struct {
	Store interface {
		Invite(ctx context.Context, in muster.Invite) (*muster.Invited, error)
		Resend(ctx context.Context, accountID, contractorID int64, interval time.Duration) (*muster.Invitation, error)
		Exclude(ctx context.Context, accountID, contractorID int64) (*muster.Membership, error)
	}
	Queue interface {
		Send(ctx context.Context, invitationID int64, queue string) error
	}
	ResendInterval time.Duration
	Log            *slog.Logger
}

// Invite records the invitation and queues its email.
func (a StoreActions) Invite(ctx context.Context, in muster.Invite) (*muster.Invited, error) {
	res, err := a.Store.Invite(ctx, in)
	if err != nil {
		return nil, err
	}
	a.enqueue(ctx, res.Invitation.ID)
	return res, nil
}

// Resend queues the sign-up invitation again, unless too soon.
func (a StoreActions) Resend(ctx context.Context, accountID, contractorID int64) (*muster.Invitation, error) {
	inv, err := a.Store.Resend(ctx, accountID, contractorID, a.ResendInterval)
	if err != nil {
		return nil, err
	}
	a.enqueue(ctx, inv.ID)
	return inv, nil
}

// Exclude takes a contractor out of the account.
func (a StoreActions) Exclude(ctx context.Context, accountID, contractorID int64) (*muster.Membership, error) {
	return a.Store.Exclude(ctx, accountID, contractorID)
}

// enqueue: a failure is not the caller's; the requeue sweep sends later.
func (a StoreActions) enqueue(ctx context.Context, id int64) {
	if err := a.Queue.Send(ctx, id, jobs.QueueCritical); err != nil {
		a.Log.Warn("enqueue failed; the requeue sweep will retry", "invitation", id, "error", err)
	}
}
