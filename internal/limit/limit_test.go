package limit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
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

// TakeEach takes for a whole set of keys, each key's in order, so a key
// that appears twice takes two; a key refused by one window takes
// nothing from the others; Check sees what it took, GiveBack returns it.
func TestTakeEachInOrder(t *testing.T) {
	t.Parallel()
	rdb := redistest.New(t)
	ctx := context.Background()
	rates := map[string][]muster.Rate{muster.LimitRecipient: {{N: 3, Per: time.Minute}, {N: 4, Per: 24 * time.Hour}}}
	l := limit.New(rdb.Client, rates, slog.New(slog.NewTextHandler(io.Discard, nil)))
	waits, err := l.TakeEach(ctx, muster.LimitRecipient, []string{"a@example.test", "A@example.test", "b@example.test", "a@example.test", "a@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, true, true, false} { // taken?
		if got := waits[i] == 0; got != want {
			t.Errorf("key %d: wait %s, taken %v, want %v", i, waits[i], got, want)
		}
	}
	if waits[4] <= 0 || waits[4] > 20*time.Second {
		t.Errorf("the 4th in a minute waits %s, want one emission interval (20 s) at most", waits[4])
	}
	// a has spent 3 of its 3 a minute and 3 of its 4 a day.
	if err := l.Check(ctx, muster.LimitRecipient, "a@example.test"); err == nil {
		t.Error("Check does not see what TakeEach took")
	}
	if err := l.GiveBack(ctx, muster.LimitRecipient, []string{"a@example.test"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Take(ctx, muster.LimitRecipient, "a@example.test"); err != nil {
		t.Fatalf("after a give-back: %v", err)
	}
	e := muster.AsError(l.Take(ctx, muster.LimitRecipient, "a@example.test"))
	if e == nil || e.Kind != muster.KindRateLimited || e.RetryAfter <= 0 {
		t.Fatalf("5th of 4 a day: %#v", e)
	}
	if !strings.Contains(e.Message, "4/d") && !strings.Contains(e.Message, "3/m") {
		t.Errorf("message %q names no limit", e.Message)
	}
}

// On a Redis Cluster each key's windows are on its own master, and every
// master answers its share of the set.
func TestTakeEachOnACluster(t *testing.T) {
	t.Parallel()
	c := redistest.Cluster(t, 3)
	ctx := context.Background()
	l := limit.New(c, map[string][]muster.Rate{muster.LimitRecipient: {{N: 1, Per: 24 * time.Hour}}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprintf("r%d@example.test", i)
	}
	masters := map[string]bool{}
	for _, k := range keys {
		slot := c.ClusterKeySlot(ctx, "rate:muster:limit:recipient:1/d:"+k).Val()
		masters[fmt.Sprint(slot*3/16384)] = true
	}
	if len(masters) != 3 {
		t.Fatalf("the keys fall on %d masters' slots, want 3", len(masters))
	}
	for round, want := range []bool{true, false} {
		waits, err := l.TakeEach(ctx, muster.LimitRecipient, keys)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i, w := range waits {
			if (w == 0) != want {
				t.Fatalf("round %d, key %d: wait %s", round, i, w)
			}
		}
	}
	if err := l.Check(ctx, muster.LimitRecipient, keys[7]); err == nil {
		t.Error("Check on the cluster does not see what TakeEach took")
	}
}

// Without Redis a take lets everything through and says why.
func TestTakeWithoutRedis(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	l := limit.New(rdb, map[string][]muster.Rate{muster.LimitRecipient: {{N: 1, Per: time.Minute}}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	waits, err := l.TakeEach(context.Background(), muster.LimitRecipient, []string{"x@example.test", "x@example.test"})
	if err == nil || len(waits) != 2 || waits[0] != 0 || waits[1] != 0 {
		t.Fatalf("waits %v, err %v; want both let through, and the error", waits, err)
	}
	if err := l.Take(context.Background(), muster.LimitRecipient, "x@example.test"); err != nil {
		t.Fatalf("Take refused without Redis: %v", err)
	}
}

// BenchmarkTakeEach is the recipient cap's cost per claimed set of bulk
// emails (64: 16 per connection, 4 connections), its keys concurrently:
//
//	go test ./internal/limit -run '^$' -bench TakeEach
func BenchmarkTakeEach(b *testing.B) {
	rdb := redistest.New(b)
	l := limit.New(rdb.Client, map[string][]muster.Rate{muster.LimitRecipient: {{N: 10, Per: 24 * time.Hour}}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	keys := make([]string, 64)
	n := 0
	for b.Loop() {
		for i := range keys {
			keys[i] = fmt.Sprintf("r%d@example.test", n)
			n++
		}
		if _, err := l.TakeEach(ctx, muster.LimitRecipient, keys); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/64, "µs/email")
}
