// Package limit counts what clients do in Redis, so that a limit holds
// across every process: invitations, imports and resends per client,
// emails per recipient (taken by the worker that sends them), sign-in
// links per client IP. It is GCRA (go-redis's redis_rate), one key per
// window, so a burst up to the window's size is allowed and then one event
// per Per/N.
package limit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/muster"
)

// Limiter checks and counts.
type Limiter struct {
	rl    *redis_rate.Limiter
	sets  *redis_rate.Limiter // for sets of keys at once (see eval)
	rates map[string][]muster.Rate
	log   *slog.Logger
}

// New counts in rdb; what has no rates is not limited.
func New(rdb redis.UniversalClient, rates map[string][]muster.Rate, log *slog.Logger) *Limiter {
	l := &Limiter{rl: redis_rate.NewLimiter(rdb), rates: rates, log: log}
	l.sets = l.rl
	// go-redis gathers the commands that goroutines issue together into
	// pipelines: a set's calls, one a key, then cost a round trip or two
	// instead of one each, which was a tenth of a worker's CPU sending an
	// import's emails on loopback.
	if ap, err := rdb.AutoPipeline(); err == nil {
		l.sets = redis_rate.NewLimiter(ap)
	} else {
		log.Warn("Redis commands of the recipient cap will not be pipelined", "error", err)
	}
	return l
}

// Check returns a muster.RateLimited error when one more what for key (a
// client id, an email address) would overfill any of its windows. It
// counts nothing: Count does, once the thing was done, so that refused
// requests spend no one's budget (a victim's address least of all).
//
// A Redis outage lets the request through, logged: the limits guard
// against abuse, and PostgreSQL, not Redis, decides what is sent.
func (l *Limiter) Check(ctx context.Context, what, key string) error {
	for _, r := range l.rates[what] {
		res, err := l.rl.AllowN(ctx, redisKey(what, key, r), limitOf(r), 0)
		if err != nil {
			l.log.Warn("rate limit not checked", "limit", what, "error", err)
			return nil
		}
		if res.Remaining < 1 {
			// The next one is allowed within one emission interval.
			return muster.RateLimited(what, r, max(r.Per/time.Duration(r.N), time.Second))
		}
	}
	return nil
}

// Count records one what for key in each of its windows.
func (l *Limiter) Count(ctx context.Context, what, key string) {
	for _, r := range l.rates[what] {
		if _, err := l.rl.Allow(ctx, redisKey(what, key, r), limitOf(r)); err != nil {
			l.log.Warn("rate limit not counted", "limit", what, "error", err)
			return
		}
	}
}

func limitOf(r muster.Rate) redis_rate.Limit {
	return redis_rate.Limit{Rate: r.N, Burst: r.N, Period: r.Per}
}

func redisKey(what, key string, r muster.Rate) string {
	// Lower-case keys: one recipient, however a client spells it. The
	// window is part of the key so each keeps its own count.
	return fmt.Sprintf("muster:limit:%s:%s:%s", what, r, strings.ToLower(key))
}
