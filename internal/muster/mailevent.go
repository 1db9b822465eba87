package muster

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// What the mail provider reports about an email.
const (
	MailDelivered  = "delivered"
	MailBounced    = "bounced"
	MailComplained = "complained"
)

// Bounce kinds: a hard bounce (no such mailbox) suppresses the address, a
// soft one (mailbox full) is only recorded.
const (
	BounceHard = "hard"
	BounceSoft = "soft"
)

// Sending statuses an email reaches after it was sent.
const (
	SendBounced    = "bounced"
	SendComplained = "complained"
)

var mailEventTypes = []string{MailDelivered, MailBounced, MailComplained}

// MailEvent is one report about one email, which its Message-ID names.
type MailEvent struct {
	InvitationID int64
	MessageID    string // as Muster wrote it, without angle brackets
	Type         string
	Bounce       string // for bounces: hard or soft
	At           time.Time
	Detail       string // the provider's diagnostic, for staff
}

// Suppresses reports whether the event puts the address on the
// suppression list.
func (e MailEvent) Suppresses() bool {
	return e.Type == MailComplained || (e.Type == MailBounced && e.Bounce == BounceHard)
}

// Outcome names the report as emails are counted: delivered, bounced (a
// hard bounce), soft_bounced or complained.
func (e MailEvent) Outcome() string {
	if e.Type == MailBounced && e.Bounce == BounceSoft {
		return "soft_bounced"
	}
	return e.Type
}

// NewMailEvent validates a provider's report. The Message-ID is the one
// Muster gave the email: "invitation-<id>@<domain>", with or without
// angle brackets.
func NewMailEvent(messageID, typ, bounce, at, detail string, now time.Time) (MailEvent, error) {
	ev := MailEvent{Type: typ, Bounce: bounce}
	id, err := CleanLine("message_id", messageID, MaxEmailLen)
	if err != nil {
		return ev, err
	}
	ev.MessageID = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	local, _, ok := strings.Cut(ev.MessageID, "@")
	num, isOurs := strings.CutPrefix(local, "invitation-")
	if ev.InvitationID, err = strconv.ParseInt(num, 10, 64); !ok || !isOurs || err != nil || ev.InvitationID <= 0 {
		return ev, NotFound("message_not_found", "message_id %q is not one Muster sent (invitation-<id>@<domain>)", messageID)
	}
	if !slices.Contains(mailEventTypes, typ) {
		return ev, Invalid("unknown_event_type", "type %q is not one of %s", typ, strings.Join(mailEventTypes, ", "))
	}
	switch {
	case typ == MailBounced && bounce != BounceHard && bounce != BounceSoft:
		return ev, Invalid("invalid_bounce", "bounce %q is not hard or soft", bounce)
	case typ != MailBounced && bounce != "":
		return ev, Invalid("unexpected_field", "bounce belongs to bounced events only")
	}
	if ev.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return ev, Invalid("invalid_at", "at %q is not an RFC 3339 time such as 2026-11-22T10:30:00Z", at)
	}
	if ev.At.Before(earliestEvent) || ev.At.After(now.Add(maxClockSkew)) {
		return ev, Invalid("invalid_at", "at %s is not a time an email could have been sent", at)
	}
	ev.Detail, err = CleanText("detail", detail, 2000)
	return ev, err
}

// Suppression is an address no email goes to any more.
type Suppression struct {
	Email        string    `db:"email" json:"email"`
	Reason       string    `db:"reason" json:"reason"` // bounced or complained
	InvitationID *int64    `db:"invitation_id" json:"invitation_id"`
	Detail       string    `db:"detail" json:"detail"`
	CreatedAt    time.Time `db:"created_at" json:"created_at"`
}

// MailEventResult is what a report changed.
type MailEventResult struct {
	Invitation Invitation `json:"invitation"`
	Suppressed bool       `json:"suppressed"` // the address is on the list now
	Duplicate  bool       `json:"duplicate"`  // the same report came before
}
