package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/muster-dev/muster/internal/muster"
)

// Every handler decides Asynq's next step here: retry after the backoff
// (any other error), never again (permanent), or nothing to do (nil).

// claimed turns the error of claiming a task's row in PostgreSQL into the
// task's result; stop says the handler returns it at once. A row already
// handled is done; one another worker holds is retried after the backoff;
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
