package httpapi

import (
	"context"
	"strconv"

	"github.com/muster-dev/muster/internal/muster"
)

// Limiter counts what clients do across every process (internal/limit).
type Limiter interface {
	Allow(ctx context.Context, what, key string) error
}

// limit counts one what for the client, and, when email is set, one email
// to that address; either may refuse with 429 and Retry-After.
func (s *Server) limit(ctx context.Context, what string, clientID int64, email string) error {
	if s.opts.Limiter == nil {
		return nil
	}
	if err := s.opts.Limiter.Allow(ctx, what, "client:"+strconv.FormatInt(clientID, 10)); err != nil {
		return err
	}
	if email == "" {
		return nil
	}
	return s.opts.Limiter.Allow(ctx, muster.LimitRecipient, email)
}
