package actions_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/muster"
)

var (
	staff  = muster.Actor{Kind: muster.TokenStaff, Name: "staff"}
	client = muster.Actor{Kind: muster.TokenClient, Name: "client"}
	owner  = muster.Actor{Kind: muster.TokenManager, Role: muster.RoleOwner, Name: "owner"}
)

// Staff-only actions refuse everyone else before they look at the input;
// staff get the input checked.
func TestStaffOnlyActions(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	do := map[string]func(by muster.Actor) error{
		"create a client": func(by muster.Actor) error {
			_, _, err := b.act.CreateClient(ctx, by, actions.NewClient{Name: "Beta", OwnerEmail: "owner-" + by.Name + "@beta.test"})
			return err
		},
		"create a client, bad email": func(by muster.Actor) error {
			_, _, err := b.act.CreateClient(ctx, by, actions.NewClient{Name: "Beta", OwnerEmail: "nobody"})
			return err
		},
		"decide KYB": func(by muster.Actor) error {
			_, err := b.act.DecideKYB(ctx, by, b.account.ID, muster.KYBRejected)
			return err
		},
		"decide KYB, unknown decision": func(by muster.Actor) error {
			_, err := b.act.DecideKYB(ctx, by, b.account.ID, "approved")
			return err
		},
		"read suppressions": func(by muster.Actor) error {
			_, err := b.act.Suppressions(ctx, by, "")
			return err
		},
		"read suppressions, bad email": func(by muster.Actor) error {
			_, err := b.act.Suppressions(ctx, by, "nobody")
			return err
		},
		"clear a suppression": func(by muster.Actor) error {
			return b.act.ClearSuppression(ctx, by, "Nobody@Example.test")
		},
	}
	for _, tc := range []struct {
		action string
		staff  string // the code staff hear ("" for success); others hear staff_only
	}{
		{"create a client", ""},
		{"create a client, bad email", "invalid_email"},
		{"decide KYB", ""},
		{"decide KYB, unknown decision", "invalid_kyb_status"},
		{"read suppressions", ""},
		{"read suppressions, bad email", "invalid_email"},
		{"clear a suppression", "suppression_not_found"},
	} {
		for _, by := range []muster.Actor{client, owner} {
			if err := do[tc.action](by); muster.ErrorCode(err) != "staff_only" || muster.ErrorKind(err) != muster.KindForbidden {
				t.Errorf("%s by %s: %v, want staff_only", tc.action, by.Name, err)
			}
		}
		if err := do[tc.action](staff); code(err) != tc.staff {
			t.Errorf("%s by staff: %v, want %q", tc.action, err, tc.staff)
		}
	}
}

// Card and task edits are checked the same way for the API and the
// console, and a task's history names who changed it.
func TestCardAndTaskRules(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	res := b.invite(t, "anna@example.test")
	cid, acc := res.Contractor.ID, b.account.ID
	task, err := b.act.CreateTask(ctx, owner, acc, cid, "  Landing page ", "Figma → HTML")
	if err != nil || task.Title != "Landing page" {
		t.Fatalf("create a task: %+v %v", task, err)
	}
	started := muster.TaskInProgress
	moved, err := b.act.UpdateTask(ctx, client, acc, task.ID, muster.TaskUpdate{Status: &started})
	if err != nil || moved.Status != started || moved.History[len(moved.History)-1].Actor != client.Name {
		t.Fatalf("move the task: %+v %v", moved, err)
	}
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name string
		do   func() error
		code string
	}{
		{"card: nothing to change", func() error { return b.act.UpdateCard(ctx, acc, cid, muster.CardUpdate{}) }, "empty_update"},
		{"card: a NUL in notes", func() error { return b.act.UpdateCard(ctx, acc, cid, muster.CardUpdate{Notes: str("a\x00b")}) }, "invalid_notes"},
		{"card: a manager id that is not one", func() error {
			return b.act.UpdateCard(ctx, acc, cid, muster.CardUpdate{ManagerIDs: &[]int64{0}})
		}, "invalid_manager_ids"},
		{"card: notes", func() error { return b.act.UpdateCard(ctx, acc, cid, muster.CardUpdate{Notes: str("Go, SQL")}) }, ""},
		{"task: no title", func() error { _, err := b.act.CreateTask(ctx, owner, acc, cid, "", ""); return err }, "invalid_title"},
		{"task: a blank title", func() error { _, err := b.act.CreateTask(ctx, owner, acc, cid, " \t", ""); return err }, "invalid_title"},
		{"task: nothing to change", func() error { _, err := b.act.UpdateTask(ctx, owner, acc, task.ID, muster.TaskUpdate{}); return err }, "empty_update"},
		{"task: an unknown status", func() error {
			_, err := b.act.UpdateTask(ctx, owner, acc, task.ID, muster.TaskUpdate{Status: str("finished")})
			return err
		}, "invalid_status"},
		{"account: no name", func() error { _, err := b.act.CreateAccount(ctx, owner, b.account.ClientID, " ", nil); return err }, "invalid_name"},
		{"account", func() error {
			_, err := b.act.CreateAccount(ctx, owner, b.account.ClientID, "Acme Two", nil)
			return err
		}, ""},
	} {
		if err := tc.do(); code(err) != tc.code {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.code)
		}
	}
}

// invite invites email to the bundle's account.
func (b *bundle) invite(t *testing.T, email string) *muster.Invited {
	t.Helper()
	in, err := muster.NewInvite(b.account.ID, email, "", "", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.act.Invite(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// code is err's code, "" for none.
func code(err error) string {
	if err == nil {
		return ""
	}
	return muster.ErrorCode(err)
}

type counted map[string]int

func (c counted) Email(kind, locale, outcome string) { c[kind+" "+locale+" "+outcome]++ }

// A report of the mail provider counts its email's outcome once, however
// often it arrives; a stopped membership gets no reminders.
func TestMailEventCountsOnceAndUnsubscribe(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	res := b.invite(t, "gone@example.test")
	msgID := "invitation-" + strconv.FormatInt(res.Invitation.ID, 10) + "@muster.test"
	if _, err := b.db.Exec(`UPDATE invitations SET status = 'sent', sent_at = now(), message_id = $2 WHERE id = $1`, res.Invitation.ID, msgID); err != nil {
		t.Fatal(err)
	}
	c := counted{}
	act := actions.New(b.db, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), actions.Options{Emails: c})
	ev, err := muster.NewMailEvent(msgID, muster.MailBounced, muster.BounceHard, time.Now().UTC().Format(time.RFC3339), "550 5.1.1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := act.MailEvent(ctx, ev)
		if err != nil || got.Duplicate != (i == 1) || !got.Suppressed {
			t.Fatalf("report %d: %+v %v", i+1, got, err)
		}
	}
	if want := (counted{"invite ru bounced": 1}); len(c) != 1 || c["invite ru bounced"] != 1 {
		t.Errorf("counted %v, want %v", c, want)
	}
	if list, err := act.Suppressions(ctx, staff, "GONE@example.test"); err != nil || len(list) != 1 {
		t.Errorf("the suppression list: %v %v", list, err)
	}
	if err := act.Unsubscribe(ctx, res.Membership.ID); err != nil {
		t.Fatal(err)
	}
	if err := act.Unsubscribe(ctx, res.Membership.ID+1000); muster.ErrorCode(err) != "membership_not_found" {
		t.Errorf("an unknown membership: %v", err)
	}
}
