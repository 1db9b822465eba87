package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/muster"
)

// The bulk claim checks the suppression list too: an import's email to a
// suppressed address is cancelled, the others are handed out.
func TestBulkClaimSkipsSuppressed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, acc := setup(t)
	var importID int64
	if err := db.GetContext(ctx, &importID, `INSERT INTO imports (account_id, file_name, format, size, sha256)
		VALUES ($1, 'team.csv', 'csv', 1, 'x') RETURNING id`, acc.ID); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, email := range []string{"gone@example.test", "fine@example.test"} {
		res, err := invite(t, db, acc.ID, email)
		if err != nil {
			t.Fatal(err)
		}
		ids[email] = res.Invitation.ID
		if _, err := db.ExecContext(ctx, `UPDATE invitations SET import_id = $2, import_batch = 1 WHERE id = $1`, res.Invitation.ID, importID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO suppressions (email, reason) VALUES ('gone@example.test', 'bounced')`); err != nil {
		t.Fatal(err)
	}
	got, cancelled, err := db.ClaimBulk(ctx, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Email != "fine@example.test" {
		t.Fatalf("claimed %+v", got)
	}
	if len(cancelled) != 1 || cancelled[0].Kind != muster.InviteSignup {
		t.Errorf("cancelled, as the email metrics count them: %+v", cancelled)
	}
	gone, err := db.FindInvitation(ctx, ids["gone@example.test"])
	if err != nil || gone.Status != muster.SendCancelled {
		t.Errorf("the suppressed address's email: %+v %v", gone, err)
	}
}

// A single claim reads each email's data in its own statement, the
// suppression list with it: a contractor's and a manager's email to a
// suppressed address are cancelled, and another is handed out whole.
func TestClaimSkipsSuppressed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, acc := setup(t)
	gone, err := invite(t, db, acc.ID, "Gone@Example.test")
	if err != nil {
		t.Fatal(err)
	}
	fine, err := invite(t, db, acc.ID, "fine@example.test")
	if err != nil {
		t.Fatal(err)
	}
	in, err := muster.NewManagerInvite(acc.ClientID, "boss@example.test", "Boss", muster.RoleAdmin, []int64{acc.ID}, "en")
	if err != nil {
		t.Fatal(err)
	}
	_, boss, err := db.InviteManager(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO suppressions (email, reason) VALUES ('gone@example.test', 'bounced'), ('boss@example.test', 'complained')`); err != nil {
		t.Fatal(err)
	}
	ids := []int64{gone.Invitation.ID, fine.Invitation.ID, boss.ID}
	got, why, err := db.ClaimInvitations(ctx, ids, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d := got[fine.Invitation.ID]
	if len(got) != 1 || d == nil || d.Email != "fine@example.test" || d.AccountName != "Acme" || d.ClientName != "Acme" {
		t.Fatalf("claimed %+v", got)
	}
	for _, id := range []int64{gone.Invitation.ID, boss.ID} {
		var c *muster.Cancelled
		if !errors.As(why[id], &c) {
			t.Errorf("invitation %d: %v, want it cancelled", id, why[id])
		}
		inv, err := db.FindInvitation(ctx, id)
		if err != nil || inv.Status != muster.SendCancelled || !strings.Contains(inv.LastError, "suppression list") {
			t.Errorf("invitation %d: %+v %v", id, inv, err)
		}
	}
}
