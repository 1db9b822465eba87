package muster

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ListColumns are the columns a contractor list can show; "id" (the
// contractor) is always there.
var ListColumns = []string{
	"full_name", "email", "phone", "status", "stage", "incomplete",
	"invited_at", "linked_at", "registered_at", "phone_verified", "phone_verified_at",
	"tax_status", "tax_status_set_at", "send_status", "last_sent_at",
	"payment_method_linked", "payment_method_linked_at", "feature", "notes",
}

// DefaultListColumns are the dashboard's columns: sign-up date,
// verification, tax status, invitation sending status, payment method.
var DefaultListColumns = []string{
	"full_name", "email", "registered_at", "phone_verified", "tax_status", "send_status",
	"payment_method_linked_at", "incomplete",
}

// Stages, in onboarding order.
var Stages = []string{
	"invited", "invitation_sent", "invitation_failed", "registered",
	"phone_verified", "tax_status_set", "payment_method_linked",
}

// ListSorts are the keys a list can be sorted by; "-" before one reverses it.
var ListSorts = []string{"invited_at", "registered_at", "full_name"}

var sendStatuses = []string{SendQueued, SendSending, SendRetrying, SendSent, SendFailed, SendCancelled, SendBounced, SendComplained}

// Page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// ListQuery asks for one page of one account's contractors.
type ListQuery struct {
	AccountID  int64
	Columns    []string
	Status     string // membership status; "" hides excluded contractors, "all" shows every one
	Stage      string
	TaxStatus  string // a tax status, or "none"
	SendStatus string
	Incomplete *bool
	Q          string // full-text search in the notes; an email prefix when it holds "@"
	Sort       string // a ListSorts key, "-" for descending
	Cursor     string
	Limit      int
}

// SortKey returns the bare sort key and whether it is descending.
func (q ListQuery) SortKey() (key string, desc bool) {
	return strings.TrimPrefix(q.Sort, "-"), strings.HasPrefix(q.Sort, "-")
}

// NewListQuery reads a list request's query string. Every parameter is
// checked: a typo in a filter must not silently widen the list.
func NewListQuery(accountID int64, v url.Values) (ListQuery, error) {
	q := ListQuery{AccountID: accountID, Columns: DefaultListColumns, Sort: "-invited_at", Limit: DefaultPageSize}
	for name, vals := range v {
		val := strings.TrimSpace(vals[len(vals)-1])
		if err := CheckText(name, name+val, true); err != nil {
			return q, err // PostgreSQL would refuse a NUL or invalid UTF-8 with a 500
		}
		switch name {
		case "columns":
			q.Columns = nil
			for _, c := range strings.Split(val, ",") {
				c = strings.TrimSpace(c)
				if !slices.Contains(ListColumns, c) {
					return q, Invalid("unknown_column", "columns: %q is not one of %s", c, strings.Join(ListColumns, ", "))
				}
				if !slices.Contains(q.Columns, c) {
					q.Columns = append(q.Columns, c)
				}
			}
		case "status":
			if !slices.Contains([]string{MemberInvited, MemberActive, MemberExcluded, "all"}, val) {
				return q, Invalid("invalid_filter", "status %q is not one of invited, active, excluded, all", val)
			}
			q.Status = val
		case "stage":
			if !slices.Contains(Stages, val) {
				return q, Invalid("invalid_filter", "stage %q is not one of %s", val, strings.Join(Stages, ", "))
			}
			q.Stage = val
		case "tax_status":
			if val != "none" && !slices.Contains(TaxStatuses, val) {
				return q, Invalid("invalid_filter", "tax_status %q is not one of %s, none", val, strings.Join(TaxStatuses, ", "))
			}
			q.TaxStatus = val
		case "send_status":
			if !slices.Contains(sendStatuses, val) {
				return q, Invalid("invalid_filter", "send_status %q is not one of %s", val, strings.Join(sendStatuses, ", "))
			}
			q.SendStatus = val
		case "incomplete":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return q, Invalid("invalid_filter", "incomplete %q is not true or false", val)
			}
			q.Incomplete = &b
		case "q":
			if len([]rune(val)) > 200 {
				return q, Invalid("invalid_filter", "q is longer than 200 characters")
			}
			q.Q = val
		case "sort":
			if !slices.Contains(ListSorts, strings.TrimPrefix(val, "-")) {
				return q, Invalid("invalid_sort", "sort %q is not one of %s (prefix - to reverse)", val, strings.Join(ListSorts, ", "))
			}
			q.Sort = val
		case "cursor":
			q.Cursor = val
		case "limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > MaxPageSize {
				return q, Invalid("invalid_limit", "limit %q is not a number from 1 to %d", val, MaxPageSize)
			}
			q.Limit = n
		default:
			return q, Invalid("unknown_parameter", "%q is not a parameter of the contractor list", name)
		}
	}
	return q, nil
}

// ListRow is one contractor of an account with every listable column; the
// API shows the chosen ones.
type ListRow struct {
	ContractorID          int64      `db:"contractor_id"`
	FullName              string     `db:"full_name"`
	Email                 string     `db:"email"`
	Phone                 string     `db:"phone"`
	Status                string     `db:"status"`
	Stage                 string     `db:"stage"`
	Incomplete            bool       `db:"incomplete"`
	InvitedAt             time.Time  `db:"invited_at"`
	LinkedAt              *time.Time `db:"linked_at"`
	RegisteredAt          *time.Time `db:"registered_at"`
	PhoneVerifiedAt       *time.Time `db:"phone_verified_at"`
	TaxStatus             *string    `db:"tax_status"`
	TaxStatusSetAt        *time.Time `db:"tax_status_set_at"`
	SendStatus            string     `db:"send_status"`
	LastSentAt            *time.Time `db:"last_sent_at"`
	PaymentMethodLinkedAt *time.Time `db:"payment_method_linked_at"`
	Feature               string     `db:"feature"`
	Notes                 string     `db:"notes"`
}

// Column returns the value of a ListColumns column.
func (r *ListRow) Column(name string) any {
	switch name {
	case "full_name":
		return r.FullName
	case "email":
		return r.Email
	case "phone":
		return r.Phone
	case "status":
		return r.Status
	case "stage":
		return r.Stage
	case "incomplete":
		return r.Incomplete
	case "invited_at":
		return r.InvitedAt
	case "linked_at":
		return r.LinkedAt
	case "registered_at":
		return r.RegisteredAt
	case "phone_verified":
		return r.PhoneVerifiedAt != nil
	case "phone_verified_at":
		return r.PhoneVerifiedAt
	case "tax_status":
		return r.TaxStatus
	case "tax_status_set_at":
		return r.TaxStatusSetAt
	case "send_status":
		return r.SendStatus
	case "last_sent_at":
		return r.LastSentAt
	case "payment_method_linked":
		return r.PaymentMethodLinkedAt != nil
	case "payment_method_linked_at":
		return r.PaymentMethodLinkedAt
	case "feature":
		return r.Feature
	case "notes":
		return r.Notes
	}
	return nil
}
