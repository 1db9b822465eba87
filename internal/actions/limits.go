package actions

import (
	"context"
	"strconv"

	"github.com/muster-dev/muster/internal/muster"
)

// Limiter counts what clients do across every process (internal/limit).
type Limiter interface {
	Check(ctx context.Context, what, key string) error
	Count(ctx context.Context, what, key string)
}

// Limited is one client's action that the limits count (a
// muster.Limit* name), and the address it emails, if any.
type Limited struct {
	What     string
	ClientID int64
	Email    string // "" for none
}

// Limit runs do unless the client's budget for l is spent, or the
// recipient's already is (429 with Retry-After), and counts l against the
// client once do succeeded: a refused request spends nobody's budget. The
// recipient's budget (LIMIT_RECIPIENT) is only checked here, so that a
// request certain to be over it is refused at once; it is counted when the
// email goes out (jobs.Sender), once per email whatever its kind, and an
// email over it then waits instead. The API and the console wrap their
// invitations, resends and uploads in it.
func (a *Actions) Limit(ctx context.Context, l Limited, do func() error) error {
	if a.opts.Limiter == nil {
		return do()
	}
	client := "client:" + strconv.FormatInt(l.ClientID, 10)
	if err := a.opts.Limiter.Check(ctx, l.What, client); err != nil {
		return err
	}
	if l.Email != "" {
		if err := a.opts.Limiter.Check(ctx, muster.LimitRecipient, l.Email); err != nil {
			return err
		}
	}
	if err := do(); err != nil {
		return err
	}
	a.opts.Limiter.Count(ctx, l.What, client)
	return nil
}
