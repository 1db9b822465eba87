package muster

import "time"

// Token is an API token as listed: never its secret, which only its
// creator saw once.
type Token struct {
	ID         int64      `db:"id" json:"id"`
	Kind       string     `db:"kind" json:"kind"`
	Name       string     `db:"name" json:"name"`
	ClientID   *int64     `db:"client_id" json:"client_id,omitempty"`
	ManagerID  *int64     `db:"manager_id" json:"manager_id,omitempty"`
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at" json:"last_used_at"`
	RevokedAt  *time.Time `db:"revoked_at" json:"revoked_at"`
}

// TokenFilter picks tokens: zero fields match any.
type TokenFilter struct {
	ClientID  int64
	ManagerID int64
}

// TokenScope is what the actor may list and revoke: staff every token; a
// client token or the owner every token of the dashboard; any other
// manager their own.
func (a Actor) TokenScope() TokenFilter {
	switch {
	case a.Staff():
		return TokenFilter{}
	case a.Kind == TokenClient || a.Role == RoleOwner:
		return TokenFilter{ClientID: a.ClientID}
	default:
		return TokenFilter{ClientID: a.ClientID, ManagerID: a.ManagerID}
	}
}

// Matches reports whether t is within the filter.
func (f TokenFilter) Matches(t *Token) bool {
	return (f.ClientID == 0 || t.ClientID != nil && *t.ClientID == f.ClientID) &&
		(f.ManagerID == 0 || t.ManagerID != nil && *t.ManagerID == f.ManagerID)
}

// Narrow keeps f within the scope and adds the caller's own filter; ok is
// false when the two cannot both hold, so nothing matches.
func (f TokenFilter) Narrow(by TokenFilter) (TokenFilter, bool) {
	narrow := func(have, want int64) (int64, bool) {
		if want == 0 || have == want {
			return have, true
		}
		return want, have == 0
	}
	var okC, okM bool
	f.ClientID, okC = narrow(f.ClientID, by.ClientID)
	f.ManagerID, okM = narrow(f.ManagerID, by.ManagerID)
	return f, okC && okM
}
