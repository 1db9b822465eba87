package muster

import "slices"

// ManagerInvite asks to bring a manager into a dashboard with access to
// some of its accounts at once: one email, one acceptance.
type ManagerInvite struct {
	ClientID   int64
	Email      string
	FullName   string
	Role       string
	AccountIDs []int64
	Locale     Locale
	InvitedBy  int64 // the inviting manager; 0 for client and staff tokens
}

// NewManagerInvite validates and normalizes a manager invitation. The
// email becomes the manager's login; the role is one for every account.
func NewManagerInvite(clientID int64, email, fullName, role string, accountIDs []int64, locale string) (ManagerInvite, error) {
	in := ManagerInvite{ClientID: clientID}
	var err error
	if in.Email, err = NormalizeEmail("email", email); err != nil {
		return in, err
	}
	if in.FullName, err = CleanLine("full_name", fullName, MaxNameLen); err != nil {
		return in, err
	}
	if in.Role, err = GrantableRole(role); err != nil {
		return in, err
	}
	if in.AccountIDs, err = cleanAccountIDs(accountIDs); err != nil {
		return in, err
	}
	if in.Locale, err = ParseLocale("locale", locale); err != nil {
		return in, err
	}
	return in, nil
}

// ManagerEdit changes a manager's role, accounts, or both. The role applies
// to every account of the manager: there are no per-account roles.
type ManagerEdit struct {
	ManagerID  int64
	Role       string  // "" keeps the role
	AccountIDs []int64 // nil keeps the accounts
	// Limited bounds the edit to Reach, the accounts of an actor who was
	// given only some: the manager's accounts outside it are kept as they
	// are, since that actor can neither see nor grant them.
	Limited bool
	Reach   []int64
}

// NewManagerEdit validates an edit; nil means the field was not given.
func NewManagerEdit(managerID int64, role *string, accountIDs *[]int64) (ManagerEdit, error) {
	e := ManagerEdit{ManagerID: managerID}
	if role == nil && accountIDs == nil {
		return e, Invalid("empty_edit", "give role, account_ids or both")
	}
	var err error
	if role != nil {
		if e.Role, err = GrantableRole(*role); err != nil {
			return e, err
		}
	}
	if accountIDs != nil {
		if e.AccountIDs, err = cleanAccountIDs(*accountIDs); err != nil {
			return e, err
		}
	}
	return e, nil
}

// Accounts returns the manager's accounts after the edit, given the ones
// the manager has now.
func (e ManagerEdit) Accounts(current []int64) []int64 {
	if e.AccountIDs == nil {
		return current
	}
	out := slices.Clone(e.AccountIDs)
	if e.Limited {
		for _, id := range current {
			if !slices.Contains(e.Reach, id) {
				out = append(out, id)
			}
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

// CheckRole refuses a role change by an editor limited to some accounts
// when the manager also has others: the role applies to every account of
// the manager, so only someone who reaches all of them may change it.
func (e ManagerEdit) CheckRole(m *Manager) error {
	if !e.Limited || e.Role == "" || e.Role == m.Role {
		return nil
	}
	for _, id := range m.AccountIDs {
		if !slices.Contains(e.Reach, id) {
			return Errorf(KindForbidden, "forbidden",
				"manager %d also has accounts you were not given, and a role applies to all of them; the owner can change it", m.ID)
		}
	}
	return nil
}

// GrantableRole validates a role to give a manager. The owner is the
// dashboard's main profile, made with the dashboard: nobody hands out a
// second one.
func GrantableRole(raw string) (string, error) {
	switch raw {
	case RoleAdmin, RoleManager, RoleViewer:
		return raw, nil
	case RoleOwner:
		return "", Invalid("invalid_role", `role "owner" belongs to the dashboard's main profile and cannot be given; use admin, manager or viewer`)
	case "":
		return "", Invalid("invalid_role", "role is empty; use admin, manager or viewer")
	default:
		return "", Invalid("invalid_role", "role %q is not one of admin, manager, viewer", raw)
	}
}

func cleanAccountIDs(ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, Invalid("invalid_account_ids", "account_ids is empty; give the manager at least one account")
	}
	return cleanIDs("account_ids", ids)
}

// UnknownAccount is the error for an account id in account_ids that is not
// in the dashboard or not within the caller's reach; the two read alike so
// that ids cannot be probed.
func UnknownAccount(clientID, id int64) error {
	return Invalid("unknown_account", "account_ids holds %d, which is not an account of client %d within your reach", id, clientID)
}

// ErrInvitationToken is the answer to an acceptance token that is
// malformed, altered, made for another purpose or names no invitation.
var ErrInvitationToken = Invalid("invalid_invitation_token", "the invitation token is invalid or was altered; use the link from the email as it is")

// ParseKYBDecision validates a staff decision on an account's KYB.
func ParseKYBDecision(raw string) (string, error) {
	if raw == KYBVerified || raw == KYBRejected {
		return raw, nil
	}
	return "", Invalid("invalid_kyb_status", "status %q is not verified or rejected", raw)
}

// AuthorizeManager checks that the actor may do act on manager m. A
// manager of another dashboard is not found; an admin may manage managers
// but not the owner, the dashboard's main profile.
func (a Actor) AuthorizeManager(m *Manager, act Action) error {
	if !a.SeesClient(m.ClientID) {
		return NotFound("manager_not_found", "manager %d not found", m.ID)
	}
	if !a.Allows(act) {
		return Errorf(KindForbidden, "forbidden", "role %q may not do this to manager %d", a.Role, m.ID)
	}
	if act == ManageManagers && m.Role == RoleOwner && a.Limited() {
		return Errorf(KindForbidden, "forbidden", "role %q may not change the owner of the dashboard", a.Role)
	}
	return nil
}

// AuthorizeRemoval checks that the actor may remove manager m: a manager
// of the dashboard's managers, never the owner, and for an admin only one
// whose accounts it was all given, since removal takes every one of them.
func (a Actor) AuthorizeRemoval(m *Manager) error {
	if err := a.AuthorizeManager(m, ManageManagers); err != nil {
		return err
	}
	if m.Role == RoleOwner {
		return Conflict("owner_not_removable", "manager %d is the owner of the dashboard and cannot be removed", m.ID)
	}
	if a.Limited() {
		for _, id := range m.AccountIDs {
			if !slices.Contains(a.AccountIDs, id) {
				return Errorf(KindForbidden, "forbidden", "manager %d has accounts role %q was not given; only a manager with all of them may remove them", m.ID, a.Role)
			}
		}
	}
	return nil
}
