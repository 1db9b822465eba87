// Package limit counts what clients do in Redis, so that a limit holds
// across every web process: invitations, imports and resends per client,
// emails per recipient. It is GCRA (go-redis's redis_rate), one key per
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
	rates map[string][]muster.Rate
	log   *slog.Logger
}

// New counts in rdb; what has no rates is not limited.
func New(rdb redis.UniversalClient, rates map[string][]muster.Rate, log *slog.Logger) *Limiter {
	return &Limiter{rl: redis_rate.NewLimiter(rdb), rates: rates, log: log}
}

// Allow counts one what for key (a client id, an email address) and
// returns a muster.RateLimited error when any of its windows is full. A
// Redis outage lets the request through, logged: the limits are a guard
// against abuse, and PostgreSQL, not Redis, decides what is sent.
func (l *Limiter) Allow(ctx context.Context, what, key string) error {
	for _, r := range l.rates[what] {
		res, err := l.rl.Allow(ctx, redisKey(what, key, r), redis_rate.Limit{Rate: r.N, Burst: r.N, Period: r.Per})
		if err != nil {
			l.log.Warn("rate limit not checked", "limit", what, "error", err)
			return nil
		}
		if res.Allowed == 0 {
			return muster.RateLimited(what, r, max(res.RetryAfter, time.Second))
		}
	}
	return nil
}

func redisKey(what, key string, r muster.Rate) string {
	// Lower-case keys: one recipient, however a client spells it. The
	// window is part of the key so each keeps its own count.
	return fmt.Sprintf("muster:limit:%s:%s:%s", what, r, strings.ToLower(key))
}
