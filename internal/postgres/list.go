package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/muster-dev/muster/internal/muster"
)

const listColumns = `contractor_id, full_name, email, phone, status, stage, incomplete, invited_at, linked_at,
	registered_at, phone_verified_at, tax_status, tax_status_set_at, send_status, last_sent_at,
	payment_method_linked_at, feature, notes, id`

// sortExpr is the SQL of each sort key. Contractors who have not signed up
// come last whichever way the sign-up date is sorted; each expression has
// an index (migration 00004).
func sortExpr(key string, desc bool) string {
	switch {
	case key == "registered_at" && desc:
		return "COALESCE(registered_at, '-infinity'::timestamptz)"
	case key == "registered_at":
		return "COALESCE(registered_at, 'infinity'::timestamptz)"
	default:
		return key // a muster.ListSorts key, checked by muster.NewListQuery
	}
}

// cursor is where the next page starts: the sort key and id of the last row.
type cursor struct {
	Sort string `json:"s"`
	Key  string `json:"k"`
	ID   int64  `json:"i"`
}

type listRow struct {
	muster.ListRow
	MembershipID int64 `db:"id"`
}

// ListContractors returns one page of an account's contractors, keyset
// paginated: a page costs the same at the start and deep in the list.
func (db *DB) ListContractors(ctx context.Context, q muster.ListQuery) (rows []muster.ListRow, next string, err error) {
	key, desc := q.SortKey()
	expr := sortExpr(key, desc)
	where := []string{"account_id = $1"}
	args := []any{q.AccountID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	switch q.Status {
	case "":
		where = append(where, "status <> 'excluded'")
	case "all":
	default:
		where = append(where, "status = "+arg(q.Status))
	}
	if q.Stage != "" {
		where = append(where, "stage = "+arg(q.Stage))
	}
	switch q.TaxStatus {
	case "":
	case "none":
		where = append(where, "tax_status IS NULL")
	default:
		where = append(where, "tax_status = "+arg(q.TaxStatus))
	}
	if q.SendStatus != "" {
		where = append(where, "send_status = "+arg(q.SendStatus))
	}
	if q.Incomplete != nil {
		where = append(where, "incomplete = "+arg(*q.Incomplete))
	}
	switch {
	case q.Q == "":
	case strings.Contains(q.Q, "@"):
		where = append(where, "email LIKE "+arg(likePrefix(strings.ToLower(q.Q))))
	default:
		where = append(where, "search @@ plainto_tsquery('russian', "+arg(q.Q)+")")
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor, q.Sort)
		if err != nil {
			return nil, "", err
		}
		op := ">"
		if desc {
			op = "<"
		}
		keyArg := arg(c.Key)
		if key == "invited_at" || key == "registered_at" {
			keyArg += "::timestamptz"
		}
		where = append(where, fmt.Sprintf("(%s, id) %s (%s, %s)", expr, op, keyArg, arg(c.ID)))
	}
	dir := ""
	if desc {
		dir = " DESC"
	}
	query := fmt.Sprintf(`SELECT %s, (%s)::text AS sort_key FROM memberships WHERE %s ORDER BY %s%s, id%s LIMIT %s`,
		listColumns, expr, strings.Join(where, " AND "), expr, dir, dir, arg(q.Limit+1))

	var page []struct {
		listRow
		SortKey string `db:"sort_key"` // text, so ±infinity round-trips
	}
	if err := db.SelectContext(ctx, &page, query, args...); err != nil {
		return nil, "", fmt.Errorf("list contractors of account %d: %w", q.AccountID, err)
	}
	if len(page) > q.Limit {
		last := page[q.Limit-1]
		next = encodeCursor(cursor{Sort: q.Sort, Key: last.SortKey, ID: last.MembershipID})
		page = page[:q.Limit]
	}
	rows = make([]muster.ListRow, len(page))
	for i, p := range page {
		rows[i] = p.ListRow
	}
	return rows, next, nil
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // plain struct: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, sort string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Sort != sort {
		return c, muster.Invalid("invalid_cursor", "cursor is not one this list gave out for sort %s; start again without it", sort)
	}
	return c, nil
}

// likePrefix escapes LIKE's wildcards and matches values starting with s.
func likePrefix(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}
