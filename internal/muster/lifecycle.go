package muster

import (
	"slices"
	"strings"
	"time"
)

// Onboarding events, sent by the platform's sign-up app.
const (
	EventRegistered      = "registered"
	EventPhoneVerified   = "phone_verified"
	EventTaxStatusSet    = "tax_status_set"
	EventPaymentLinked   = "payment_method_linked"
	EventPaymentUnlinked = "payment_method_unlinked"
)

var eventTypes = []string{EventRegistered, EventPhoneVerified, EventTaxStatusSet, EventPaymentLinked, EventPaymentUnlinked}

// TaxStatuses lists the tax statuses a contractor can declare.
var TaxStatuses = []string{TaxIndividual, TaxEntrepreneur, TaxSelfEmployed}

// Event is one step of a contractor's onboarding, as the sign-up app saw it.
type Event struct {
	Email     string
	Type      string
	At        time.Time
	FullName  string // registered: the name the contractor gave
	Phone     string // registered
	TaxStatus string // tax_status_set
}

// maxClockSkew is how far in the future an event's time may lie.
const maxClockSkew = 5 * time.Minute

// earliestEvent bounds an event's time from below: an "at" of year 1 is a
// client's zero value, not a sign-up.
var earliestEvent = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// NewEvent validates an event. now bounds its time: the sign-up app's
// clock may run a little ahead, not hours.
func NewEvent(email, typ, at, fullName, phone, taxStatus string, now time.Time) (Event, error) {
	ev := Event{Type: typ}
	var err error
	if ev.Email, err = NormalizeEmail("email", email); err != nil {
		return ev, err
	}
	if !slices.Contains(eventTypes, typ) {
		return ev, Invalid("unknown_event_type", "type %q is not one of %s", typ, strings.Join(eventTypes, ", "))
	}
	if ev.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return ev, Invalid("invalid_at", "at %q is not an RFC 3339 time such as 2026-11-22T10:30:00Z", at)
	}
	if ev.At.Before(earliestEvent) {
		return ev, Invalid("invalid_at", "at %s is before %s; no one signed up then", at, earliestEvent.Format("2006"))
	}
	if ev.At.After(now.Add(maxClockSkew)) {
		return ev, Invalid("invalid_at", "at %s is in the future", at)
	}
	if ev.FullName, err = CleanLine("full_name", fullName, MaxNameLen); err != nil {
		return ev, err
	}
	if ev.Phone, err = CleanLine("phone", phone, 32); err != nil {
		return ev, err
	}
	if typ == EventTaxStatusSet && !slices.Contains(TaxStatuses, taxStatus) {
		return ev, Invalid("unknown_tax_status", "tax_status %q is not one of %s", taxStatus, strings.Join(TaxStatuses, ", "))
	}
	if typ != EventTaxStatusSet && taxStatus != "" {
		return ev, Invalid("unexpected_field", "tax_status belongs to tax_status_set events only")
	}
	if typ != EventRegistered && (ev.FullName != "" || ev.Phone != "") {
		return ev, Invalid("unexpected_field", "full_name and phone belong to registered events only")
	}
	ev.TaxStatus = taxStatus
	return ev, nil
}
