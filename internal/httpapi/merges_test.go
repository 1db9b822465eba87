package httpapi_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/mail"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/muster-dev/muster/internal/locale"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/smtptest"
	"github.com/muster-dev/muster/jobs"
	mmail "github.com/muster-dev/muster/mail"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func (b *testBundle) merger() *jobs.Merger {
	return &jobs.Merger{Store: b.db, Queue: b.queue, Log: quiet}
}

// merge asks for a merge through the API and runs its job.
func (b *testBundle) merge(t *testing.T, body map[string]any) (*muster.Merge, error) {
	t.Helper()
	res := expect(t, b.do(t, "POST", "/v1/merges", b.staff, body), 202)
	id := num(res.body["id"])
	err := b.merger().Process(context.Background(), jobs.MergeArgs{MergeID: id})
	m, ferr := b.db.FindMerge(context.Background(), id)
	if ferr != nil {
		t.Fatal(ferr)
	}
	return m, err
}

// accountsOf lists the accounts of some dashboards now.
func (b *testBundle) accountsOf(t *testing.T, clients ...int64) []int64 {
	t.Helper()
	var ids []int64
	if err := b.db.Select(&ids, `SELECT id FROM accounts WHERE client_id = ANY($1) ORDER BY id`, pq.Array(clients)); err != nil {
		t.Fatal(err)
	}
	return ids
}

