package jobs

import "time"

// Email outcomes, as Recorder.Email counts them.
const (
	OutcomeSent      = "sent"
	OutcomeRetried   = "retried"   // an attempt failed; it is tried again
	OutcomeFailed    = "failed"    // given up: a permanent refusal or the last attempt
	OutcomeCancelled = "cancelled" // no longer wanted when the worker came to send it
	OutcomePostponed = "postponed" // over its recipient's cap (LIMIT_RECIPIENT); tried when the cap allows
)

// Recorder receives what the jobs do, for metrics. Nil fields of the
// handlers mean nothing is recorded.
type Recorder interface {
	// Email counts one attempt's outcome.
	Email(kind, locale, outcome string)
	// EmailError counts one failed attempt, retried or final, by reason.
	EmailError(kind, reason string)
	// SendLatency is the time from claiming an email to the SMTP server
	// accepting it.
	SendLatency(kind string, d time.Duration)
	// ImportRows counts n rows of an import with an outcome (muster.Row*).
	ImportRows(outcome string, n int)
	// ReminderSweep is how long one reminder sweep took.
	ReminderSweep(d time.Duration)
}

type nopRecorder struct{}

func (nopRecorder) Email(string, string, string)      {}
func (nopRecorder) EmailError(string, string)         {}
func (nopRecorder) SendLatency(string, time.Duration) {}
func (nopRecorder) ImportRows(string, int)            {}
func (nopRecorder) ReminderSweep(time.Duration)       {}

func recorder(r Recorder) Recorder {
	if r == nil {
		return nopRecorder{}
	}
	return r
}
