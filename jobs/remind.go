package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// RemindStore is what the reminder sweep needs from the database.
type RemindStore interface {
	QueueReminders(ctx context.Context, now time.Time, schedule []time.Duration) ([]int64, error)
}

// Reminders is the handler of TypeRemind. PostgreSQL picks who is due and
// records each reminder step once; the emails are then spread over time at
// Rate per second, so a hundred thousand due reminders reach the SMTP
// server as a steady stream, not a burst.
type Reminders struct {
	Store    RemindStore
	Queue    *Enqueuer
	Schedule []time.Duration // after the invitation: e.g. 72h, 168h
	Rate     float64         // reminder emails per second; 0: no spreading
	Now      func() time.Time
	Log      *slog.Logger
	Metrics  Recorder // nil: nothing recorded
}

// NewReminders is the worker's reminder sweep: REMINDER_SCHEDULE, spread
// at REMINDER_RATE.
func NewReminders(d *Deps) *Reminders {
	return once(d, func() *Reminders {
		return &Reminders{
			Store: d.Store, Queue: d.Queue, Schedule: d.Config.ReminderSchedule, Rate: d.Config.ReminderRate, Now: d.now(),
			Log: d.Log, Metrics: d.Metrics,
		}
	})
}

// Process queues every due reminder.
func (r *Reminders) Process(ctx context.Context, _ RemindArgs) error {
	start := time.Now()
	defer func() { recorder(r.Metrics).ReminderSweep(time.Since(start)) }()
	ids, err := r.Store.QueueReminders(ctx, r.Now(), r.Schedule)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	var spacing time.Duration // no rate: all at once
	if r.Rate > 0 {
		spacing = time.Duration(float64(time.Second) / r.Rate)
	}
	if err := r.Queue.RemindMany(ctx, ids, spacing); err != nil {
		return fmt.Errorf("enqueue reminders: %w", err)
	}
	r.Log.Info("reminders queued", "count", len(ids), "spread_over", spacing*time.Duration(len(ids)))
	return nil
}