// snapshot is everything about the contractors of some accounts that a
// merge must not change: memberships, invitation history, tasks, assigned
// managers, and the contractors' profiles.
func (b *testBundle) snapshot(t *testing.T, accounts []int64) string {
	t.Helper()
	var s string
	err := b.db.Get(&s, `
		SELECT json_build_object(
		  'memberships', (SELECT json_agg(m ORDER BY m.id) FROM (SELECT id, account_id, contractor_id, feature, notes, locale, status,
		       send_status, invited_at, linked_at, excluded_at FROM memberships WHERE account_id = ANY($1)) m),
		  'invitations', (SELECT json_agg(i ORDER BY i.id) FROM (SELECT i.id, i.membership_id, i.kind, i.locale, i.status, i.attempts,
		       i.queued_at, i.sent_at FROM invitations i JOIN memberships m ON m.id = i.membership_id WHERE m.account_id = ANY($1)) i),
		  'tasks', (SELECT json_agg(x ORDER BY x.id) FROM (SELECT id, account_id, membership_id, title, status FROM tasks WHERE account_id = ANY($1)) x),
		  'assigned', (SELECT json_agg(x ORDER BY x.membership_id, x.manager_id) FROM membership_managers x
		       JOIN memberships m ON m.id = x.membership_id WHERE m.account_id = ANY($1)),
		  'contractors', (SELECT json_agg(c ORDER BY c.id) FROM contractors c)
		)::text`, pq.Array(accounts))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mergeWorld is three dashboards, "Company 1" the target: account names
// that clash, a manager of B named like one of A with another role, and a
// manager of B still invited.
func mergeWorld(t *testing.T, b *testBundle) (a, bb, c *dashboard) {
	t.Helper()
	a, bb, c = b.dashboard(t, "Company 1"), b.dashboard(t, "Company 2"), b.dashboard(t, "Company 3")
	expect(t, b.do(t, "POST", path("/v1/clients/{id}/accounts", bb.clientID), bb.tokens["client"], map[string]any{"name": "company 1 projects"}), 201)
	if _, err := b.db.Exec(`UPDATE managers SET full_name = 'Иван Петров' WHERE id = ANY($1)`, pq.Array([]int64{a.managers["viewer"], bb.managers["admin"]})); err != nil {
		t.Fatal(err)
	}
	return a, bb, c
}

func TestMergeDryRunShowsExactlyWhatApplyDoes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, bb, c := mergeWorld(t, b)
	moving := b.accountsOf(t, bb.clientID, c.clientID)
	before := b.snapshot(t, moving)

	dry, err := b.merge(t, map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{bb.clientID, c.clientID}, "dry_run": true})
	if err != nil || dry.Status != muster.MergeDone || dry.Plan == nil {
		t.Fatalf("dry run: %v %+v", err, dry)
	}
	if got := b.snapshot(t, moving); got != before {
		t.Fatal("a dry run changed contractors")
	}
	var merged *int64
	b.db.Get(&merged, `SELECT merged_into_id FROM clients WHERE id = $1`, bb.clientID)
	if merged != nil {
		t.Fatal("a dry run merged a dashboard")
	}
	kinds := map[string]int{}
	for _, c := range dry.Plan.Conflicts {
		kinds[c.Kind]++
		if c.Resolution == "" {
			t.Errorf("conflict without a resolution: %+v", c)
		}
	}
	if kinds["account_name_taken"] != 1 || kinds["same_name_manager"] != 1 || kinds["pending_manager_invitation"] != 2 {
		t.Errorf("conflicts %v, want one name clash, one same-named manager, two pending invitations: %+v", kinds, dry.Plan.Conflicts)
	}

	// Apply by the owners' emails, as the request comes in.
	applied, err := b.merge(t, map[string]any{"target_owner_email": "owner@company1.test", "source_owner_emails": []string{"owner@company2.test", "owner@company3.test"}})
	if err != nil || applied.Status != muster.MergeDone {
		t.Fatalf("apply: %v %+v", err, applied)
	}
	if !reflect.DeepEqual(dry.Plan, applied.Plan) {
		t.Fatalf("the dry run's plan differs from what apply did:\n%+v\n%+v", dry.Plan, applied.Plan)
	}
	if after := b.snapshot(t, moving); after != before {
		t.Fatalf("contractors, invitations or tasks changed:\n%s\n%s", before, after)
	}
	var moved []string
	b.db.Select(&moved, `SELECT name FROM accounts WHERE client_id = $1 ORDER BY id`, a.clientID)
	if len(moved) != 7 || !slices.Contains(moved, "company 1 projects (Company 2)") {
		t.Errorf("accounts of the target after the merge: %v", moved)
	}

	// The sources' logins are out; the moved managers keep their access; A's owner sees everything.
	for _, tok := range []string{bb.tokens["client"], bb.tokens["owner"], c.tokens["client"], c.tokens["owner"]} {
		if res := b.do(t, "GET", path("/v1/accounts/{id}", bb.account), tok, nil); res.status != 401 {
			t.Errorf("a source's token after the merge: %d %v", res.status, res.body)
		}
	}
	if res := b.do(t, "GET", path("/v1/accounts/{id}/contractors", bb.account), bb.tokens["manager"], nil); res.status != 200 {
		t.Errorf("a moved manager lost the account: %d %v", res.status, res.body)
	}
	if res := b.do(t, "GET", path("/v1/accounts/{id}/contractors", c.account), bb.tokens["manager"], nil); res.status != 404 {
		t.Errorf("a moved manager gained another account: %d %v", res.status, res.body)
	}
	for _, acc := range []int64{bb.account, bb.other, c.account, c.other} {
		if res := b.do(t, "GET", path("/v1/accounts/{id}", acc), a.tokens["owner"], nil); res.status != 200 {
			t.Errorf("the target's owner cannot see moved account %d: %d", acc, res.status)
		}
	}
	// Afterwards A's managers can be given any merged account.
	res := b.do(t, "PATCH", path("/v1/managers/{id}", a.managers["viewer"]), a.tokens["owner"], map[string]any{"account_ids": []int64{a.account, bb.account}})
	if res.status != 200 {
		t.Fatalf("give a merged account: %d %v", res.status, res.body)
	}
	if res := b.do(t, "GET", path("/v1/accounts/{id}/contractors", bb.account), a.tokens["viewer"], nil); res.status != 200 {
		t.Errorf("A's viewer on the merged account: %d", res.status)
	}

	// Running the same merge again is a no-op that says so.
	res = b.do(t, "POST", "/v1/merges", b.staff, map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{c.clientID, bb.clientID}})
	if res.status != 200 || res.body["noop"] != true || num(obj(res.body["merge"])["id"]) != applied.ID {
		t.Fatalf("the same merge again: %d %v", res.status, res.body)
	}
	// The audit trail keeps both, newest first, with who asked.
	res = expect(t, b.do(t, "GET", "/v1/merges", b.staff, nil), 200)
	items := res.body["items"].([]any)
	if len(items) < 2 || num(obj(items[0])["id"]) != applied.ID || num(obj(items[1])["id"]) != dry.ID || obj(items[0])["requested_by"] != "test" {
		t.Errorf("audit trail: %v", items)
	}
}

