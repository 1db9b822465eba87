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

// segment is a run of the list with one order: a sorted column and the
// rows it covers. Most sorts are one segment. Sorting by sign-up date is
// two: those who signed up, by that date, then those who have not, by
// invitation date; so the list's indexes need not hold rows with no
// sign-up date, which keeps an import of new contractors cheap.
type segment struct {
	column string // a column with an index (migration 00004)
	where  string // "" for every row
}

func segments(key string) []segment {
	if key == "registered_at" {
		return []segment{{"registered_at", "registered_at IS NOT NULL"}, {"invited_at", "registered_at IS NULL"}}
	}
	return []segment{{column: key}} // a muster.ListSorts key, checked by muster.NewListQuery
}

// cursor is where the next page starts: the segment, the sort key and the
// id of the last row.
type cursor struct {
	Sort    string `json:"s"`
	Segment int    `json:"g,omitempty"`
	Key     string `json:"k"`
	ID      int64  `json:"i"`
}

type listRow struct {
	muster.ListRow
	MembershipID int64  `db:"id"`
	SortKey      string `db:"sort_key"` // text, so that any column's value round-trips
}

// ListContractors returns one page of an account's contractors, keyset
// paginated: a page costs the same at the start and deep in the list.
func (db *DB) ListContractors(ctx context.Context, q muster.ListQuery) (rows []muster.ListRow, next string, err error) {
	var c cursor
	if q.Cursor != "" {
		if c, err = decodeCursor(q.Cursor, q.Sort); err != nil {
			return nil, "", err
		}
	}
	key, desc := q.SortKey()
	segs := segments(key)
	if c.Segment < 0 || c.Segment >= len(segs) {
		return nil, "", badCursor(q.Sort)
	}
	var page []segmentRow
	seg := c.Segment
	for ; seg < len(segs) && len(page) <= q.Limit; seg++ {
		after := (*cursor)(nil)
		if seg == c.Segment && q.Cursor != "" {
			after = &c
		}
		part, err := db.listSegment(ctx, q, segs[seg], desc, after, q.Limit+1-len(page))
		if err != nil {
			return nil, "", err
		}
		for i := range part {
			part[i].Segment = seg
		}
		page = append(page, part...)
	}
	if len(page) > q.Limit {
		last := page[q.Limit-1]
		next = encodeCursor(cursor{Sort: q.Sort, Segment: last.Segment, Key: last.SortKey, ID: last.MembershipID})
		page = page[:q.Limit]
	}
	rows = make([]muster.ListRow, len(page))
	for i := range page {
		rows[i] = page[i].ListRow
	}
	return rows, next, nil
}

// segmentRow is a row and the segment it came from.
type segmentRow struct {
	listRow
	Segment int `db:"-"`
}

// listSegment reads up to limit rows of one segment, after the cursor.
func (db *DB) listSegment(ctx context.Context, q muster.ListQuery, s segment, desc bool, after *cursor, limit int) ([]segmentRow, error) {
	where, args := listFilters(q)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if s.where != "" {
		where = append(where, s.where)
	}
	if after != nil {
		op := ">"
		if desc {
			op = "<"
		}
		keyArg := arg(after.Key)
		if s.column != "full_name" {
			keyArg += "::timestamptz"
		}
		where = append(where, fmt.Sprintf("(%s, id) %s (%s, %s)", s.column, op, keyArg, arg(after.ID)))
	}
	dir := ""
	if desc {
		dir = " DESC"
	}
	query := fmt.Sprintf(`SELECT %s, %s::text AS sort_key FROM memberships WHERE %s ORDER BY %s%s, id%s LIMIT %s`,
		listColumns, s.column, strings.Join(where, " AND "), s.column, dir, dir, arg(limit))
	var out []segmentRow
	if err := db.SelectContext(ctx, &out, query, args...); err != nil {
		return nil, fmt.Errorf("list contractors of account %d: %w", q.AccountID, err)
	}
	return out, nil
}

// listFilters turns the query's filters into SQL conditions. Stages and
// sending statuses are checked values (muster.NewListQuery) written as
// literals: the planner can then use the partial indexes, which leave out
// the first stage and status that every new row has.
func listFilters(q muster.ListQuery) ([]string, []any) {
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
		where = append(where, "stage = '"+q.Stage+"'")
	}
	switch q.TaxStatus {
	case "":
	case "none":
		where = append(where, "tax_status IS NULL")
	default:
		where = append(where, "tax_status = '"+q.TaxStatus+"'")
	}
	if q.SendStatus != "" {
		where = append(where, "send_status = '"+q.SendStatus+"'")
	}
	if q.Incomplete != nil {
		where = append(where, "incomplete = "+arg(*q.Incomplete))
	}
	switch {
	case q.Q == "":
	case strings.Contains(q.Q, "@"):
		where = append(where, "email LIKE "+arg(likePrefix(strings.ToLower(q.Q))))
	default:
		where = append(where, "notes <> '' AND search @@ plainto_tsquery('russian', "+arg(q.Q)+")")
	}
	return where, args
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
		return c, badCursor(sort)
	}
	return c, nil
}

func badCursor(sort string) error {
	return muster.Invalid("invalid_cursor", "cursor is not one this list gave out for sort %s; start again without it", sort)
}

// likePrefix escapes LIKE's wildcards and matches values starting with s.
func likePrefix(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}
