package muster

import (
	"slices"
	"time"
)

// Client is a company's dashboard. It holds accounts and managers; after a
// merge it points at the dashboard it was merged into and grants nothing.
type Client struct {
	ID           int64     `db:"id" json:"id"`
	Name         string    `db:"name" json:"name"`
	OwnerEmail   string    `db:"owner_email" json:"owner_email"`
	MergedIntoID *int64    `db:"merged_into_id" json:"merged_into_id,omitempty"`
	CreatedAt    time.Time `db:"created_at" json:"created_at"`
}

// ClientDraft is a dashboard to create, with its owner (the main profile)
// and its first account.
type ClientDraft struct {
	Name        string
	OwnerEmail  string
	OwnerLocale Locale
	AccountName string
}

// NewClientDraft validates a dashboard to create. The first account takes
// the dashboard's name unless another is given.
func NewClientDraft(name, ownerEmail, locale, accountName string) (ClientDraft, error) {
	var d ClientDraft
	var err error
	if d.Name, err = CleanLine("name", name, MaxNameLen); err != nil {
		return d, err
	}
	if d.Name == "" {
		return d, Invalid("invalid_name", "name is empty")
	}
	if d.OwnerEmail, err = NormalizeEmail("owner_email", ownerEmail); err != nil {
		return d, err
	}
	if d.OwnerLocale, err = ParseLocale("locale", locale); err != nil {
		return d, err
	}
	if d.AccountName, err = CleanLine("account_name", accountName, MaxNameLen); err != nil {
		return d, err
	}
	if d.AccountName == "" {
		d.AccountName = d.Name
	}
	return d, nil
}

// KYB states of an account.
const (
	KYBPending  = "pending"
	KYBVerified = "verified"
	KYBRejected = "rejected"
)

// Account is an independent profile inside a dashboard (a company, or a
// project of one) with its own contractors and tasks. Every contractor
// operation is scoped to exactly one account.
type Account struct {
	ID               int64     `db:"id" json:"id"`
	ClientID         int64     `db:"client_id" json:"client_id"`
	Name             string    `db:"name" json:"name"`
	KYBStatus        string    `db:"kyb_status" json:"kyb_status"`
	BasedOnAccountID *int64    `db:"based_on_account_id" json:"based_on_account_id,omitempty"`
	CreatedAt        time.Time `db:"created_at" json:"created_at"`
	// KYBDecidedAt is when staff verified or rejected the account, or when
	// it was created reusing a verification.
	KYBDecidedAt *time.Time `db:"kyb_decided_at" json:"kyb_decided_at,omitempty"`
}

// AccountName checks the name of a new account.
func AccountName(raw string) (string, error) {
	name, err := CleanLine("name", raw, MaxNameLen)
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", Invalid("invalid_name", "name is empty")
	}
	return name, nil
}

// Manager roles. A role is set per dashboard and applies to every account
// the manager can reach.
const (
	RoleOwner   = "owner"
	RoleAdmin   = "admin"
	RoleManager = "manager"
	RoleViewer  = "viewer"
)

// Manager states.
const (
	ManagerInvited = "invited" // the invitation is out, not accepted yet
	ManagerActive  = "active"  // accepted; may hold API tokens
	ManagerRevoked = "revoked" // lost access (a merged-away owner)
)

// Manager is a client's employee. One email belongs to at most one dashboard.
type Manager struct {
	ID         int64      `db:"id" json:"id"`
	ClientID   int64      `db:"client_id" json:"client_id"`
	Email      string     `db:"email" json:"email"`
	FullName   string     `db:"full_name" json:"full_name"`
	Role       string     `db:"role" json:"role"`
	Locale     Locale     `db:"locale" json:"locale"`
	Status     string     `db:"status" json:"status"`
	AccountIDs []int64    `db:"-" json:"account_ids"`
	InvitedBy  *int64     `db:"invited_by" json:"invited_by,omitempty"` // the inviting manager
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	AcceptedAt *time.Time `db:"accepted_at" json:"accepted_at,omitempty"`
}

// ManagesIn reports whether the manager may be assigned contractors of the
// account: not revoked, and the owner or given the account.
func (m *Manager) ManagesIn(accountID int64) bool {
	return m.Status != ManagerRevoked && (m.Role == RoleOwner || slices.Contains(m.AccountIDs, accountID))
}

// Tax statuses a contractor can declare.
const (
	TaxIndividual   = "individual"
	TaxEntrepreneur = "individual_entrepreneur"
	TaxSelfEmployed = "self_employed"
)

