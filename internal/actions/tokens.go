package actions

import (
	"context"

	"github.com/muster-dev/muster/internal/muster"
)

// TokenStore revokes API tokens.
type TokenStore interface {
	RevokeToken(ctx context.Context, id int64, f muster.TokenFilter) (*muster.Token, error)
}

// RevokeToken revokes token id if it is among the tokens by may see; any
// other reads as not found.
func (a *Actions) RevokeToken(ctx context.Context, by muster.Actor, id int64) (*muster.Token, error) {
	return a.tokens.RevokeToken(ctx, id, by.TokenScope())
}
