package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/muster-dev/muster/internal/muster"
)

// ApplyEvent records an onboarding event and moves the contractor's stages.
// Replaying an event changes nothing (duplicate is true). Events may come
// in any order: each stage keeps its own timestamp, a registration keeps
// the earliest time, and a tax status or payment method change older than
// the one recorded is kept in the history but not applied.
//
// A registration is global: every account that invited the contractor
// links them at once, and their pending sign-up emails are cancelled.
func (db *DB) ApplyEvent(ctx context.Context, ev muster.Event) (c *muster.Contractor, duplicate bool, err error) {
	c = new(muster.Contractor)
	err = db.Transact(ctx, func(tx *sqlx.Tx) error {
		var id int64
		err := tx.GetContext(ctx, &id, `SELECT id FROM contractors WHERE email = $1 FOR UPDATE`, ev.Email)
		if errors.Is(err, sql.ErrNoRows) {
			return muster.NotFound("contractor_not_found", "no contractor has the email %s; invite them first", ev.Email)
		}
		if err != nil {
			return fmt.Errorf("find contractor: %w", err)
		}
		data, _ := json.Marshal(map[string]string{"full_name": ev.FullName, "phone": ev.Phone, "tax_status": ev.TaxStatus})
		res, err := tx.ExecContext(ctx, `
			INSERT INTO contractor_events (contractor_id, type, at, data) VALUES ($1, $2, $3, $4)
			ON CONFLICT (contractor_id, type, at) DO NOTHING`, id, ev.Type, ev.At, string(data))
		if err != nil {
			return fmt.Errorf("record event: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			duplicate = true
		} else if err := applyEvent(ctx, tx, id, ev); err != nil {
			return err
		}
		return tx.GetContext(ctx, c, `SELECT `+contractorColumns+` FROM contractors WHERE id = $1`, id)
	})
	if err != nil {
		return nil, false, err
	}
	return c, duplicate, nil
}

func applyEvent(ctx context.Context, tx *sqlx.Tx, id int64, ev muster.Event) error {
	var err error
	switch ev.Type {
	case muster.EventRegistered:
		_, err = tx.ExecContext(ctx, `
			UPDATE contractors
			   SET registered_at = LEAST(registered_at, $2),
			       full_name = COALESCE(NULLIF($3, ''), full_name),
			       phone = COALESCE(NULLIF($4, ''), phone)
			 WHERE id = $1`, id, ev.At, ev.FullName, ev.Phone)
		if err == nil {
			err = linkEverywhere(ctx, tx, id, ev)
		}
	case muster.EventPhoneVerified:
		_, err = tx.ExecContext(ctx, `UPDATE contractors SET phone_verified_at = LEAST(phone_verified_at, $2) WHERE id = $1`, id, ev.At)
	case muster.EventTaxStatusSet:
		_, err = tx.ExecContext(ctx, `
			UPDATE contractors SET tax_status = $3, tax_status_set_at = $2
			 WHERE id = $1 AND (tax_status_set_at IS NULL OR tax_status_set_at <= $2)`, id, ev.At, ev.TaxStatus)
	case muster.EventPaymentLinked, muster.EventPaymentUnlinked:
		_, err = tx.ExecContext(ctx, `
			UPDATE contractors
			   SET payment_method_linked_at = CASE WHEN $3 THEN $2 END, payment_method_changed_at = $2
			 WHERE id = $1 AND (payment_method_changed_at IS NULL OR payment_method_changed_at <= $2)`,
			id, ev.At, ev.Type == muster.EventPaymentLinked)
	}
	if err != nil {
		return fmt.Errorf("apply %s: %w", ev.Type, err)
	}
	return nil
}

// linkEverywhere makes every invited membership of the contractor active
// and cancels the sign-up emails, resends and reminders not sent yet.
func linkEverywhere(ctx context.Context, tx *sqlx.Tx, id int64, ev muster.Event) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE memberships SET status = 'active', linked_at = $2
		 WHERE contractor_id = $1 AND status = 'invited'`, id, ev.At)
	if err != nil {
		return fmt.Errorf("link memberships: %w", err)
	}
	_, err = tx.ExecContext(ctx, `
		UPDATE invitations i SET status = 'cancelled', last_error = 'the contractor registered', claimed_until = NULL
		  FROM memberships m
		 WHERE m.contractor_id = $1 AND i.membership_id = m.id
		   AND i.kind IN ('invite', 'resend', 'reminder') AND i.status IN ('queued', 'retrying')`, id)
	if err != nil {
		return fmt.Errorf("cancel sign-up emails: %w", err)
	}
	return nil
}