// Contractor is a person's one global profile, keyed by normalized email.
// The timestamps are the onboarding stages; nil means not reached yet.
type Contractor struct {
	ID                    int64      `db:"id" json:"id"`
	Email                 string     `db:"email" json:"email"`
	FullName              string     `db:"full_name" json:"full_name"`
	Phone                 string     `db:"phone" json:"phone,omitempty"`
	RegisteredAt          *time.Time `db:"registered_at" json:"registered_at"`
	PhoneVerifiedAt       *time.Time `db:"phone_verified_at" json:"phone_verified_at"`
	TaxStatus             *string    `db:"tax_status" json:"tax_status"`
	TaxStatusSetAt        *time.Time `db:"tax_status_set_at" json:"tax_status_set_at"`
	PaymentMethodLinkedAt *time.Time `db:"payment_method_linked_at" json:"payment_method_linked_at"`
	CreatedAt             time.Time  `db:"created_at" json:"created_at"`
}

// Registered reports whether the contractor has signed up on the platform.
func (c *Contractor) Registered() bool { return c.RegisteredAt != nil }

// Membership states: a contractor in one account.
const (
	MemberInvited  = "invited"  // invitation out, not registered yet
	MemberActive   = "active"   // registered and linked to the account
	MemberExcluded = "excluded" // removed from the account; kept for history
)

// Membership is a contractor inside one account.
type Membership struct {
	ID           int64   `db:"id" json:"id"`
	AccountID    int64   `db:"account_id" json:"account_id"`
	ContractorID int64   `db:"contractor_id" json:"contractor_id"`
	Feature      string  `db:"feature" json:"feature"`
	Notes        string  `db:"notes" json:"notes"`
	Locale       Locale  `db:"locale" json:"locale"`
	Status       string  `db:"status" json:"status"`
	SendStatus   string  `db:"send_status" json:"send_status"` // of the latest email
	ManagerIDs   []int64 `db:"-" json:"manager_ids"`
	// The contractor's name and phone as this account shows them: the
	// contractor's own once registered, else what this client typed. They
	// are shown as the contractor's (SeenIn), not here.
	FullName   string     `db:"full_name" json:"-"`
	Phone      string     `db:"phone" json:"-"`
	InvitedAt  time.Time  `db:"invited_at" json:"invited_at"`
	LinkedAt   *time.Time `db:"linked_at" json:"linked_at"`
	ExcludedAt *time.Time `db:"excluded_at" json:"excluded_at"`
}

// SeenIn is the contractor as one account shows them: the global profile
// with that account's name and phone, never another client's.
func (c Contractor) SeenIn(m Membership) Contractor {
	c.FullName, c.Phone = m.FullName, m.Phone
	return c
}

// Invitation kinds: what an outgoing email is for.
const (
	InviteSignup  = "invite" // register on the platform and join the account
	InviteAdded   = "added"  // already registered: "you were added to …"
	InviteResend  = "resend" // the signup invite, sent again on request
	InviteRemind  = "reminder"
	InviteManager = "manager" // a manager's access to one or more accounts
	InviteMerged  = "merged"  // a notice to a manager about a dashboard merge
)

// Invitation sending states.
const (
	SendQueued    = "queued"    // waiting for a worker
	SendSending   = "sending"   // claimed by a worker (until its lease ends)
	SendRetrying  = "retrying"  // the last attempt failed; another is due
	SendSent      = "sent"      // the SMTP server accepted it
	SendFailed    = "failed"    // given up; LastError says why
	SendCancelled = "cancelled" // no longer wanted (contractor excluded)
)

// Invitation is one email to send, and the record of sending it. Each send,
// resend and reminder is its own row, so none is ever sent twice.
type Invitation struct {
	ID           int64      `db:"id" json:"id"`
	MembershipID *int64     `db:"membership_id" json:"membership_id,omitempty"`
	ManagerID    *int64     `db:"manager_id" json:"manager_id,omitempty"`
	Kind         string     `db:"kind" json:"kind"`
	Locale       Locale     `db:"locale" json:"locale"`
	Status       string     `db:"status" json:"status"`
	Attempts     int        `db:"attempts" json:"attempts"`
	LastError    string     `db:"last_error" json:"last_error,omitempty"`
	QueuedAt     time.Time  `db:"queued_at" json:"queued_at"`
	SentAt       *time.Time `db:"sent_at" json:"sent_at"`
	MessageID    string     `db:"message_id" json:"message_id,omitempty"`
}
