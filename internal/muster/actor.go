package muster

import (
	"context"
	"slices"
)

// Token kinds: who an API token speaks for.
const (
	TokenStaff   = "staff"   // the platform's own staff: every dashboard, merges
	TokenClient  = "client"  // one dashboard, with the owner's rights
	TokenManager = "manager" // one manager, with their role and accounts
)

// Actor is whoever makes a request, resolved from an API token.
type Actor struct {
	TokenID    int64
	Kind       string
	Name       string  // the token's label, for audit trails
	ClientID   int64   // client and manager tokens
	ManagerID  int64   // manager tokens
	Role       string  // manager tokens
	AccountIDs []int64 // manager tokens: the accounts the manager was given
}

// Action is something an actor may be allowed to do.
type Action int

const (
	ReadContractors  Action = iota // list, read cards, follow imports
	WriteContractors               // invite, import, resend, exclude, edit cards
	ManageAccounts                 // create accounts in the dashboard
	ManageManagers                 // invite managers, edit access and roles
	ReadDashboard                  // list and read accounts and managers
)

// roleActions is the permission table (README: "Roles"). What an actor may
// do is further bounded by what it can see: a manager who is not the owner
// acts only in the accounts given to them (SeesAccount, CheckReach).
var roleActions = map[string][]Action{
	RoleOwner:   {ReadDashboard, ReadContractors, WriteContractors, ManageAccounts, ManageManagers},
	RoleAdmin:   {ReadDashboard, ReadContractors, WriteContractors, ManageAccounts, ManageManagers},
	RoleManager: {ReadDashboard, ReadContractors, WriteContractors},
	RoleViewer:  {ReadDashboard, ReadContractors},
}

// Staff reports whether the actor is platform staff.
func (a Actor) Staff() bool { return a.Kind == TokenStaff }

// StaffOnly refuses anyone but platform staff to do what.
func (a Actor) StaffOnly(what string) error {
	if !a.Staff() {
		return Errorf(KindForbidden, "staff_only", "only platform staff tokens may %s", what)
	}
	return nil
}

// SeesClient reports whether the actor may see the dashboard at all.
func (a Actor) SeesClient(clientID int64) bool {
	return a.Staff() || a.ClientID == clientID
}

// SeesAccount reports whether the account is visible to the actor: staff
// see all, a client its dashboard's, an owner all of the dashboard's, other
// managers only the accounts they were given.
func (a Actor) SeesAccount(acc *Account) bool {
	switch {
	case a.Staff():
		return true
	case a.ClientID != acc.ClientID:
		return false
	case a.Kind == TokenClient || a.Role == RoleOwner:
		return true
	default:
		return slices.Contains(a.AccountIDs, acc.ID)
	}
}

// Limited reports whether the actor reaches only the accounts it was given:
// a manager token of any role but owner. Staff, client tokens and owners
// reach every account of their dashboard.
func (a Actor) Limited() bool {
	return a.Kind == TokenManager && a.Role != RoleOwner
}

// CheckReach checks that a limited actor was given every account in ids,
// so that nobody grants access they do not have. An account out of reach
// reads exactly like an account that does not exist.
func (a Actor) CheckReach(clientID int64, ids []int64) error {
	if !a.Limited() {
		return nil
	}
	for _, id := range ids {
		if !slices.Contains(a.AccountIDs, id) {
			return UnknownAccount(clientID, id)
		}
	}
	return nil
}

// VisibleAccountIDs keeps the ids of the accounts the actor can see, so a
// limited actor reading a colleague does not learn of other accounts.
func (a Actor) VisibleAccountIDs(ids []int64) []int64 {
	out := []int64{}
	for _, id := range ids {
		if !a.Limited() || slices.Contains(a.AccountIDs, id) {
			out = append(out, id)
		}
	}
	return out
}

// Allows reports whether the actor's role permits the action. Visibility is
// checked separately: an object the actor cannot see must read as not found.
func (a Actor) Allows(act Action) bool {
	if a.Staff() || a.Kind == TokenClient {
		return true
	}
	return slices.Contains(roleActions[a.Role], act)
}

// AuthorizeAccount checks that the actor may do act in the account. An
// account outside the actor's reach is reported as not found, so that ids
// cannot be probed.
func (a Actor) AuthorizeAccount(acc *Account, act Action) error {
	if !a.SeesAccount(acc) {
		return NotFound("account_not_found", "account %d not found", acc.ID)
	}
	if !a.Allows(act) {
		return Errorf(KindForbidden, "forbidden", "role %q may not do this in account %d", a.Role, acc.ID)
	}
	return nil
}

// AuthorizeClient is AuthorizeAccount for dashboard-level actions.
func (a Actor) AuthorizeClient(clientID int64, act Action) error {
	if !a.SeesClient(clientID) {
		return NotFound("client_not_found", "client %d not found", clientID)
	}
	if !a.Allows(act) {
		return Errorf(KindForbidden, "forbidden", "role %q may not do this in client %d", a.Role, clientID)
	}
	return nil
}

type actorKey struct{}

// WithActor returns ctx carrying the actor.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// AccountGrantee is the manager a new account this actor creates is given
// to: a limited manager, or they could not see what they made; 0 for
// everyone else.
func (a Actor) AccountGrantee() int64 {
	if a.Limited() {
		return a.ManagerID
	}
	return 0
}

// SigninLink is a one-time console sign-in link to email to a manager:
// the id to sign, and the address and language of the email.
type SigninLink struct {
	ID       int64  `db:"id"`
	Email    string `db:"email"`
	FullName string `db:"full_name"`
	Locale   Locale `db:"locale"`
}
