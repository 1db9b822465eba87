package httpapi

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

// limited is one client's action, and the email it sends, if any.
type limited struct {
	what     string
	clientID int64
	email    string // "" for none
}

func (l limited) keys() [][2]string {
	k := [][2]string{{l.what, "client:" + strconv.FormatInt(l.clientID, 10)}}
	if l.email != "" {
		k = append(k, [2]string{muster.LimitRecipient, l.email})
	}
	return k
}

// checkLimit refuses l with 429 and Retry-After when the client's budget
// for it, or the recipient's, is spent.
func (s *Server) checkLimit(ctx context.Context, l limited) error {
	if s.opts.Limiter == nil {
		return nil
	}
	for _, k := range l.keys() {
		if err := s.opts.Limiter.Check(ctx, k[0], k[1]); err != nil {
			return err
		}
	}
	return nil
}

// countLimit records l once it was done.
func (s *Server) countLimit(ctx context.Context, l limited) {
	if s.opts.Limiter == nil {
		return
	}
	for _, k := range l.keys() {
		s.opts.Limiter.Count(ctx, k[0], k[1])
	}
}
