package jobs

import (
	"errors"
	"time"
)

// SendTasksPerBatch lets the external tests count a batch's send tasks.
const SendTasksPerBatch = sendTasksPerBatch

// IsFailure is what the worker tells Asynq of a task's error.
var IsFailure = isFailure

// PostponedUntil is when a postponed task runs again.
func PostponedUntil(err error) (time.Time, bool) {
	var p *postponedError
	if !errors.As(err, &p) {
		return time.Time{}, false
	}
	return p.until, true
}

// Settled waits for the outcomes single sends write after their handler
// returned (Sender.Behind).
func (d *Deps) Settled() { d.settling.Wait() }
