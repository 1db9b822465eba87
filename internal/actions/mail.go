package actions

import (
	"context"

	"github.com/muster-dev/muster/internal/muster"
)

// MailStore records what the mail provider reports and who asked for no
// more mail: the suppression list and stopped reminders.
type MailStore interface {
	ApplyMailEvent(ctx context.Context, ev muster.MailEvent) (*muster.MailEventResult, error)
	ListSuppressions(ctx context.Context, email string, limit int) ([]muster.Suppression, error)
	ClearSuppression(ctx context.Context, email string) error
	StopReminders(ctx context.Context, membershipID int64) error
}

// EmailCounter counts an email's outcome (internal/metrics).
type EmailCounter interface {
	Email(kind, locale, outcome string)
}

// maxSuppressions bounds one read of the suppression list.
const maxSuppressions = 1000

// MailEvent records the provider's report on an email (delivered, bounced,
// complained) and counts its outcome once: a report seen before changes
// nothing and is not counted again.
func (a *Actions) MailEvent(ctx context.Context, ev muster.MailEvent) (*muster.MailEventResult, error) {
	res, err := a.mail.ApplyMailEvent(ctx, ev)
	if err != nil {
		return nil, err
	}
	if !res.Duplicate && a.opts.Emails != nil {
		a.opts.Emails.Email(res.Invitation.Kind, string(res.Invitation.Locale), ev.Outcome())
	}
	return res, nil
}

// Suppressions reads the suppression list, newest first, narrowed to one
// address unless email is ""; staff only.
func (a *Actions) Suppressions(ctx context.Context, by muster.Actor, email string) ([]muster.Suppression, error) {
	if err := by.StaffOnly("read the suppression list"); err != nil {
		return nil, err
	}
	if email != "" {
		var err error
		if email, err = muster.NormalizeEmail("email", email); err != nil {
			return nil, err
		}
	}
	return a.mail.ListSuppressions(ctx, email, maxSuppressions)
}

// ClearSuppression takes an address off the suppression list, so mail to
// it goes out again; staff only.
func (a *Actions) ClearSuppression(ctx context.Context, by muster.Actor, email string) error {
	if err := by.StaffOnly("change the suppression list"); err != nil {
		return err
	}
	email, err := muster.NormalizeEmail("email", email)
	if err != nil {
		return err
	}
	return a.mail.ClearSuppression(ctx, email)
}

// Unsubscribe stops the reminders of one membership, as its reminder's
// one-click unsubscribe link asks (the caller verified the link); nothing
// else changes.
func (a *Actions) Unsubscribe(ctx context.Context, membershipID int64) error {
	return a.mail.StopReminders(ctx, membershipID)
}