func TestMergeNoticesReachEveryoneAffected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, bb, c := mergeWorld(t, b)
	if _, err := b.db.Exec(`UPDATE managers SET locale = 'en' WHERE id = $1`, bb.managers["manager"]); err != nil {
		t.Fatal(err)
	}
	m, err := b.merge(t, map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{bb.clientID, c.clientID}})
	if err != nil {
		t.Fatal(err)
	}
	smtp := smtptest.Start(t)
	bundle, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	render, _ := mmail.NewRenderer(bundle)
	sender, err := mmail.NewSMTP(smtp.URL(), mmail.SMTPOptions{From: &mail.Address{Address: "no-reply@muster.test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	send := &jobs.Sender{Store: b.db, Mail: sender, Render: render, Signer: b.signer, AppURL: "https://app.test",
		Domain: "muster.test", Attempts: 3, Log: quiet, Now: time.Now}
	var notices []int64
	b.db.Select(&notices, `SELECT id FROM invitations WHERE merge_id = $1 ORDER BY id`, m.ID)
	if len(notices) != m.Plan.Notices {
		t.Fatalf("%d notices queued, the plan said %d", len(notices), m.Plan.Notices)
	}
	for _, id := range notices {
		if err := send.Process(context.Background(), jobs.SendArgs{InvitationID: id}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]*smtptest.Message{}
	for _, msg := range smtp.Wait(t, len(notices), 10*time.Second) {
		got[msg.To[0]] = msg
	}
	// One target owner, two source owners, the active moved managers of B and C.
	if len(got) != 1+2+2*4 {
		t.Errorf("%d people told, want 11: %v", len(got), keys(got))
	}
	if o := got["owner@company1.test"]; o == nil || !strings.Contains(o.Subject, "Кабинеты объединены") ||
		!strings.Contains(o.Text, "Company 2, Company 3") || !strings.Contains(o.Text, "company 1 projects (Company 2)") ||
		!strings.Contains(o.Text, "Перенесено 5 аккаунтов:") {
		t.Errorf("the target's owner: %+v", o)
	}
	if o := got["owner@company2.test"]; o == nil || !strings.Contains(o.Text, "больше не открывает") ||
		strings.Contains(o.Text, "Company 3 Projects") || !strings.Contains(o.Text, "Перенесено 3 аккаунта:") {
		t.Errorf("a source's owner: %+v", o)
	}
	if o := got["manager@company2.test"]; o == nil || o.Subject != "Your accounts now live in the Company 1 dashboard" ||
		!strings.Contains(o.Text, "1 account moved:") || !strings.Contains(o.HTML, "Company 2</li>") {
		t.Errorf("a moved manager, in English: %+v", o)
	}
	if got["target@company2.test"] != nil {
		t.Error("a manager who never accepted was told about the merge")
	}
}

func keys(m map[string]*smtptest.Message) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestMergeBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, bb, c := b.dashboard(t, "A"), b.dashboard(t, "B"), b.dashboard(t, "C")
	d := b.dashboard(t, "D")
	if _, err := b.merge(t, map[string]any{"target_client_id": d.clientID, "source_client_ids": []int64{c.clientID}}); err != nil {
		t.Fatal(err)
	}
	open := expect(t, b.do(t, "POST", "/v1/merges", b.staff, map[string]any{"target_client_id": bb.clientID, "source_client_ids": []int64{a.clientID}}), 202)
	all := b.accountsOf(t, a.clientID, bb.clientID, c.clientID, d.clientID)
	before := b.snapshot(t, all)
	var merges int
	b.db.Get(&merges, `SELECT count(*) FROM merges`)
	tests := []struct {
		name   string
		token  string
		body   map[string]any
		status int
		code   string
	}{
		{"into itself", b.staff, map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{a.clientID}}, 400, "merge_into_itself"},
		{"no sources", b.staff, map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{}}, 400, "no_sources"},
		{"no target", b.staff, map[string]any{"source_client_ids": []int64{a.clientID}}, 400, "no_target"},
		{"unknown source", b.staff, map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{987654}}, 404, "client_not_found"},
		{"unknown owner email", b.staff, map[string]any{"target_client_id": a.clientID, "source_owner_emails": []string{"nobody@x.test"}}, 404, "client_not_found"},
		{"source already merged", b.staff, map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{c.clientID}}, 409, "source_merged"},
		{"target merged away", b.staff, map[string]any{"target_client_id": c.clientID, "source_client_ids": []int64{a.clientID}}, 409, "target_merged"},
		{"source is the target of a running merge", b.staff, map[string]any{"target_client_id": d.clientID, "source_client_ids": []int64{bb.clientID}}, 409, "merge_in_progress"},
		{"a client token", a.tokens["client"], map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{d.clientID}}, 403, "staff_only"},
		{"an owner token", a.tokens["owner"], map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{d.clientID}}, 403, "staff_only"},
	}
	for _, tt := range tests {
		res := b.do(t, "POST", "/v1/merges", tt.token, tt.body)
		if res.status != tt.status || res.code() != tt.code {
			t.Errorf("%s: %d %v, want %d %s", tt.name, res.status, res.body, tt.status, tt.code)
		}
	}
	if after := b.snapshot(t, all); after != before {
		t.Fatal("bad merge requests changed something")
	}
	var n int
	b.db.Get(&n, `SELECT count(*) FROM merges`)
	if n != merges {
		t.Fatalf("%d merges recorded by bad requests", n-merges)
	}
	_ = open // keeps B the target of an unfinished merge
}

