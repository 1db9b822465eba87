package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/muster-dev/muster/internal/muster"
)

// Every handler decides Asynq's next step here: retry after the backoff
// (any other error), retry soon without counting (transient), never again
// (permanent), or nothing to do (nil).

// claimed turns the error of claiming a task's row in PostgreSQL into the
// task's result; stop says the handler returns it at once. A row already
// handled is done; one another worker holds is retried soon (transient);
// a missing one is never found later.
func claimed(err error, what string, id int64) (stop bool, result error) {
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, muster.ErrHandled):
		return true, nil
	case errors.Is(err, muster.ErrClaimed):
		return true, fmt.Errorf("%s %d: %w", what, id, err)
	case muster.ErrorKind(err) == muster.KindNotFound:
		return true, permanent(fmt.Errorf("%s %d: %w", what, id, err))
	default:
		return true, err
	}
}

// permanent marks err as final: Asynq archives the task instead of
// retrying it.
func permanent(err error) error {
	return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
}

// isPermanent reports an error marked by permanent.
func isPermanent(err error) bool {
	return errors.Is(err, asynq.SkipRetry)
}

// lastAttempt reports whether Asynq will not run this task again if it
// fails now: its state in PostgreSQL must then be settled, or the row would
// wait for a task that is archived (and whose id keeps the requeue sweep's
// enqueue a no-op).
func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	max, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= max
}

// outageRetry is the delay before a task that met an outage (PostgreSQL or
// Redis unreachable) or another worker's lease runs again. Such a try is
// not the task's failure: it does not count against its retries, and its
// delay does not grow, so the work resumes within seconds of the outage
// ending instead of after a doubled backoff.
const outageRetry = 3 * time.Second

// transient reports whether a task's error is an outage or another
// worker's lease: try again soon, and do not count it as a failure.
func transient(err error) bool {
	return errors.Is(err, muster.ErrClaimed) || (Unavailable(err) && !errors.Is(err, context.Canceled))
}

// isFailure says whether a task's error spends one of its retries: an
// outage, another worker's lease, a full import slot or a postponement does
// not.
func isFailure(err error) bool {
	return !transient(err) && !errors.Is(err, errImportsBusy) && !isPostponed(err)
}

// retryDelay is backoff's doubling delay, but outageRetry (±20%) after a
// transient error.
func retryDelay(base time.Duration) asynq.RetryDelayFunc {
	doubling := backoff(base)
	return func(n int, err error, t *asynq.Task) time.Duration {
		var p *postponedError
		if errors.As(err, &p) {
			return max(time.Until(p.until), 0)
		}
		if transient(err) {
			return time.Duration(float64(outageRetry) * (0.8 + 0.4*rand.Float64()))
		}
		return doubling(n, err, t)
	}
}
