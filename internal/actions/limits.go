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

func (l Limited) keys() [][2]string {
	k := [][2]string{{l.What, "client:" + strconv.FormatInt(l.ClientID, 10)}}
	if l.Email != "" {
		k = append(k, [2]string{muster.LimitRecipient, l.Email})
	}
	return k
}

// Limit runs do unless the client's budget for l, or the recipient's, is
// spent (429 with Retry-After), and counts l once do succeeded: a refused
// request spends nobody's budget, a victim's address least of all. The
// API, the console and the command line wrap their invitations, resends
// and uploads in it.
func (a *Actions) Limit(ctx context.Context, l Limited, do func() error) error {
	if a.opts.Limiter == nil {
		return do()
	}
	for _, k := range l.keys() {
		if err := a.opts.Limiter.Check(ctx, k[0], k[1]); err != nil {
			return err
		}
	}
	if err := do(); err != nil {
		return err
	}
	for _, k := range l.keys() {
		a.opts.Limiter.Count(ctx, k[0], k[1])
	}
	return nil
}