var errKilled = errors.New("worker killed")

func TestMergeKilledHalfWayLeavesTheOldStateAndFinishesOnRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, bb, _ := mergeWorld(t, b)
	accountsBefore := b.accountsOf(t, bb.clientID)
	before := b.snapshot(t, accountsBefore)
	res := expect(t, b.do(t, "POST", "/v1/merges", b.staff, map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{bb.clientID}}), 202)
	id := num(res.body["id"])

	for _, killAt := range []string{"accounts", "managers", "dashboards", "notices"} {
		_, _, err := b.db.RunMerge(context.Background(), id, func(step string, pct int) error {
			if err := b.db.MergeProgress(context.Background(), id, step, pct); err != nil {
				return err
			}
			if step == killAt {
				return errKilled // after the steps before it ran in the transaction
			}
			return nil
		})
		if !errors.Is(err, errKilled) {
			t.Fatalf("kill at %s: %v", killAt, err)
		}
		accountsNow := b.accountsOf(t, bb.clientID)
		var notices, revoked int
		b.db.Get(&notices, `SELECT count(*) FROM invitations WHERE merge_id = $1`, id)
		b.db.Get(&revoked, `SELECT count(*) FROM managers WHERE client_id = $1 AND status = 'revoked'`, bb.clientID)
		if !reflect.DeepEqual(accountsNow, accountsBefore) || notices != 0 || revoked != 0 || b.snapshot(t, accountsBefore) != before {
			t.Fatalf("killed at %s: a mix of old and new state (accounts %v, notices %d, revoked %d)", killAt, accountsNow, notices, revoked)
		}
		if res := b.do(t, "GET", path("/v1/accounts/{id}", bb.account), bb.tokens["client"], nil); res.status != 200 {
			t.Fatalf("killed at %s: the source lost access before the merge: %d", killAt, res.status)
		}
		m := expect(t, b.do(t, "GET", "/v1/merges/"+strconv.FormatInt(id, 10), b.staff, nil), 200)
		if m.body["status"] != "running" || m.body["step"] != killAt {
			t.Errorf("killed at %s, the merge shows %v at %v", killAt, m.body["status"], m.body["step"])
		}
	}
	if err := b.merger().Process(context.Background(), jobs.MergeArgs{MergeID: id}); err != nil {
		t.Fatal(err)
	}
	m, _ := b.db.FindMerge(context.Background(), id)
	var left int
	b.db.Get(&left, `SELECT count(*) FROM accounts WHERE client_id = $1`, bb.clientID)
	if m.Status != muster.MergeDone || m.Progress != 100 || left != 0 {
		t.Fatalf("the retry did not finish: %+v, %d accounts left", m, left)
	}
	// A third delivery of the task does nothing.
	if err := b.merger().Process(context.Background(), jobs.MergeArgs{MergeID: id}); err != nil {
		t.Fatal(err)
	}
	var notices int
	b.db.Get(&notices, `SELECT count(*) FROM invitations WHERE merge_id = $1`, id)
	if notices != m.Plan.Notices {
		t.Fatalf("%d notices after a repeated delivery, want %d", notices, m.Plan.Notices)
	}
}

