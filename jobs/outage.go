package jobs

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/muster-dev/muster/internal/muster"
)

// outageRetry is the delay before a task that met an outage (PostgreSQL or
// Redis unreachable) or another worker's lease runs again. Such a try is
// not the task's failure: it does not count against its retries, and its
// delay does not grow, so the work resumes within seconds of the outage
// ending instead of after a doubled backoff.
const outageRetry = 3 * time.Second

// Unavailable reports whether err means a server we depend on could not be
// reached or went away (refused or dropped connections, a PostgreSQL that
// is starting up or shutting down), as opposed to an error in the work.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		// 08: connection exception; 57P01-57P03: shutting down, starting up.
		c := state.SQLState()
		return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "57P")
	}
	var nerr net.Error
	var operr *net.OpError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed), errors.As(err, &operr):
		return true
	case errors.As(err, &nerr) && nerr.Timeout():
		return true
	}
	// go-redis reports a server that is loading its data, or a replica
	// not yet promoted, by message only.
	msg := err.Error()
	return strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "READONLY") || strings.HasPrefix(msg, "MASTERDOWN")
}

// transient reports whether a task's error is an outage or another
// worker's lease: try again soon, and do not count it as a failure.
func transient(err error) bool {
	var d deliveryError
	if errors.As(err, &d) {
		return false
	}
	return errors.Is(err, muster.ErrClaimed) || (Unavailable(err) && !errors.Is(err, context.Canceled))
}

// retryDelay is backoff's doubling delay, but outageRetry (±20%) after a
// transient error.
func retryDelay(base time.Duration) asynq.RetryDelayFunc {
	doubling := backoff(base)
	return func(n int, err error, t *asynq.Task) time.Duration {
		if transient(err) {
			return time.Duration(float64(outageRetry) * (0.8 + 0.4*rand.Float64()))
		}
		return doubling(n, err, t)
	}
}
