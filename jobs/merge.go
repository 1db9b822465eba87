package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/muster-dev/muster/internal/muster"
)

// MergeStore is what merging needs from the database.
type MergeStore interface {
	RunMerge(ctx context.Context, id int64, progress func(step string, percent int) error) (*muster.Merge, []int64, error)
	MergeProgress(ctx context.Context, id int64, step string, percent int) error
	FailMerge(ctx context.Context, id int64, reason string) error
}

// Merger is the handler of TypeMerge. The merge is one transaction in
// PostgreSQL; a worker killed half way leaves the old state, and the retry
// (or the requeue sweep) runs it again to the end. A merge that finished
// does nothing when delivered again.
type Merger struct {
	Store MergeStore
	Queue *Enqueuer
	Log   *slog.Logger
}

// NewMerger is the worker's Merger.
func NewMerger(d *Deps) *Merger {
	return once(d, func() *Merger { return &Merger{Store: d.Store, Queue: d.Queue, Log: d.Log} })
}

// Process runs the merge and sends its notices.
func (m *Merger) Process(ctx context.Context, args MergeArgs) error {
	merge, notices, err := m.Store.RunMerge(ctx, args.MergeID, func(step string, percent int) error {
		return m.Store.MergeProgress(ctx, args.MergeID, step, percent)
	})
	last := err != nil && lastAttempt(ctx)
	if muster.ErrorCode(err) == "merge_in_progress" && !last {
		// A source is still being filled by an earlier merge: wait for it.
		if perr := m.Store.MergeProgress(ctx, args.MergeID, "waiting", 0); perr != nil {
			return perr
		}
		return fmt.Errorf("merge %d: %w", args.MergeID, err)
	}
	if e := muster.AsError(err); e != nil || last {
		// The dashboards changed since the request (another merge won), or
		// this was the last attempt: the merge says why, and nothing changed.
		reason := err.Error()
		if e != nil {
			reason = e.Message
		}
		if e == nil || e.Code == "merge_in_progress" {
			reason = "the merge stopped after its last attempt; nothing was changed: " + reason
		}
		if ferr := m.Store.FailMerge(ctx, args.MergeID, reason); ferr != nil {
			return ferr
		}
		return permanent(fmt.Errorf("merge %d: %w", args.MergeID, err))
	}
	if err != nil {
		return fmt.Errorf("merge %d: %w", args.MergeID, err)
	}
	if err := m.Queue.SendMany(ctx, notices, 0); err != nil {
		m.Log.Warn("merge notices not enqueued; the requeue sweep will send them", "merge", merge.ID, "error", err)
	}
	m.Log.Info("merge done", "merge", merge.ID, "target", merge.TargetClientID, "sources", merge.SourceClientIDs, "dry_run", merge.DryRun)
	return nil
}
