package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Keys the requeue sweep keeps in Redis, beside Asynq's.
const (
	// markerKey holds the run id of the Redis server that the last sweep
	// saw (see lostData).
	markerKey = "muster:marker"
	// suspectsKey maps the ids of running tasks that no live worker claims
	// to when a sweep first saw them so.
	suspectsKey = "muster:orphan-suspects"
)

// orphanAfter is how long a running task must go unclaimed by any live
// worker before the sweep copies it. Asynq's workers publish what they run
// every 5 s, so a task started since the last publication looks unclaimed
// for up to that long; a worker's record outlives it by 10 s at most.
const orphanAfter = 6 * time.Second

// copyRetention keeps a finished copy's id taken, so that the sweep does
// not copy the same orphan again while Asynq still lists it as running
// (its own recovery of the orphan comes one to two minutes after the death).
const copyRetention = 3 * time.Minute

// lostData reports whether Redis may have lost data since the last sweep:
// the marker is gone (Redis restarted empty), or it names another server
// than the one answering now (a Sentinel failover to a replica, which may
// have missed the last writes). The first sweep ever also reads as a loss;
// it costs one requeue of what is unsent, which task ids make a no-op.
func (r *Requeuer) lostData(ctx context.Context) (bool, error) {
	id, err := r.serverID(ctx)
	if err != nil {
		return false, fmt.Errorf("requeue: Redis server id: %w", err)
	}
	old, err := r.Redis.Get(ctx, markerKey).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("requeue: Redis marker: %w", err)
	}
	if err == nil && old == id {
		return false, nil
	}
	if err := r.Redis.Set(ctx, markerKey, id, 0).Err(); err != nil {
		return false, fmt.Errorf("requeue: Redis marker: %w", err)
	}
	return true, nil
}

// serverID is the run id of the Redis server, which changes when it
// restarts or another one takes over. A Cluster has many; there only the
// marker's presence counts.
func (r *Requeuer) serverID(ctx context.Context) (string, error) {
	if _, ok := r.Redis.(*redis.ClusterClient); ok {
		return "cluster", nil
	}
	info, err := r.Redis.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return id, nil
		}
	}
	return "", errors.New("INFO server has no run_id")
}

// orphans copies the tasks that a worker was running when it died. Asynq
// itself recovers them only after their 30 s lease, 30 s of allowance for
// clock skew and its next check, which comes every minute: one to two
// minutes. A copy runs under a new id; PostgreSQL's claims make it and the
// orphan, if Asynq runs it later, harmless to each other.
func (r *Requeuer) orphans(ctx context.Context) error {
	insp := asynq.NewInspectorFromRedisClient(r.Redis)
	servers, err := insp.Servers()
	if err != nil {
		return fmt.Errorf("requeue: list workers: %w", err)
	}
	claimed := map[string]bool{}
	for _, s := range servers {
		for _, w := range s.ActiveWorkers {
			claimed[w.TaskID] = true
		}
	}
	queues, err := insp.Queues()
	if err != nil {
		return fmt.Errorf("requeue: list queues: %w", err)
	}
	var unclaimed []*asynq.TaskInfo
	for _, q := range queues {
		active, err := insp.ListActiveTasks(q, asynq.PageSize(1000))
		if err != nil {
			return fmt.Errorf("requeue: list running tasks of %s: %w", q, err)
		}
		for _, t := range active {
			if !claimed[t.ID] {
				unclaimed = append(unclaimed, t)
			}
		}
	}
	seen, err := r.Redis.HGetAll(ctx, suspectsKey).Result()
	if err != nil {
		return fmt.Errorf("requeue: read suspects: %w", err)
	}
	now := time.Now()
	keep := map[string]bool{}
	for _, t := range unclaimed {
		keep[t.ID] = true
		first, err := strconv.ParseInt(seen[t.ID], 10, 64)
		if err != nil {
			if err := r.Redis.HSet(ctx, suspectsKey, t.ID, now.UnixMilli()).Err(); err != nil {
				return fmt.Errorf("requeue: record suspect: %w", err)
			}
			continue
		}
		if now.Sub(time.UnixMilli(first)) < orphanAfter {
			continue
		}
		if err := r.copyTask(ctx, t); err != nil {
			return err
		}
	}
	for id := range seen {
		if !keep[id] {
			r.Redis.HDel(ctx, suspectsKey, id)
		}
	}
	return nil
}

// copyTask enqueues a copy of an orphaned task under a new id.
func (r *Requeuer) copyTask(ctx context.Context, t *asynq.TaskInfo) error {
	opts := []asynq.Option{asynq.TaskID(t.ID + ":copy"), asynq.Queue(t.Queue), asynq.MaxRetry(t.MaxRetry), asynq.Retention(copyRetention)}
	if t.Timeout > 0 {
		opts = append(opts, asynq.Timeout(t.Timeout))
	}
	_, err := r.Queue.client.EnqueueContext(ctx, asynq.NewTask(t.Type, t.Payload, opts...))
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return nil
	case err != nil:
		return fmt.Errorf("requeue: copy orphaned task %s: %w", t.ID, err)
	}
	r.Log.Warn("copied a task its worker died running", "task", t.Type, "id", t.ID)
	return nil
}
