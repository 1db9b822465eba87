package muster

import "time"

// Join is how an invited contractor enters an account, and which email
// tells them.
type Join struct {
	Status string // MemberInvited or MemberActive
	Kind   string // InviteSignup or InviteAdded
	Linked bool
}

// JoinFor decides an invitation for a contractor: one who already
// registered on the platform is linked at once and gets the short "you
// were added" notice; anyone else is invited to sign up.
func JoinFor(c Contractor) Join {
	if c.Registered() {
		return Join{Status: MemberActive, Kind: InviteAdded, Linked: true}
	}
	return Join{Status: MemberInvited, Kind: InviteSignup}
}

// Rejoin decides an invitation into an account where the contractor has
// a membership already: an excluded contractor is invited afresh
// (inviting again undoes an exclusion); anyone else is already a member.
func Rejoin(email string, accountID int64, existing Membership) error {
	if existing.Status == MemberExcluded {
		return nil
	}
	return Conflict("already_member",
		"%s is already in account %d (status %s); resend the invitation instead", email, accountID, existing.Status)
}

// ContractorCancel says why an email to a contractor must not go out any
// more, or "" if it still should: the contractor was excluded, or
// registered before a sign-up email left (an "added" notice is for the
// registered, so it still goes), or unsubscribed from this account's
// reminders.
func ContractorCancel(kind, memberStatus string, registered, unsubscribed bool) string {
	switch {
	case memberStatus == MemberExcluded:
		return "the contractor was excluded from the account"
	case registered && kind != InviteAdded:
		return "the contractor registered before it was sent"
	case unsubscribed && kind == InviteRemind:
		return "the contractor unsubscribed from reminders"
	}
	return ""
}

// ManagerCancel says why a manager's invitation must not go out any more,
// or "" if it still should.
func ManagerCancel(managerStatus string) string {
	switch managerStatus {
	case ManagerActive:
		return "the manager accepted an earlier invitation"
	case ManagerRevoked:
		return "the manager was revoked"
	}
	return ""
}

// ReminderDue decides whether a contractor gets a reminder at now, and
// which step it is (1 for the first). Reminders go only to contractors
// still invited (not registered, not excluded) whose invitation was
// delivered and who did not unsubscribe from them; step k is due schedule[k-1] after the invitation, and once
// every step of the schedule was sent there are no more. The reminder
// sweep (postgres.QueueReminders) applies the same rule to every
// membership in one statement; a test holds the two to each other.
func ReminderDue(memberStatus, sendStatus string, unsubscribed bool, invitedAt time.Time, sent int, now time.Time, schedule []time.Duration) (step int, due bool) {
	if memberStatus != MemberInvited || sendStatus != SendSent || unsubscribed || sent >= len(schedule) {
		return 0, false
	}
	if invitedAt.Add(schedule[sent]).After(now) {
		return 0, false
	}
	return sent + 1, true
}
