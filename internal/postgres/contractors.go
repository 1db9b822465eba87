package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/muster"
)

const (
	contractorColumns = `id, email, full_name, phone, registered_at, phone_verified_at, tax_status,
		tax_status_set_at, payment_method_linked_at, created_at`
	membershipColumns = `id, account_id, contractor_id, feature, notes, locale, status, send_status,
		invited_at, linked_at, excluded_at`
)

// ContractorCard returns a contractor of one account with their invitation
// history. A contractor who is not in the account is not found, whatever
// other accounts they are in.
func (db *DB) ContractorCard(ctx context.Context, accountID, contractorID int64) (*muster.Card, error) {
	var card muster.Card
	err := db.GetContext(ctx, &card.Membership, `
		SELECT `+membershipColumns+` FROM memberships WHERE account_id = $1 AND contractor_id = $2`, accountID, contractorID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, muster.NotFound("contractor_not_found", "contractor %d is not in account %d", contractorID, accountID)
	}
	if err != nil {
		return nil, fmt.Errorf("find membership: %w", err)
	}
	if err := db.GetContext(ctx, &card.Contractor, `SELECT `+contractorColumns+` FROM contractors WHERE id = $1`, contractorID); err != nil {
		return nil, fmt.Errorf("find contractor %d: %w", contractorID, err)
	}
	var managers pq.Int64Array
	if err := db.GetContext(ctx, &managers, `
		SELECT ARRAY(SELECT manager_id FROM membership_managers WHERE membership_id = $1 ORDER BY 1)`, card.Membership.ID); err != nil {
		return nil, fmt.Errorf("find assigned managers: %w", err)
	}
	card.Membership.ManagerIDs = managers
	card.Invitations = []muster.Invitation{}
	if err := db.SelectContext(ctx, &card.Invitations, `
		SELECT `+invitationColumns+` FROM invitations WHERE membership_id = $1 ORDER BY id`, card.Membership.ID); err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	return &card, nil
}
