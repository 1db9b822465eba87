package muster

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// What is limited. Each is counted per client (per dashboard; staff tokens
// share one budget), except Recipient, which is counted per email address
// across every client when an email goes out, and Signin, counted per
// client IP address.
const (
	LimitInvitations = "invitations" // contractor and manager invitations
	LimitImports     = "imports"     // uploaded workbooks
	LimitResends     = "resends"     // contractor and manager resends
	LimitRecipient   = "recipient"   // emails one address may be sent per day, whatever their kind
	LimitSignin      = "signin"      // console sign-in links asked for from one IP address
)

// DefaultLimits are far above what a client does by hand or with imports,
// and far below what floods a mailbox or the platform's sending reputation.
var DefaultLimits = map[string]string{
	LimitInvitations: "120/m,5000/d",
	LimitImports:     "10/m,200/d",
	LimitResends:     "30/m,500/d",
	LimitRecipient:   "10/d",
	LimitSignin:      "10/m,50/d",
}

// Rate is at most N events per Per.
type Rate struct {
	N   int
	Per time.Duration
}

func (r Rate) String() string {
	switch r.Per {
	case time.Minute:
		return strconv.Itoa(r.N) + "/m"
	case time.Hour:
		return strconv.Itoa(r.N) + "/h"
	case 24 * time.Hour:
		return strconv.Itoa(r.N) + "/d"
	}
	return fmt.Sprintf("%d/%s", r.N, r.Per)
}

var ratePeriods = map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}

// ParseRates reads "120/m,5000/d": each window holds on its own. "none"
// is no limit.
func ParseRates(s string) ([]Rate, error) {
	s = strings.TrimSpace(s)
	if s == "none" {
		return nil, nil
	}
	var out []Rate
	for _, part := range strings.Split(s, ",") {
		n, per, ok := strings.Cut(strings.TrimSpace(part), "/")
		count, err := strconv.Atoi(n)
		period, known := ratePeriods[per]
		if !ok || err != nil || count < 1 || !known {
			return nil, fmt.Errorf("%q is not a list of rates such as 120/m,5000/d (s, m, h or d), or none", s)
		}
		out = append(out, Rate{N: count, Per: period})
	}
	return out, nil
}

// RateLimited is the refusal of one more what for key; retry is when the
// window allows it again.
func RateLimited(what string, r Rate, retry time.Duration) *Error {
	e := Errorf(KindRateLimited, "rate_limited", "more than %s %s; try again in %s",
		r, limitNoun[what], retry.Round(time.Second))
	e.RetryAfter = retry
	return e
}

var limitNoun = map[string]string{
	LimitInvitations: "invitations from this dashboard",
	LimitImports:     "imports from this dashboard",
	LimitResends:     "resends from this dashboard",
	LimitRecipient:   "emails to this address",
	LimitSignin:      "sign-in links asked for from this IP address",
}
