package actions

import (
	"context"

	"github.com/muster-dev/muster/internal/muster"
)

// MergeStore records merge requests.
type MergeStore interface {
	CreateMerge(ctx context.Context, req muster.MergeRequest, by muster.Actor) (*muster.Merge, bool, error)
}

// Merge records a merge request and queues it. done reports a merge that
// was carried out before: nothing is queued.
func (a *Actions) Merge(ctx context.Context, req muster.MergeRequest, by muster.Actor) (m *muster.Merge, done bool, err error) {
	m, done, err = a.merges.CreateMerge(ctx, req, by)
	if err != nil || done {
		return m, done, err
	}
	a.enqueued(a.queue.Merge(ctx, m.ID), "merge", m.ID)
	return m, false, nil
}
