package limit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/muster"
)

// gcra is redis_rate's allowN script, as is (BSD-2-Clause; Copyright (c)
// 2017 Pavel Pravosud, github.com/rwz/redis-gcra). redis_rate runs it one
// key per round trip and has no pipelined form, and the send path needs a
// whole set of recipients in one. The keys and values are redis_rate's, so
// Check and Count see what Take took, and the other way round. A negative
// cost gives back what a positive one took.
var gcra = redis.NewScript(`
-- this script has side-effects, so it requires replicate commands mode
redis.replicate_commands()

local rate_limit_key = KEYS[1]
local burst = ARGV[1]
local rate = ARGV[2]
local period = ARGV[3]
local cost = tonumber(ARGV[4])

local emission_interval = period / rate
local increment = emission_interval * cost
local burst_offset = emission_interval * burst

local jan_1_2017 = 1483228800
local now = redis.call("TIME")
now = (now[1] - jan_1_2017) + (now[2] / 1000000)

local tat = redis.call("GET", rate_limit_key)

if not tat then
  tat = now
else
  tat = tonumber(tat)
end

tat = math.max(tat, now)

local new_tat = tat + increment
local allow_at = new_tat - burst_offset

local diff = now - allow_at
local remaining = diff / emission_interval

if remaining < 0 then
  local reset_after = tat - now
  local retry_after = diff * -1
  return {
    0, -- allowed
    0, -- remaining
    tostring(retry_after),
    tostring(reset_after),
  }
end

local reset_after = new_tat - now
if reset_after > 0 then
  redis.call("SET", rate_limit_key, new_tat, "EX", math.ceil(reset_after))
end
local retry_after = -1
return {cost, remaining, tostring(retry_after), tostring(reset_after)}
`)

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

// TakeEach is Take for many keys in one round trip to Redis (a pipeline,
// which Redis Cluster splits by slot): waits[i] is 0 when keys[i] got its
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
			calls = append(calls, call{key: rateKey(what, k, r), rate: r, cost: -1})
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
			calls = append(calls, call{key: rateKey(what, k, r), rate: r, cost: 1})
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

// call is one run of the script: cost events for one window of one key.
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

// eval runs calls in one pipeline, in order. A server that does not know
// the script yet (a new or restarted one, each master of a Cluster)
// answers NOSCRIPT without running it; those calls run again with EVAL,
// which also caches the script there. The calls that still failed return
// a zero result, and the first failure is the error.
func (l *Limiter) eval(ctx context.Context, calls []call) ([]result, error) {
	out := make([]result, len(calls))
	if len(calls) == 0 {
		return out, nil
	}
	cmds := make([]*redis.Cmd, len(calls))
	_, _ = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = gcra.EvalSha(ctx, p, []string{c.key}, c.args()...)
		}
		return nil
	})
	var again []int
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		_, _ = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range again {
				cmds[i] = gcra.Eval(ctx, p, []string{calls[i].key}, calls[i].args()...)
			}
			return nil
		})
	}
	var first error
	for i, cmd := range cmds {
		r, err := parse(cmd)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("rate limit %s: %w", calls[i].key, err)
			}
			continue
		}
		out[i] = r
	}
	return out, first
}

func (c call) args() []any {
	return []any{c.rate.N, c.rate.N, c.rate.Per.Seconds(), c.cost}
}

// parse reads the script's answer: {allowed, remaining, retry_after,
// reset_after}, the times in seconds as strings.
func parse(cmd *redis.Cmd) (result, error) {
	vals, err := cmd.Slice()
	if err != nil {
		return result{}, err
	}
	if len(vals) != 4 {
		return result{}, fmt.Errorf("unexpected answer %v", vals)
	}
	allowed, _ := vals[0].(int64)
	if allowed != 0 {
		return result{taken: true}, nil
	}
	s, _ := vals[2].(string)
	retry, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return result{}, fmt.Errorf("unexpected retry_after %v", vals[2])
	}
	// A refusal always waits a little, so 0 keeps meaning taken.
	return result{wait: max(time.Duration(retry*float64(time.Second)), time.Millisecond)}, nil
}
