package jobs_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/muster-dev/muster/jobs"
)

// BenchmarkReminderSweep measures one reminder sweep over 100k invited
// contractors whose first reminder is due: PostgreSQL picks and records
// them, then 100k send tasks are enqueued, spread out in time. The baseline
// is enqueueing the same number of tasks alone, in the same run.
//
//	go test ./jobs -run '^$' -bench ReminderSweep -benchtime 1x -count 5
func BenchmarkReminderSweep(b *testing.B) {
	const n = 100000
	for _, mode := range []string{"enqueue_only", "sweep"} {
		b.Run(mode+"/pending="+strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				t := setup(b, options{})
				ctx := context.Background()
				_, err := t.db.ExecContext(ctx, `
					WITH c AS (
					    INSERT INTO contractors (email) SELECT 'r' || g || '@bench.test' FROM generate_series(1, $2::int) g RETURNING id
					)
					INSERT INTO memberships (account_id, contractor_id, status, send_status, invited_at)
					SELECT $1::bigint, id, 'invited', 'sent', now() - interval '4 days' FROM c`, t.account.ID, n)
				if err != nil {
					b.Fatal(err)
				}
				now := time.Now()
				r := t.reminders(&now)
				ids := make([]int64, n)
				for i := range ids {
					ids[i] = int64(10_000_000 + i)
				}
				b.StartTimer()
				start := time.Now()
				if mode == "sweep" {
					err = r.Process(ctx, jobs.RemindArgs{})
				} else {
					err = t.queue.RemindMany(ctx, ids, time.Millisecond)
				}
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "s/sweep")
				if mode == "sweep" {
					var queued int
					t.db.Get(&queued, `SELECT count(*) FROM invitations WHERE kind = 'reminder'`)
					if queued != n {
						b.Fatalf("%d reminders, want %d", queued, n)
					}
				}
			}
		})
	}
}
