package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/muster"
)

// Client B once typed "Call +1 555 0100 to verify" as a contractor's name,
// and client A's email to that contractor went To: that text and greeted
// it. Each client's text stays in its own membership; the contractor's own
// registered name is what every account shows afterwards.
func TestTenantTextStaysInItsTenant(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	_, accB, err := b.db.CreateClient(ctx, muster.ClientDraft{Name: "Spam Co", OwnerEmail: "owner@spam.test", OwnerLocale: muster.English, AccountName: "Spam"})
	if err != nil {
		t.Fatal(err)
	}
	const lure = "Call +1 555 0100 to verify"
	invite := func(acc int64, name, feature string) *muster.Invited {
		in, err := muster.NewInvite(acc, "victim@example.test", name, feature, nil, "en")
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.db.Invite(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	fromB := invite(accB.ID, lure, "wire money to B")
	fromA := invite(b.account.ID, "Victor", "Figma")
	if fromA.Contractor.FullName != "Victor" || fromB.Contractor.FullName != lure {
		t.Errorf("invite answers show %q to A and %q to B", fromA.Contractor.FullName, fromB.Contractor.FullName)
	}
	b.startWorker(t)
	if err := b.queue.Send(ctx, fromA.Invitation.ID); err != nil {
		t.Fatal(err)
	}
	m := b.smtp.Wait(t, 1, 10*time.Second)[0]
	for where, text := range map[string]string{"To header": m.Header.Get("To"), "text part": m.Text, "html part": m.HTML} {
		if strings.Contains(text, "555") || strings.Contains(text, "wire money") {
			t.Errorf("A's email carries B's text in its %s: %q", where, text)
		}
	}
	if !strings.Contains(m.Header.Get("To"), "Victor") || !strings.Contains(m.Text, "Victor") {
		t.Errorf("A's email does not greet A's name: To %q\n%s", m.Header.Get("To"), m.Text)
	}
	cardA, err := b.db.ContractorCard(ctx, b.account.ID, fromA.Contractor.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cardA.Contractor.FullName != "Victor" || cardA.Membership.Feature != "Figma" {
		t.Errorf("A's card: %q, %q", cardA.Contractor.FullName, cardA.Membership.Feature)
	}
	rows, _, err := b.db.ListContractors(ctx, muster.ListQuery{AccountID: b.account.ID, Sort: "-invited_at", Limit: 10})
	if err != nil || len(rows) != 1 || rows[0].FullName != "Victor" {
		t.Errorf("A's list: %+v %v", rows, err)
	}

	// The contractor registers with their own name and phone: every account
	// shows those from now on, and the name no client typed is never lost.
	ev, err := muster.NewEvent("victim@example.test", muster.EventRegistered, time.Now().Format(time.RFC3339), "Виктор Real", "+79001234567", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.db.ApplyEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	for _, acc := range []int64{b.account.ID, accB.ID} {
		card, err := b.db.ContractorCard(ctx, acc, fromA.Contractor.ID)
		if err != nil {
			t.Fatal(err)
		}
		if card.Contractor.FullName != "Виктор Real" || card.Contractor.Phone != "+79001234567" {
			t.Errorf("account %d after registration: %q %q", acc, card.Contractor.FullName, card.Contractor.Phone)
		}
	}
	// A third client linking the registered contractor sees their own
	// profile, not what A or B typed.
	_, accC, err := b.db.CreateClient(ctx, muster.ClientDraft{Name: "Third", OwnerEmail: "owner@third.test", OwnerLocale: muster.English, AccountName: "Third"})
	if err != nil {
		t.Fatal(err)
	}
	fromC := invite(accC.ID, "Typed by C", "")
	if !fromC.Linked || fromC.Contractor.FullName != "Виктор Real" {
		t.Errorf("C links and sees %q (linked %v)", fromC.Contractor.FullName, fromC.Linked)
	}
	var global string
	b.db.Get(&global, `SELECT full_name FROM contractors WHERE id = $1`, fromA.Contractor.ID)
	if global != "Виктор Real" {
		t.Errorf("global profile name %q", global)
	}
}
