package limit_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/limit"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/redistest"
)

// Check counts nothing, Count counts in every window, a full window
// refuses with Retry-After, and keys (clients, addresses in any case) keep
// their own counts, shared by every Limiter on the same Redis.
func TestCheckAndCount(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	ctx := context.Background()
	rates := map[string][]muster.Rate{muster.LimitRecipient: {{N: 3, Per: time.Minute}, {N: 4, Per: 24 * time.Hour}}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, b := limit.New(rdb.Client, rates, log), limit.New(rdb.Client, rates, log) // two processes
	for range 10 {
		if err := a.Check(ctx, muster.LimitRecipient, "x@example.test"); err != nil {
			t.Fatalf("checking spent the budget: %v", err)
		}
	}
	for i := range 3 {
		if err := b.Check(ctx, muster.LimitRecipient, "x@example.test"); err != nil {
			t.Fatalf("email %d refused: %v", i+1, err)
		}
		a.Count(ctx, muster.LimitRecipient, "X@Example.test")
	}
	err := b.Check(ctx, muster.LimitRecipient, "x@example.test")
	e := muster.AsError(err)
	if e == nil || e.Kind != muster.KindRateLimited || e.RetryAfter < time.Second || e.RetryAfter > time.Minute {
		t.Fatalf("4th in a minute: %#v", err)
	}
	if err := a.Check(ctx, muster.LimitRecipient, "y@example.test"); err != nil {
		t.Errorf("another address: %v", err)
	}
	if err := a.Check(ctx, muster.LimitInvitations, "client:1"); err != nil {
		t.Errorf("a limit with no rates: %v", err)
	}
}

// Without Redis the limits let requests through (PostgreSQL decides what
// is sent); they do not turn an outage into refusals.
func TestRedisDownLetsThrough(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	l := limit.New(rdb, map[string][]muster.Rate{muster.LimitImports: {{N: 1, Per: time.Minute}}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for range 3 {
		if err := l.Check(context.Background(), muster.LimitImports, "client:1"); err != nil {
			t.Fatalf("refused without Redis: %v", err)
		}
		l.Count(context.Background(), muster.LimitImports, "client:1")
	}
}
