package actions

import (
	"context"
	"time"

	"github.com/muster-dev/muster/internal/muster"
)

// ManagerStore records managers, their invitations and their accounts.
type ManagerStore interface {
	InviteManager(ctx context.Context, in muster.ManagerInvite) (*muster.Manager, *muster.Invitation, error)
	ResendManagerInvitation(ctx context.Context, managerID int64, interval time.Duration) (*muster.Invitation, error)
	UpdateManager(ctx context.Context, e muster.ManagerEdit) (*muster.Manager, error)
	AcceptManager(ctx context.Context, invitationID int64, tokenName string) (*muster.Manager, string, error)
	RemoveManager(ctx context.Context, id int64) (*muster.Manager, error)
}

// InviteManager records a manager invited by a (who must reach every
// account given) and queues the one email that invites them.
func (a *Actions) InviteManager(ctx context.Context, by muster.Actor, in muster.ManagerInvite) (*muster.Manager, *muster.Invitation, error) {
	if err := by.CheckReach(in.ClientID, in.AccountIDs); err != nil {
		return nil, nil, err
	}
	in.InvitedBy = by.ManagerID
	m, inv, err := a.managers.InviteManager(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	a.enqueued(a.queue.Send(ctx, inv.ID), "invitation", inv.ID)
	return m, inv, nil
}

// ResendManager queues the invitation of a manager who has not accepted,
// throttled like a contractor's resend.
func (a *Actions) ResendManager(ctx context.Context, managerID int64) (*muster.Invitation, error) {
	inv, err := a.managers.ResendManagerInvitation(ctx, managerID, a.opts.ResendInterval)
	if err != nil {
		return nil, err
	}
	a.enqueued(a.queue.Send(ctx, inv.ID), "invitation", inv.ID)
	return inv, nil
}

// EditManager changes a manager's role or accounts as by sees them:
// accounts by cannot reach are left as they are.
func (a *Actions) EditManager(ctx context.Context, by muster.Actor, clientID int64, e muster.ManagerEdit) (*muster.Manager, error) {
	if err := by.CheckReach(clientID, e.AccountIDs); err != nil {
		return nil, err
	}
	e.Limited, e.Reach = by.Limited(), by.AccountIDs
	return a.managers.UpdateManager(ctx, e)
}

// AcceptManager records the acceptance of a verified invitation and
// returns the manager's first API token.
func (a *Actions) AcceptManager(ctx context.Context, invitationID int64, tokenName string) (*muster.Manager, string, error) {
	return a.managers.AcceptManager(ctx, invitationID, tokenName)
}

// RemoveManager revokes manager m if by may: their tokens and access end
// at once, and their profile stays for history.
func (a *Actions) RemoveManager(ctx context.Context, by muster.Actor, m *muster.Manager) (*muster.Manager, error) {
	if err := by.AuthorizeRemoval(m); err != nil {
		return nil, err
	}
	return a.managers.RemoveManager(ctx, m.ID)
}
