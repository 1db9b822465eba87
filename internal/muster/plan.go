package muster

import (
	"fmt"
	"slices"
	"strings"
)

// MergeState is what planning a merge reads from the store, as it stands
// inside the merge's transaction.
type MergeState struct {
	Target  MergeClient
	Sources []MergeClient
	// Accounts are the sources' accounts, by source and id.
	Accounts []MergeAccount
	// TargetAccounts are the names of the accounts already in the target.
	TargetAccounts []string
	// Managers are the sources' managers that are not revoked, by source
	// and id, with their accounts; TargetManagers the target's.
	Managers       []MergeManager
	TargetManagers []MergeManager
	// Running is an unfinished merge into one of the sources, if any.
	Running *Merge
	// What moves with the accounts, untouched.
	Memberships, Invitations, Tasks int
}

// PlanMerge decides what merging the sources into the target does: which
// accounts move and under which name, which managers move or lose access,
// who gets a notice, and every conflict with its resolution.
func PlanMerge(s MergeState) *MergePlan {
	p := &MergePlan{
		Target: s.Target, Sources: s.Sources, Conflicts: []MergeConflict{},
		Accounts: slices.Clone(s.Accounts), Managers: slices.Clone(s.Managers),
		Memberships: s.Memberships, Invitations: s.Invitations, Tasks: s.Tasks,
	}
	sourceName := map[int64]string{}
	for _, c := range s.Sources {
		sourceName[c.ID] = c.Name
	}
	taken := make([]string, 0, len(s.TargetAccounts)+len(s.Accounts))
	for _, n := range s.TargetAccounts {
		taken = append(taken, strings.ToLower(n))
	}
	for i := range p.Accounts {
		a := &p.Accounts[i]
		name := a.Name
		for n := 1; slices.Contains(taken, strings.ToLower(name)); n++ {
			name = fmt.Sprintf("%s (%s)", a.Name, sourceName[a.FromClientID])
			if n > 1 {
				name = fmt.Sprintf("%s (%s %d)", a.Name, sourceName[a.FromClientID], n)
			}
		}
		if name != a.Name {
			a.RenamedTo = name
			p.Conflicts = append(p.Conflicts, MergeConflict{
				Kind:       "account_name_taken",
				Message:    fmt.Sprintf("account %q of %s has the name of an account already in %s", a.Name, sourceName[a.FromClientID], p.Target.Name),
				Resolution: fmt.Sprintf("renamed to %q", name),
			})
		}
		taken = append(taken, strings.ToLower(name))
	}
	planManagers(p, s.TargetManagers)
	if s.Running != nil {
		p.Conflicts = append(p.Conflicts, MergeConflict{
			Kind:       "source_is_merge_target",
			Message:    fmt.Sprintf("client %d is the target of merge %d, which has not finished", s.Running.TargetClientID, s.Running.ID),
			Resolution: "applying is refused until that merge finishes",
		})
	}
	return p
}

// planManagers decides each source manager's fate: owners lose access,
// everyone else moves with the accounts they had.
func planManagers(p *MergePlan, targets []MergeManager) {
	p.Notices = 1 // the target's owner
	for i := range p.Managers {
		m := &p.Managers[i]
		m.AccountIDs = slices.Clone(m.AccountIDs)
		if m.AccountIDs == nil {
			m.AccountIDs = []int64{}
		}
		m.Action = MergeMove
		switch {
		case m.Role == RoleOwner:
			m.Action = MergeRevoke
			p.Notices++
		case m.Status == ManagerInvited:
			p.Conflicts = append(p.Conflicts, MergeConflict{
				Kind:       "pending_manager_invitation",
				Message:    fmt.Sprintf("%s has not accepted the invitation to client %d yet", m.Email, m.FromClientID),
				Resolution: fmt.Sprintf("the invitation moves to %s: the emailed link stays valid and grants the same accounts", p.Target.Name),
			})
		default:
			p.Notices++
		}
		for _, t := range targets {
			if m.Action == MergeMove && m.FullName != "" && strings.EqualFold(m.FullName, t.FullName) && m.Role != t.Role {
				p.Conflicts = append(p.Conflicts, MergeConflict{
					Kind: "same_name_manager",
					Message: fmt.Sprintf("%s (%s, %s) has the name of %s (%s) in %s but another role",
						m.FullName, m.Email, m.Role, t.Email, t.Role, p.Target.Name),
					Resolution: "kept as two profiles, each with its own email and role; nothing is joined",
				})
			}
		}
	}
}

// ManagersTo lists the managers the plan does action to.
func (p *MergePlan) ManagersTo(action string) []int64 {
	var ids []int64
	for _, m := range p.Managers {
		if m.Action == action {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// MergeNotice is what one reader's merge email says: who it is for
// (Audience…), the dashboards it speaks of and the accounts that concern
// the reader, under their new names. A source's owner hears only of their
// own dashboard; a moved manager only of their own accounts.
func MergeNotice(p *MergePlan, email, role string) (audience string, sources, accounts []string) {
	switch {
	case role == RoleOwner && slices.ContainsFunc(p.Sources, func(c MergeClient) bool { return c.OwnerEmail == email }):
		audience = AudienceSourceOwner
	case role == RoleOwner:
		audience = AudienceTargetOwner
	default:
		audience = AudienceManager
	}
	from := map[int64]bool{}
	for _, s := range p.Sources {
		if audience != AudienceSourceOwner || s.OwnerEmail == email {
			from[s.ID] = true
			sources = append(sources, s.Name)
		}
	}
	var mine []int64
	for _, m := range p.Managers {
		if m.Email == email {
			mine = m.AccountIDs
		}
	}
	for _, a := range p.Accounts {
		if !from[a.FromClientID] || (audience == AudienceManager && !slices.Contains(mine, a.ID)) {
			continue
		}
		name := a.Name
		if a.RenamedTo != "" {
			name = a.RenamedTo
		}
		accounts = append(accounts, name)
	}
	return audience, sources, accounts
}
