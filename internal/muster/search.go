package muster

import (
	"net/url"
	"strconv"
	"strings"
)

// ClientQuery is staff's search for dashboards: by id, by owner email or
// by name, one page at a time in id order.
type ClientQuery struct {
	Q     string
	After int64 // the cursor: the last id of the previous page
	Limit int
}

// NewClientQuery reads q, limit and cursor, refusing anything else so that
// a mistyped parameter is not a silently wider list.
func NewClientQuery(v url.Values) (ClientQuery, error) {
	q := ClientQuery{Limit: 50}
	for name, vals := range v {
		val := vals[len(vals)-1]
		switch name {
		case "q":
			q.Q = strings.TrimSpace(val)
		case "limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > MaxPageSize {
				return q, Invalid("invalid_limit", "limit %q is not a number from 1 to %d", val, MaxPageSize)
			}
			q.Limit = n
		case "cursor":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return q, Invalid("invalid_cursor", "cursor %q is not one this list returned", val)
			}
			q.After = n
		default:
			return q, Invalid("unknown_parameter", "%q is not a parameter of the client search (q, limit, cursor)", name)
		}
	}
	return q, nil
}
