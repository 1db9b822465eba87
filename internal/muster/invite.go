package muster

import (
	"errors"
	"fmt"
	"time"
)

// Invite asks to bring one contractor into one account.
type Invite struct {
	AccountID  int64
	Email      string
	FullName   string
	Feature    string
	ManagerIDs []int64
	Locale     Locale
}

// NewInvite validates and normalizes an invitation request. The email is
// the contractor's login, so it must be one clean address; the name reaches
// a mail header, so it may not hold line breaks; the feature is free text
// and is escaped wherever it is shown.
func NewInvite(accountID int64, email, fullName, feature string, managerIDs []int64, locale string) (Invite, error) {
	in := Invite{AccountID: accountID}
	var err error
	if in.Email, err = NormalizeEmail("email", email); err != nil {
		return in, err
	}
	if in.FullName, err = CleanLine("full_name", fullName, MaxNameLen); err != nil {
		return in, err
	}
	if in.Feature, err = CleanText("feature", feature, MaxFeatureLen); err != nil {
		return in, err
	}
	if in.Locale, err = ParseLocale("locale", locale); err != nil {
		return in, err
	}
	in.ManagerIDs, err = cleanIDs("manager_ids", managerIDs)
	return in, err
}

// Invited is what an invitation created: the global profile (new or
// reused), its membership in the account, and the email queued for it.
type Invited struct {
	Contractor Contractor `json:"contractor"`
	Membership Membership `json:"membership"`
	Invitation Invitation `json:"invitation"`
	// Linked is true when the contractor had already registered: they were
	// linked at once and get a short notice instead of a sign-up invitation.
	Linked bool `json:"linked"`
}

// Delivery is everything the send job needs to write one email, read in
// the same transaction that claims it. A contractor's email is about one
// account (AccountName); a manager's lists every account it opens
// (AccountNames), with the role and who invited them.
type Delivery struct {
	Invitation   Invitation
	Email        string
	FullName     string
	AccountName  string
	ClientName   string
	Feature      string
	AccountNames []string
	Role         string
	Inviter      string // the inviting manager's name or email; "" for the dashboard itself
	// Merge notices: who reads it (MergeAudience…) and the dashboards
	// merged away; ClientName is the dashboard they were merged into.
	Audience string
	Sources  []string
}

// Who a merge notice is for.
const (
	AudienceTargetOwner = "target_owner" // accounts arrived in their dashboard
	AudienceSourceOwner = "source_owner" // their login lost access
	AudienceManager     = "manager"      // their accounts now live in another dashboard
)

// Outcomes of claiming an invitation for sending.
var (
	// ErrHandled: the invitation was sent, failed or cancelled already.
	ErrHandled = errors.New("invitation already handled")
	// ErrClaimed: another worker holds the lease; try again after it ends.
	ErrClaimed = errors.New("invitation is being sent by another worker")
	// ErrCancelled: the invitation was cancelled as it was claimed, its
	// reason gone; the error is a *Cancelled and also ErrHandled.
	ErrCancelled = fmt.Errorf("invitation cancelled: %w", ErrHandled)
)

// Unsent is an invitation waiting for a worker, as the requeue sweep sees it.
type Unsent struct {
	ID   int64  `db:"id"`
	Kind string `db:"kind"`
	// An import's emails go to the bulk queue as one task per batch.
	ImportID    *int64 `db:"import_id"`
	ImportBatch *int   `db:"import_batch"`
}

// Cancelled is the error of claiming an invitation that was cancelled then.
type Cancelled struct {
	Kind   string
	Locale Locale
}

func (c *Cancelled) Error() string        { return ErrCancelled.Error() }
func (c *Cancelled) Is(target error) bool { return target == ErrCancelled || target == ErrHandled }

// Outcome is what became of one claimed attempt at an email: Status is
// SendSent (with MessageID and At), SendRetrying (another attempt is due,
// not before RetryAt) or SendFailed. Error says why it was not sent.
// Postponed (with SendRetrying) says the attempt was not made, because
// the recipient had as many emails as LIMIT_RECIPIENT allows: the attempt
// its claim counted is given back.
type Outcome struct {
	InvitationID int64
	Attempt      int
	Status       string
	MessageID    string
	At           time.Time
	Error        string
	RetryAt      time.Time
	Postponed    bool
}
