package limit

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/muster-dev/muster/internal/muster"
)

// Take takes one what for key from each of its windows at once, or
// returns a muster.RateLimited error, taking nothing, when one of them is
// full. Unlike Check then Count, two processes cannot both take the last
// one. A Redis outage lets the request through, logged.
func (l *Limiter) Take(ctx context.Context, what, key string) error {
	got, err := l.take(ctx, what, []string{key})
	if err != nil {
		l.log.Warn("rate limit not checked", "limit", what, "error", err)
	}
	if r := got[0]; r.wait > 0 {
		return muster.RateLimited(what, r.rate, r.wait)
	}
	return nil
}

// TakeEach is Take for many keys at once (concurrent calls over the
// client's pool, each to its key's node in a Cluster): waits[i] is 0 when keys[i] got its
// one, else how long until its windows allow it. A key that appears twice
// takes two. A key whose windows could not be read (Redis down, a Cluster
// node away) is let through with 0, and err says why.
func (l *Limiter) TakeEach(ctx context.Context, what string, keys []string) (waits []time.Duration, err error) {
	got, err := l.take(ctx, what, keys)
	waits = make([]time.Duration, len(keys))
	for i, r := range got {
		waits[i] = r.wait
	}
	return waits, err
}

// GiveBack returns one what to each key's windows: the ones TakeEach took
// for things that did not happen after all (an email the SMTP server
// refused).
func (l *Limiter) GiveBack(ctx context.Context, what string, keys []string) error {
	var calls []call
	for _, k := range keys {
		for _, r := range l.rates[what] {
			calls = append(calls, call{key: redisKey(what, k, r), rate: r, cost: -1})
		}
	}
	_, err := l.eval(ctx, calls)
	return err
}

// refusal is why a key was not given its one: the window that is full and
// how long until it allows one (0: taken).
type refusal struct {
	rate muster.Rate
	wait time.Duration
}

func (l *Limiter) take(ctx context.Context, what string, keys []string) ([]refusal, error) {
	rates := l.rates[what]
	out := make([]refusal, len(keys))
	if len(rates) == 0 || len(keys) == 0 {
		return out, nil
	}
	calls := make([]call, 0, len(keys)*len(rates))
	for _, k := range keys {
		for _, r := range rates {
			calls = append(calls, call{key: redisKey(what, k, r), rate: r, cost: 1})
		}
	}
	res, err := l.eval(ctx, calls)
	// A key refused by one window gives back what its other windows took:
	// a refusal spends nothing.
	var back []call
	for i := range keys {
		windows := res[i*len(rates) : (i+1)*len(rates)]
		for j, w := range windows {
			if w.wait > out[i].wait {
				out[i] = refusal{rate: rates[j], wait: w.wait}
			}
		}
		if out[i].wait == 0 {
			continue
		}
		for j, w := range windows {
			if w.taken {
				back = append(back, call{key: calls[i*len(rates)+j].key, rate: rates[j], cost: -1})
			}
		}
	}
	if len(back) > 0 {
		if _, berr := l.eval(ctx, back); berr != nil && err == nil {
			err = fmt.Errorf("give back what refused keys took: %w", berr)
		}
	}
	return out, err
}

// call is cost events for one window of one key (a negative cost gives
// back what a positive one took).
type call struct {
	key  string
	rate muster.Rate
	cost int
}

// result is one call's answer: taken, or refused until wait has passed.
// A call that failed is neither.
type result struct {
	taken bool
	wait  time.Duration
}

// evalConcurrency bounds the calls in flight: a bulk claim's emails.
const evalConcurrency = 64

// eval runs calls through redis_rate, the keys concurrently. redis_rate
// has no pipelined form, and its script is not ours to copy; go-redis's
// autopipelining (Limiter.sets) sends the concurrent calls together. The calls
// that failed return a zero result, and the first failure is the error.
func (l *Limiter) eval(ctx context.Context, calls []call) ([]result, error) {
	out := make([]result, len(calls))
	errs := make([]error, len(calls))
	// The calls of one key run in order, so a key that appears twice in a
	// set takes its first one first.
	byKey := map[string][]int{}
	var keys []string
	for i, c := range calls {
		if byKey[c.key] == nil {
			keys = append(keys, c.key)
		}
		byKey[c.key] = append(byKey[c.key], i)
	}
	var g errgroup.Group
	g.SetLimit(evalConcurrency)
	for _, k := range keys {
		g.Go(func() error {
			for _, i := range byKey[k] {
				c := calls[i]
				res, err := l.sets.AllowN(ctx, c.key, limitOf(c.rate), c.cost)
				switch {
				case err != nil:
					errs[i] = fmt.Errorf("rate limit %s: %w", c.key, err)
				case res.Allowed != 0:
					out[i] = result{taken: true}
				default:
					// A refusal always waits a little, so 0 keeps meaning taken.
					out[i] = result{wait: max(res.RetryAfter, time.Millisecond)}
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	for _, err := range errs {
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
