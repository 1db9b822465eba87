package httpapi_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/jobs"
)

// actors are the callers every endpoint is tried with: the token kinds and
// each manager role of a dashboard, a manager of that dashboard who was not
// given the account under test, and no token at all.
var actors = []string{"staff", "client", "owner", "admin", "manager", "viewer", "noaccess", "anon"}

// dashboard is a client built through the API: two accounts, a contractor,
// an accepted manager of every role with a token, and one invited manager
// to edit.
type dashboard struct {
	clientID   int64
	account    int64  // given to admin, manager and viewer
	other      int64  // given only to noaccess
	contractor int64  // a contractor in account
	email      string // the contractor's email
	spare      int64  // another contractor in account, for exclusion
	task       int64  // a task of contractor
	sibling    int64  // another dashboard, for dry-run merges into this one
	merge      int64  // a dry-run merge of sibling into this dashboard
	imported   int64  // a finished import into account, with a failed row
	target     int64  // an invited viewer of account, not accepted yet
	spareToken int64  // the id of a second client token
	managers   map[string]int64
	tokens     map[string]string // by actor; "anon" is no token
}

func (b *testBundle) dashboard(t *testing.T, name string) *dashboard {
	t.Helper()
	ctx := context.Background()
	slug := strings.ToLower(strings.ReplaceAll(name, " ", ""))
	res := expect(t, b.do(t, "POST", "/v1/clients", b.staff, map[string]any{"name": name, "owner_email": "owner@" + slug + ".test"}), 201)
	d := &dashboard{
		clientID: num(obj(res.body["client"])["id"]),
		account:  num(obj(res.body["account"])["id"]),
		managers: map[string]int64{},
		tokens:   map[string]string{"staff": b.staff, "anon": ""},
	}
	var err error
	if d.tokens["client"], err = b.db.CreateToken(ctx, muster.TokenClient, d.clientID, 0, name); err != nil {
		t.Fatal(err)
	}
	if _, err = b.db.CreateToken(ctx, muster.TokenClient, d.clientID, 0, "spare"); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Get(&d.spareToken, `SELECT max(id) FROM api_tokens WHERE client_id = $1 AND name = 'spare'`, d.clientID); err != nil {
		t.Fatal(err)
	}
	var owner int64
	if err := b.db.Get(&owner, `SELECT id FROM managers WHERE client_id = $1 AND role = 'owner'`, d.clientID); err != nil {
		t.Fatal(err)
	}
	d.managers["owner"] = owner
	if d.tokens["owner"], err = b.db.CreateToken(ctx, muster.TokenManager, 0, owner, "owner"); err != nil {
		t.Fatal(err)
	}
	res = expect(t, b.do(t, "POST", path("/v1/clients/{id}/accounts", d.clientID), d.tokens["client"], map[string]any{"name": name + " Projects"}), 201)
	d.other = num(res.body["id"])
	for _, m := range []struct {
		who, role string
		account   int64
	}{{"admin", "admin", d.account}, {"manager", "manager", d.account}, {"viewer", "viewer", d.account}, {"noaccess", "manager", d.other}} {
		d.managers[m.who], d.tokens[m.who] = b.manager(t, d, m.who+"@"+slug+".test", m.role, m.account)
	}
	res = expect(t, b.do(t, "POST", path("/v1/clients/{id}/managers", d.clientID), d.tokens["client"],
		map[string]any{"email": "target@" + slug + ".test", "role": "viewer", "account_ids": []int64{d.account}}), 202)
	d.target = num(obj(res.body["manager"])["id"])
	res = expect(t, b.do(t, "POST", path("/v1/accounts/{id}/invitations", d.account), d.tokens["client"], map[string]any{"email": "anna@" + slug + ".test"}), 202)
	d.contractor, d.email = num(obj(res.body["contractor"])["id"]), "anna@"+slug+".test"
	res = expect(t, b.do(t, "POST", path("/v1/accounts/{id}/invitations", d.account), d.tokens["client"], map[string]any{"email": "spare@" + slug + ".test"}), 202)
	d.spare = num(obj(res.body["contractor"])["id"])
	res = expect(t, b.do(t, "POST", path("/v1/accounts/{id}/tasks", d.account), d.tokens["client"], map[string]any{"contractor_id": d.contractor, "title": "First task"}), 201)
	d.task = num(res.body["id"])
	res = expect(t, b.do(t, "POST", "/v1/clients", b.staff, map[string]any{"name": name + " Sibling", "owner_email": "owner@sibling-" + slug + ".test"}), 201)
	d.sibling = num(obj(res.body["client"])["id"])
	res = expect(t, b.do(t, "POST", "/v1/merges", b.staff, map[string]any{"target_client_id": d.clientID, "source_client_ids": []int64{d.sibling}, "dry_run": true}), 202)
	d.merge = num(res.body["id"])
	res = expect(t, b.uploadFile(t, d.account, d.tokens["client"], "team.csv", []byte("email;name\nimported@"+slug+".test;Ivan\nnot-an-email;Bad\n")), 202)
	d.imported = num(res.body["id"])
	b.runImport(t, d.imported, nil)
	return d
}

// manager invites a manager through the API and accepts with a link
// signed as the worker signs it; it returns the manager's id and token.
func (b *testBundle) manager(t *testing.T, d *dashboard, email, role string, accounts ...int64) (int64, string) {
	t.Helper()
	res := expect(t, b.do(t, "POST", path("/v1/clients/{id}/managers", d.clientID), d.tokens["client"],
		map[string]any{"email": email, "role": role, "account_ids": accounts}), 202)
	res = expect(t, b.do(t, "POST", "/v1/manager-invitations/accept", "", map[string]any{"token": b.acceptToken(num(obj(res.body["invitation"])["id"]))}), 200)
	return num(obj(res.body["manager"])["id"]), res.body["token"].(string)
}

// acceptToken signs an acceptance token for a manager invitation.
func (b *testBundle) acceptToken(invitationID int64) string {
	return b.signer.Sign(jobs.ManagerPurpose, strconv.FormatInt(invitationID, 10), time.Hour)
}

// expect stops the test unless the response has the status.
func expect(t *testing.T, res response, status int) response {
	t.Helper()
	if res.status != status {
		t.Fatalf("status %d, want %d: %v", res.status, status, res.body)
	}
	return res
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// nums reads a JSON array of numbers.
func nums(v any) []int64 {
	out := []int64{}
	for _, x := range v.([]any) {
		out = append(out, num(x))
	}
	return out
}