func TestTwoMergesRacingOnOneDashboard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, bb, c := b.dashboard(t, "A"), b.dashboard(t, "B"), b.dashboard(t, "C")
	// Both ask for B, into different targets; both pass the checks at request time.
	ids := []int64{
		num(expect(t, b.do(t, "POST", "/v1/merges", b.staff, map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{bb.clientID}}), 202).body["id"]),
		num(expect(t, b.do(t, "POST", "/v1/merges", b.staff, map[string]any{"target_client_id": c.clientID, "source_client_ids": []int64{bb.clientID}}), 202).body["id"]),
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { _ = b.merger().Process(context.Background(), jobs.MergeArgs{MergeID: id}) })
	}
	wg.Wait()
	var statuses []string
	for _, id := range ids {
		m, _ := b.db.FindMerge(context.Background(), id)
		statuses = append(statuses, m.Status)
		if m.Status == muster.MergeFailed && !strings.Contains(m.Error, "already merged") {
			t.Errorf("the loser's reason: %q", m.Error)
		}
	}
	if !(statuses[0] == "done" && statuses[1] == "failed" || statuses[0] == "failed" && statuses[1] == "done") {
		t.Fatalf("statuses %v, want exactly one done", statuses)
	}
	var targets []int64
	b.db.Select(&targets, `SELECT DISTINCT client_id FROM accounts WHERE id = ANY($1)`, pq.Array([]int64{bb.account, bb.other}))
	if len(targets) != 1 || (targets[0] != a.clientID && targets[0] != c.clientID) {
		t.Fatalf("B's accounts ended up in %v", targets)
	}
}

func TestMergeWaitsForAnEarlierMergeIntoItsSource(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, bb, c := b.dashboard(t, "A"), b.dashboard(t, "B"), b.dashboard(t, "C")
	first := num(expect(t, b.do(t, "POST", "/v1/merges", b.staff, map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{bb.clientID}}), 202).body["id"])
	second := num(expect(t, b.do(t, "POST", "/v1/merges", b.staff, map[string]any{"target_client_id": bb.clientID, "source_client_ids": []int64{c.clientID}}), 202).body["id"])
	// A dry run of the first shows what it waits for.
	res := expect(t, b.do(t, "POST", "/v1/merges", b.staff, map[string]any{"target_client_id": a.clientID, "source_client_ids": []int64{bb.clientID}, "dry_run": true}), 202)
	if err := b.merger().Process(context.Background(), jobs.MergeArgs{MergeID: num(res.body["id"])}); err != nil {
		t.Fatal(err)
	}
	dry, _ := b.db.FindMerge(context.Background(), num(res.body["id"]))
	if !slices.ContainsFunc(dry.Plan.Conflicts, func(c muster.MergeConflict) bool { return c.Kind == "source_is_merge_target" }) {
		t.Errorf("dry run conflicts: %+v", dry.Plan.Conflicts)
	}
	// The first waits (and will be retried) while the second is open.
	if err := b.merger().Process(context.Background(), jobs.MergeArgs{MergeID: first}); err == nil || !strings.Contains(err.Error(), "merge_in_progress") {
		t.Fatalf("first merge while the second is open: %v", err)
	}
	if m, _ := b.db.FindMerge(context.Background(), first); m.Status != muster.MergeRunning || m.Step != "waiting" {
		t.Fatalf("first merge: %s at %s, want running, waiting", m.Status, m.Step)
	}
	for _, id := range []int64{second, first} {
		if err := b.merger().Process(context.Background(), jobs.MergeArgs{MergeID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// C went into B, then B (with C's accounts) into A.
	var left int
	b.db.Get(&left, `SELECT count(*) FROM accounts WHERE client_id <> $1 AND id = ANY($2)`, a.clientID, pq.Array([]int64{bb.account, c.account}))
	if left != 0 {
		t.Fatalf("%d accounts of B and C are not in A", left)
	}
}
