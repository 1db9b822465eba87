package httpapi_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestRemoveManagerEndsTheirAccessAndKeepsTheProfile(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Removal")
	before := b.do(t, "GET", path("/v1/accounts/{id}/contractors", d.account), d.tokens["manager"], nil)
	expect(t, before, 200)

	res := expect(t, b.do(t, "DELETE", path("/v1/managers/{id}", d.managers["manager"]), d.tokens["admin"], nil), 200)
	if got := obj(res.body["manager"])["status"]; got != "revoked" {
		t.Errorf("removed manager status = %v, want revoked", got)
	}
	if res := b.do(t, "GET", path("/v1/accounts/{id}/contractors", d.account), d.tokens["manager"], nil); res.status != 401 {
		t.Errorf("removed manager's token: %d %s, want 401", res.status, res.code())
	}
	res = expect(t, b.do(t, "GET", path("/v1/managers/{id}", d.managers["manager"]), d.tokens["owner"], nil), 200)
	if res.body["status"] != "revoked" || len(nums(res.body["account_ids"])) != 1 {
		t.Errorf("the profile should stay, revoked, with its accounts: %v", res.body)
	}
	expect(t, b.do(t, "DELETE", path("/v1/managers/{id}", d.managers["manager"]), d.tokens["owner"], nil), 200) // twice is harmless

	if res := b.do(t, "DELETE", path("/v1/managers/{id}", d.managers["owner"]), d.tokens["client"], nil); res.status != 409 || res.code() != "owner_not_removable" {
		t.Errorf("removing the owner: %d %s, want 409 owner_not_removable", res.status, res.code())
	}
	// noaccess has an account the admin was not given.
	if res := b.do(t, "DELETE", path("/v1/managers/{id}", d.managers["noaccess"]), d.tokens["admin"], nil); res.status != 403 {
		t.Errorf("admin removing a manager with accounts it lacks: %d %s, want 403", res.status, res.code())
	}
}

func TestTokensListedAndRevokedWithinScope(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d, other := b.dashboard(t, "Tokens"), b.dashboard(t, "Others")
	ids := func(token string) map[int64]map[string]any {
		t.Helper()
		res := expect(t, b.do(t, "GET", "/v1/tokens", token, nil), 200)
		out := map[int64]map[string]any{}
		for _, v := range res.body["tokens"].([]any) {
			tok := obj(v)
			if _, leaked := tok["hash"]; leaked {
				t.Fatalf("a listed token shows its hash: %v", tok)
			}
			out[num(tok["id"])] = tok
		}
		return out
	}
	mine := ids(d.tokens["manager"])
	if len(mine) != 1 {
		t.Errorf("a manager lists %d tokens, want only their own: %v", len(mine), mine)
	}
	dash := ids(d.tokens["owner"])
	if _, ok := dash[d.spareToken]; !ok || len(dash) < 6 {
		t.Errorf("the owner should list every token of the dashboard, got %v", dash)
	}
	if _, ok := dash[other.spareToken]; ok {
		t.Error("the owner lists another dashboard's token")
	}
	all := ids(b.staff)
	if _, ok := all[other.spareToken]; !ok {
		t.Error("staff should list every token")
	}
	narrowed := expect(t, b.do(t, "GET", fmt.Sprintf("/v1/tokens?client_id=%d", other.clientID), b.staff, nil), 200)
	for _, v := range narrowed.body["tokens"].([]any) {
		if num(obj(v)["client_id"]) != other.clientID {
			t.Errorf("?client_id=%d lists %v", other.clientID, v)
		}
	}
	if res := expect(t, b.do(t, "GET", fmt.Sprintf("/v1/tokens?client_id=%d", other.clientID), d.tokens["owner"], nil), 200); len(res.body["tokens"].([]any)) != 0 {
		t.Errorf("an owner asking for another dashboard's tokens got %v", res.body)
	}
	var own int64
	for id := range mine {
		own = id
	}
	// A manager revokes their own token, and it stops working at once.
	if res := b.do(t, "DELETE", "/v1/tokens/"+strconv.FormatInt(d.spareToken, 10), d.tokens["manager"], nil); res.status != 404 {
		t.Errorf("a manager revoking the dashboard's token: %d, want 404", res.status)
	}
	res := expect(t, b.do(t, "DELETE", "/v1/tokens/"+strconv.FormatInt(own, 10), d.tokens["manager"], nil), 200)
	if obj(res.body["token"])["revoked_at"] == nil {
		t.Errorf("revoked token has no revoked_at: %v", res.body)
	}
	if res := b.do(t, "GET", "/v1/tokens", d.tokens["manager"], nil); res.status != 401 {
		t.Errorf("a revoked token: %d, want 401", res.status)
	}
	if res := b.do(t, "DELETE", "/v1/tokens/"+strconv.FormatInt(other.spareToken, 10), d.tokens["client"], nil); res.status != 404 {
		t.Errorf("revoking another dashboard's token: %d, want 404", res.status)
	}
}

func TestStaffSearchClients(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, name := range []string{"Alpha Beta", "Gamma", "Delta Alpha"} {
		b.dashboard(t, name)
	}
	names := func(query string) ([]string, string) {
		t.Helper()
		res := expect(t, b.do(t, "GET", "/v1/clients?"+query, b.staff, nil), 200)
		var out []string
		for _, c := range res.body["clients"].([]any) {
			out = append(out, obj(c)["name"].(string))
		}
		next, _ := res.body["next_cursor"].(string)
		return out, next
	}
	// Each fixture dashboard comes with a sibling named after it.
	if got, _ := names("q=ALPHA"); strings.Join(got, ",") != "Alpha Beta,Alpha Beta Sibling,Delta Alpha,Delta Alpha Sibling" {
		t.Errorf("q=ALPHA: %q, want the Alpha dashboards in id order", got)
	}
	if got, _ := names("q=owner@gamma.test"); len(got) != 1 || got[0] != "Gamma" {
		t.Errorf("by owner email: %q, want Gamma", got)
	}
	first, next := names("q=a&limit=2")
	if len(first) != 2 || next == "" {
		t.Fatalf("first page: %q, next %q", first, next)
	}
	rest, _ := names("q=a&limit=2&cursor=" + next)
	if len(rest) == 0 || rest[0] == first[0] || rest[0] == first[1] {
		t.Errorf("second page %q repeats the first %q", rest, first)
	}
	res := expect(t, b.do(t, "GET", "/v1/clients?q=gamma", b.staff, nil), 200)
	id := num(obj(res.body["clients"].([]any)[0])["id"])
	if got, _ := names("q=" + strconv.FormatInt(id, 10)); len(got) == 0 || got[0] != "Gamma" {
		t.Errorf("by id %d: %q", id, got)
	}
	if res := b.do(t, "GET", "/v1/clients?name=x", b.staff, nil); res.status != 400 || res.code() != "unknown_parameter" {
		t.Errorf("unknown parameter: %d %s", res.status, res.code())
	}
}
