package actions

import (
	"context"
	"time"

	"github.com/muster-dev/muster/internal/muster"
)

// InviteStore records an invitation.
type InviteStore interface {
	Invite(ctx context.Context, in muster.Invite) (*muster.Invited, error)
}

// ContractorStore changes a contractor's membership in an account.
type ContractorStore interface {
	Resend(ctx context.Context, accountID, contractorID int64, interval time.Duration) (*muster.Invitation, error)
	Exclude(ctx context.Context, accountID, contractorID int64) (*muster.Membership, error)
}

// EventStore applies the sign-up app's onboarding events.
type EventStore interface {
	ApplyEvent(ctx context.Context, ev muster.Event) (*muster.Contractor, bool, error)
}

// Invite records the invitation of one contractor and queues its email.
// Once it returns, the email will go out even if Redis is down now.
func (a *Actions) Invite(ctx context.Context, in muster.Invite) (*muster.Invited, error) {
	res, err := a.invites.Invite(ctx, in)
	if err != nil {
		return nil, err
	}
	a.enqueued(a.queue.Send(ctx, res.Invitation.ID), "invitation", res.Invitation.ID)
	return res, nil
}

// Resend queues the sign-up invitation again, refused when the last email
// to the contractor left less than ResendInterval ago.
func (a *Actions) Resend(ctx context.Context, accountID, contractorID int64) (*muster.Invitation, error) {
	inv, err := a.contractors.Resend(ctx, accountID, contractorID, a.opts.ResendInterval)
	if err != nil {
		return nil, err
	}
	a.enqueued(a.queue.Send(ctx, inv.ID), "invitation", inv.ID)
	return inv, nil
}

// Exclude takes a contractor out of an account and cancels the emails not
// sent yet.
func (a *Actions) Exclude(ctx context.Context, accountID, contractorID int64) (*muster.Membership, error) {
	return a.contractors.Exclude(ctx, accountID, contractorID)
}

// Event applies one onboarding event; duplicate reports an event seen
// before, which changes nothing.
func (a *Actions) Event(ctx context.Context, ev muster.Event) (c *muster.Contractor, duplicate bool, err error) {
	return a.events.ApplyEvent(ctx, ev)
}
