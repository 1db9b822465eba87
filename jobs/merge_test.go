package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/jobs"
)

// A merge that cannot run on its last attempt says why, instead of staying
// "running" behind an archived task.
func TestMergeGivesUpOnItsLastAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	var ids [3]int64
	for i, name := range []string{"A", "B", "C"} {
		c, _, err := b.db.CreateClient(ctx, muster.ClientDraft{Name: name, OwnerEmail: strings.ToLower(name) + "@owner.test", OwnerLocale: muster.Russian, AccountName: name})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = c.ID
	}
	staff := muster.Actor{Kind: muster.TokenStaff, Name: "test"}
	first, _, err := b.db.CreateMerge(ctx, muster.MergeRequest{TargetClientID: ids[0], SourceClientIDs: []int64{ids[1]}}, staff)
	if err != nil {
		t.Fatal(err)
	}
	// B becomes the target of an open merge: the first must wait for it…
	if _, _, err := b.db.CreateMerge(ctx, muster.MergeRequest{TargetClientID: ids[1], SourceClientIDs: []int64{ids[2]}}, staff); err != nil {
		t.Fatal(err)
	}
	b.startWorker(t)
	// …but this delivery is its last.
	payload, _ := json.Marshal(jobs.MergeArgs{MergeID: first.ID})
	if _, err := asynq.NewClientFromRedisClient(b.redis.Client).Enqueue(asynq.NewTask(jobs.TypeMerge, payload), asynq.MaxRetry(0), asynq.Queue(jobs.QueueDefault)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := b.db.FindMerge(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status == muster.MergeFailed {
			if !strings.Contains(m.Error, "last attempt") {
				t.Errorf("reason %q", m.Error)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("merge is %s at %s, want failed", m.Status, m.Step)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
