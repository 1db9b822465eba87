package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// QueueReminders creates the reminders due at now, in one statement, and
// returns their invitation ids. Reminder k of a membership is due
// schedule[k-1] after the invitation, once the invitation was delivered
// and while the contractor is still invited (not registered, not
// excluded). The unique (membership, step) index makes each step happen
// once, whoever runs the sweep and however often.
func (db *DB) QueueReminders(ctx context.Context, now time.Time, schedule []time.Duration) ([]int64, error) {
	if len(schedule) == 0 {
		return nil, nil
	}
	secs := make([]float64, len(schedule))
	for i, d := range schedule {
		secs[i] = d.Seconds()
	}
	var ids []int64
	err := db.SelectContext(ctx, &ids, `
		WITH due AS (
		    SELECT m.id, m.locale, m.invited_at,
		           (SELECT count(*)::int FROM invitations r WHERE r.membership_id = m.id AND r.kind = 'reminder') AS done
		      FROM memberships m
		     WHERE m.status = 'invited' AND m.send_status = 'sent' AND m.reminders_stopped_at IS NULL
		       AND m.invited_at <= $1::timestamptz - make_interval(secs => ($2::float8[])[1])
		), queued AS (
		    INSERT INTO invitations (membership_id, kind, locale, step, enqueued_at)
		    SELECT id, 'reminder', locale, done + 1, now() FROM due
		     WHERE done < cardinality($2::float8[]) AND invited_at + make_interval(secs => ($2::float8[])[done + 1]) <= $1::timestamptz
		    ON CONFLICT (membership_id, step) WHERE kind = 'reminder' DO NOTHING
		    RETURNING id
		)
		SELECT id FROM queued ORDER BY id`, now, pq.Array(secs))
	if err != nil {
		return nil, fmt.Errorf("queue reminders: %w", err)
	}
	return ids, nil
}
