package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	netmail "net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/locale"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/internal/smtptest"
	"github.com/muster-dev/muster/jobs"
	"github.com/muster-dev/muster/mail"
)

// mailer sends invitations as the worker does, to an SMTP server of the test.
func (b *testBundle) mailer(t *testing.T) (*jobs.Sender, *smtptest.Server) {
	t.Helper()
	srv := smtptest.Start(t)
	bundle, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	render, err := mail.NewRenderer(bundle)
	if err != nil {
		t.Fatal(err)
	}
	smtp, err := mail.NewSMTP(srv.URL(), mail.SMTPOptions{From: &netmail.Address{Address: "no-reply@muster.test"}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtp.Close() })
	return &jobs.Sender{
		Store: b.db, Mail: smtp, Render: render, Signer: b.signer, AppURL: "https://app.muster.test", Domain: "muster.test",
		Attempts: 3, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now,
	}, srv
}

var acceptLink = regexp.MustCompile(`https://app\.muster\.test/managers/accept\?token=(\S+)`)

func TestManagerInvitationIsOneEmailForEveryAccount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		locale, subject, access, role string
		inviter                       string // who invites: the client token, or the owner's manager token
		by                            string // how the email names the inviter
	}{
		{"", "Приглашение в личный кабинет «ООО Ромашка»", "вы получите доступ к 3 аккаунтам:", "администратор —",
			"client", "«ООО Ромашка» приглашает вас"},
		{"en", "Invitation to the ООО Ромашка dashboard", "you will have access to 3 accounts:", "admin —",
			"owner", "owner@romashka.test invites you to the ООО Ромашка dashboard"},
	}
	for _, tt := range tests {
		t.Run("locale="+tt.locale, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			sender, smtp := b.mailer(t)
			ctx := context.Background()
			res := expect(t, b.do(t, "POST", "/v1/clients", b.staff, map[string]any{
				"name": "ООО Ромашка", "owner_email": "owner@romashka.test", "account_name": "Ромашка Дизайн"}), 201)
			clientID, first := num(obj(res.body["client"])["id"]), num(obj(res.body["account"])["id"])
			tokens := map[string]string{}
			var err error
			if tokens["client"], err = b.db.CreateToken(ctx, muster.TokenClient, clientID, 0, ""); err != nil {
				t.Fatal(err)
			}
			var owner int64
			if err := b.db.Get(&owner, `SELECT id FROM managers WHERE client_id = $1`, clientID); err != nil {
				t.Fatal(err)
			}
			if tokens["owner"], err = b.db.CreateToken(ctx, muster.TokenManager, 0, owner, ""); err != nil {
				t.Fatal(err)
			}
			accounts := path("/v1/clients/{id}/accounts", clientID)
			second := num(expect(t, b.do(t, "POST", accounts, tokens["client"], map[string]any{"name": "Ромашка Маркетинг"}), 201).body["id"])
			third := num(expect(t, b.do(t, "POST", accounts, tokens["client"], map[string]any{"name": "Lab <R&D>"}), 201).body["id"])

			res = expect(t, b.do(t, "POST", path("/v1/clients/{id}/managers", clientID), tokens[tt.inviter], map[string]any{
				"email": " Olga@Example.TEST", "full_name": "Ольга", "role": "admin",
				"account_ids": []int64{third, first, second, first}, "locale": tt.locale}), 202)
			m, inv := obj(res.body["manager"]), obj(res.body["invitation"])
			if m["email"] != "olga@example.test" || m["status"] != "invited" || m["role"] != "admin" ||
				!slices.Equal(nums(m["account_ids"]), []int64{first, second, third}) {
				t.Fatalf("manager %v", m)
			}
			if inv["kind"] != "manager" || inv["status"] != "queued" || num(inv["manager_id"]) != num(m["id"]) {
				t.Fatalf("invitation %v", inv)
			}
			invID := num(inv["id"])
			if _, err := b.inspect.GetTaskInfo(jobs.QueueCritical, "send:"+strconv.FormatInt(invID, 10)); err != nil {
				t.Fatalf("send task not queued: %v", err)
			}
			// No token before the manager accepts.
			if _, err := b.db.CreateToken(ctx, muster.TokenManager, 0, num(m["id"]), ""); muster.ErrorCode(err) != "manager_not_active" {
				t.Fatalf("token for an invited manager: %v", err)
			}

			if err := sender.Process(ctx, jobs.SendArgs{InvitationID: invID}); err != nil {
				t.Fatal(err)
			}
			msgs := smtp.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d emails, want exactly one for three accounts", len(msgs))
			}
			got := msgs[0]
			if got.Subject != tt.subject || len(got.To) != 1 || got.To[0] != "olga@example.test" {
				t.Errorf("subject %q to %v", got.Subject, got.To)
			}
			for _, want := range []string{"Ромашка Дизайн", "Ромашка Маркетинг", "Lab <R&D>", tt.access, tt.role, tt.by, "Ольга"} {
				if !strings.Contains(got.Text, want) {
					t.Errorf("text part lacks %q:\n%s", want, got.Text)
				}
			}
			if !strings.Contains(got.HTML, "<li>Lab &lt;R&amp;D&gt;</li>") || !strings.Contains(got.HTML, "<li>Ромашка Маркетинг</li>") {
				t.Errorf("html part should list the accounts, escaped:\n%s", got.HTML)
			}
			link := acceptLink.FindStringSubmatch(got.Text)
			if link == nil {
				t.Fatalf("no acceptance link in:\n%s", got.Text)
			}
			token, err := url.QueryUnescape(link[1])
			if err != nil {
				t.Fatal(err)
			}

			res = expect(t, b.do(t, "POST", "/v1/manager-invitations/accept", "", map[string]any{"token": token}), 200)
			if mm := obj(res.body["manager"]); mm["status"] != "active" || mm["accepted_at"] == nil {
				t.Errorf("accepted manager %v", mm)
			}
			mtok, _ := res.body["token"].(string)
			listed := expect(t, b.do(t, "GET", accounts, mtok, nil), 200)
			if n := len(listed.body["accounts"].([]any)); n != 3 {
				t.Errorf("the manager sees %d accounts, want 3", n)
			}
			expect(t, b.do(t, "POST", path("/v1/accounts/{id}/invitations", third), mtok, map[string]any{"email": "c@example.test"}), 202)
			again := b.do(t, "POST", "/v1/manager-invitations/accept", "", map[string]any{"token": token})
			if again.status != 409 || again.code() != "invitation_used" {
				t.Errorf("link used twice: %d %v", again.status, again.body)
			}
		})
	}
}

func TestManagerEmailBelongsToOneDashboard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	alpha, beta := b.dashboard(t, "Alpha"), b.dashboard(t, "Beta")
	for i := range 5 {
		email := fmt.Sprintf("shared%d@example.test", i)
		var results [2]response
		var wg sync.WaitGroup
		for j, d := range []*dashboard{alpha, beta} {
			wg.Go(func() {
				results[j] = b.do(t, "POST", path("/v1/clients/{id}/managers", d.clientID), d.tokens["client"],
					map[string]any{"email": email, "role": "manager", "account_ids": []int64{d.account}})
			})
		}
		wg.Wait()
		won, refused := 0, 0
		for _, r := range results {
			switch {
			case r.status == 202:
				won++
			case r.status == 409 && r.code() == "manager_email_taken" && strings.Contains(r.message(), "another email"):
				refused++
			default:
				t.Errorf("%s: %d %v", email, r.status, r.body)
			}
		}
		var managers, invitations int
		b.db.Get(&managers, `SELECT count(*) FROM managers WHERE email = $1`, email)
		b.db.Get(&invitations, `SELECT count(*) FROM invitations i JOIN managers m ON m.id = i.manager_id WHERE m.email = $1`, email)
		if won != 1 || refused != 1 || managers != 1 || invitations != 1 {
			t.Errorf("%s: %d won, %d refused, %d managers, %d invitations; want exactly one of each", email, won, refused, managers, invitations)
		}
	}
	// The same dashboard again is another conflict, with the way forward.
	res := b.do(t, "POST", path("/v1/clients/{id}/managers", alpha.clientID), alpha.tokens["client"],
		map[string]any{"email": "admin@alpha.test", "role": "viewer", "account_ids": []int64{alpha.account}})
	if res.status != 409 || res.code() != "manager_exists" || !strings.Contains(res.message(), "PATCH /v1/managers/") {
		t.Errorf("a manager of this dashboard again: %d %v", res.status, res.body)
	}
	// Beta's owner is a manager profile too.
	res = b.do(t, "POST", path("/v1/clients/{id}/managers", alpha.clientID), alpha.tokens["client"],
		map[string]any{"email": "owner@beta.test", "role": "viewer", "account_ids": []int64{alpha.account}})
	if res.status != 409 || res.code() != "manager_email_taken" {
		t.Errorf("another dashboard's owner: %d %v", res.status, res.body)
	}
}

func TestManagerBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d, other := b.dashboard(t, "Acme"), b.dashboard(t, "Other")
	counts := func() [3]int {
		var c [3]int
		for i, table := range []string{"managers", "manager_accounts", "invitations"} {
			if err := b.db.Get(&c[i], `SELECT count(*) FROM `+table); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	before := counts()
	invite := path("/v1/clients/{id}/managers", d.clientID)
	body := func(change map[string]any) map[string]any {
		m := map[string]any{"email": "new@acme.test", "role": "manager", "account_ids": []int64{d.account}}
		for k, v := range change {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	edit := path("/v1/managers/{id}", d.target)
	tests := []struct {
		name, who, method, path string
		body                    any
		status                  int
		code, where             string
	}{
		{"unknown account", "client", "POST", invite, body(map[string]any{"account_ids": []int64{d.account, 999999}}), 400, "unknown_account", "999999"},
		{"another client's account", "client", "POST", invite, body(map[string]any{"account_ids": []int64{other.account}}), 400, "unknown_account", strconv.FormatInt(other.account, 10)},
		{"empty account_ids", "client", "POST", invite, body(map[string]any{"account_ids": []int64{}}), 400, "invalid_account_ids", "empty"},
		{"no account_ids", "client", "POST", invite, body(map[string]any{"account_ids": nil}), 400, "invalid_account_ids", "empty"},
		{"account id 0", "client", "POST", invite, body(map[string]any{"account_ids": []int64{0}}), 400, "invalid_account_ids", "0"},
		{"unknown role", "client", "POST", invite, body(map[string]any{"role": "boss"}), 400, "invalid_role", `"boss"`},
		{"second owner", "client", "POST", invite, body(map[string]any{"role": "owner"}), 400, "invalid_role", "owner"},
		{"no role", "client", "POST", invite, body(map[string]any{"role": nil}), 400, "invalid_role", "empty"},
		{"bad email", "client", "POST", invite, body(map[string]any{"email": "new@"}), 400, "invalid_email", `"new@"`},
		{"CR/LF in name", "client", "POST", invite, body(map[string]any{"full_name": "Ann\r\nBcc: x@y.test"}), 400, "invalid_full_name", "full_name"},
		{"unknown locale", "client", "POST", invite, body(map[string]any{"locale": "de"}), 400, "unsupported_locale", `"de"`},
		{"unknown field", "client", "POST", invite, body(map[string]any{"accounts": []int64{1}}), 400, "unknown_field", "accounts"},
		{"admin grants an account it was not given", "admin", "POST", invite, body(map[string]any{"account_ids": []int64{d.other}}), 400, "unknown_account", strconv.FormatInt(d.other, 10)},
		{"email of another dashboard", "client", "POST", invite, body(map[string]any{"email": "viewer@other.test"}), 409, "manager_email_taken", "another email"},
		{"email of a manager here", "client", "POST", invite, body(map[string]any{"email": "viewer@acme.test"}), 409, "manager_exists", "PATCH"},
		{"unknown client", "staff", "POST", "/v1/clients/999999/managers", body(nil), 404, "client_not_found", "999999"},
		{"empty edit", "client", "PATCH", edit, map[string]any{}, 400, "empty_edit", "role"},
		{"edit to no accounts", "client", "PATCH", edit, map[string]any{"account_ids": []int64{}}, 400, "invalid_account_ids", "empty"},
		{"edit to owner", "client", "PATCH", edit, map[string]any{"role": "owner"}, 400, "invalid_role", "owner"},
		{"edit to unknown role", "client", "PATCH", edit, map[string]any{"role": "root"}, 400, "invalid_role", "root"},
		{"edit to another client's account", "client", "PATCH", edit, map[string]any{"account_ids": []int64{other.account}}, 400, "unknown_account", ""},
		{"admin edits to an account it was not given", "admin", "PATCH", edit, map[string]any{"account_ids": []int64{d.other}}, 400, "unknown_account", ""},
		{"admin edits the owner", "admin", "PATCH", path("/v1/managers/{id}", d.managers["owner"]), map[string]any{"role": "viewer"}, 403, "forbidden", "owner"},
		{"client edits the owner", "client", "PATCH", path("/v1/managers/{id}", d.managers["owner"]), map[string]any{"role": "viewer"}, 409, "owner_not_editable", "owner"},
		{"unknown manager", "client", "PATCH", "/v1/managers/999999", map[string]any{"role": "viewer"}, 404, "manager_not_found", "999999"},
		{"another client's manager", "client", "PATCH", path("/v1/managers/{id}", other.target), map[string]any{"role": "admin"}, 404, "manager_not_found", ""},
		{"resend to an accepted manager", "client", "POST", path("/v1/managers/{id}/resend", d.managers["viewer"]), nil, 409, "manager_not_invited", "active"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := b.do(t, tt.method, tt.path, d.tokens[tt.who], tt.body)
			if res.status != tt.status || res.code() != tt.code || !strings.Contains(res.message(), tt.where) {
				t.Errorf("%d %q %q; want %d %q mentioning %q", res.status, res.code(), res.message(), tt.status, tt.code, tt.where)
			}
		})
	}
	if after := counts(); after != before {
		t.Errorf("rows changed by bad input: %v → %v", before, after)
	}
	target := expect(t, b.do(t, "GET", edit, d.tokens["client"], nil), 200)
	if target.body["role"] != "viewer" || !slices.Equal(nums(target.body["account_ids"]), []int64{d.account}) {
		t.Errorf("the edited manager changed: %v", target.body)
	}
}

func TestAccessEditsTakeEffectOnTheNextRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Acme")
	id, tok := b.manager(t, d, "pat@acme.test", "manager", d.account, d.other)
	edit := path("/v1/managers/{id}", id)
	account, other := path("/v1/accounts/{id}", d.account), path("/v1/accounts/{id}", d.other)
	invite := func(acc int64, n int) response {
		return b.do(t, "POST", path("/v1/accounts/{id}/invitations", acc), tok, map[string]any{"email": fmt.Sprintf("c%d@example.test", n)})
	}
	expect(t, b.do(t, "GET", account, tok, nil), 200)
	expect(t, invite(d.account, 1), 202)

	res := expect(t, b.do(t, "PATCH", edit, d.tokens["client"], map[string]any{"account_ids": []int64{d.other}}), 200)
	if !slices.Equal(nums(res.body["account_ids"]), []int64{d.other}) || res.body["role"] != "manager" {
		t.Fatalf("after removing an account: %v", res.body)
	}
	if res := b.do(t, "GET", account, tok, nil); res.status != 404 || res.code() != "account_not_found" {
		t.Errorf("a removed account is still visible: %d %v", res.status, res.body)
	}
	expect(t, invite(d.account, 2), 404)
	expect(t, b.do(t, "GET", other, tok, nil), 200)
	if list := expect(t, b.do(t, "GET", path("/v1/clients/{id}/accounts", d.clientID), tok, nil), 200); len(list.body["accounts"].([]any)) != 1 {
		t.Errorf("listed accounts after the edit: %v", list.body)
	}

	expect(t, b.do(t, "PATCH", edit, d.tokens["owner"], map[string]any{"role": "viewer"}), 200)
	if res := invite(d.other, 3); res.status != 403 || res.code() != "forbidden" {
		t.Errorf("a viewer invited: %d %v", res.status, res.body)
	}
	expect(t, b.do(t, "PATCH", edit, d.tokens["owner"], map[string]any{"role": "manager", "account_ids": []int64{d.account, d.other}}), 200)
	expect(t, invite(d.account, 4), 202)
}

func TestLimitedManagersSeeAndGrantOnlyTheirAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Acme")
	listAccounts := func(who string) []int64 {
		res := expect(t, b.do(t, "GET", path("/v1/clients/{id}/accounts", d.clientID), d.tokens[who], nil), 200)
		var ids []int64
		for _, a := range res.body["accounts"].([]any) {
			ids = append(ids, num(obj(a)["id"]))
		}
		return ids
	}
	for who, want := range map[string][]int64{
		"client": {d.account, d.other}, "owner": {d.account, d.other}, "admin": {d.account}, "viewer": {d.account}, "noaccess": {d.other},
	} {
		if got := listAccounts(who); !slices.Equal(got, want) {
			t.Errorf("%s lists accounts %v, want %v", who, got, want)
		}
	}

	// An admin given one account edits a colleague's access to it, and
	// leaves the colleague's other accounts, which it cannot see, alone.
	id, _ := b.manager(t, d, "pat@acme.test", "viewer", d.account, d.other)
	pat := path("/v1/managers/{id}", id)
	res := expect(t, b.do(t, "PATCH", pat, d.tokens["admin"], map[string]any{"account_ids": []int64{d.account}}), 200)
	if !slices.Equal(nums(res.body["account_ids"]), []int64{d.account}) {
		t.Errorf("the admin's view after its edit: %v", res.body)
	}
	res = expect(t, b.do(t, "GET", pat, d.tokens["client"], nil), 200)
	if !slices.Equal(nums(res.body["account_ids"]), []int64{d.account, d.other}) {
		t.Errorf("the admin removed an account it cannot see: %v", res.body)
	}
	// The role holds in the account the admin cannot see too: not its call.
	if res := b.do(t, "PATCH", pat, d.tokens["admin"], map[string]any{"role": "admin"}); res.status != 403 || res.code() != "forbidden" {
		t.Errorf("the admin changed a role beyond its accounts: %d %v", res.status, res.body)
	}
	expect(t, b.do(t, "PATCH", pat, d.tokens["owner"], map[string]any{"role": "manager"}), 200)
	expect(t, b.do(t, "PATCH", path("/v1/managers/{id}", d.managers["viewer"]), d.tokens["admin"], map[string]any{"role": "manager"}), 200)
	list := expect(t, b.do(t, "GET", path("/v1/clients/{id}/managers", d.clientID), d.tokens["admin"], nil), 200)
	for _, m := range list.body["managers"].([]any) {
		for _, acc := range nums(obj(m)["account_ids"]) {
			if acc != d.account {
				t.Errorf("the admin learns of account %d through manager %v", acc, m)
			}
		}
	}

	// An account an admin creates is given to it at once.
	res = expect(t, b.do(t, "POST", path("/v1/clients/{id}/accounts", d.clientID), d.tokens["admin"], map[string]any{"name": "Admin's"}), 201)
	expect(t, b.do(t, "GET", path("/v1/accounts/{id}", num(res.body["id"])), d.tokens["admin"], nil), 200)
	expect(t, b.do(t, "GET", path("/v1/accounts/{id}", num(res.body["id"])), d.tokens["viewer"], nil), 404)
}

func TestAcceptanceTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Acme")
	res := expect(t, b.do(t, "POST", path("/v1/clients/{id}/managers", d.clientID), d.tokens["client"],
		map[string]any{"email": "new@acme.test", "role": "viewer", "account_ids": []int64{d.account}}), 202)
	managerID, invID := num(obj(res.body["manager"])["id"]), num(obj(res.body["invitation"])["id"])
	id := strconv.FormatInt(invID, 10)
	var contractorInv int64
	if err := b.db.Get(&contractorInv, `SELECT min(id) FROM invitations WHERE membership_id IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	valid := b.acceptToken(invID)
	payload, sig, _ := strings.Cut(valid, ".")
	otherPayload, _, _ := strings.Cut(b.acceptToken(invID+1), ".")
	accept := func(token string) response {
		return b.do(t, "POST", "/v1/manager-invitations/accept", "", map[string]any{"token": token})
	}
	tests := []struct {
		name, token, code string
	}{
		{"expired", b.signer.Sign(jobs.ManagerPurpose, id, -time.Minute), "invitation_expired"},
		{"signed with another key", signed.New("another-key-another-key-another-key").Sign(jobs.ManagerPurpose, id, time.Hour), "invalid_invitation_token"},
		{"a sign-up token", b.signer.Sign(jobs.SignupPurpose, id, time.Hour), "invalid_invitation_token"},
		{"payload swapped", otherPayload + "." + sig, "invalid_invitation_token"},
		{"signature cut", payload + "." + sig[:len(sig)-2], "invalid_invitation_token"},
		{"a contractor's invitation", b.acceptToken(contractorInv), "invalid_invitation_token"},
		{"no such invitation", b.acceptToken(999999), "invalid_invitation_token"},
		{"not an id", b.signer.Sign(jobs.ManagerPurpose, "x", time.Hour), "invalid_invitation_token"},
		{"garbage", "abc", "invalid_invitation_token"},
		{"empty", "", "invalid_invitation_token"},
	}
	for _, tt := range tests {
		if res := accept(tt.token); res.status != 400 || res.code() != tt.code {
			t.Errorf("%s: %d %v, want 400 %s", tt.name, res.status, res.body, tt.code)
		}
	}
	var tokens int
	b.db.Get(&tokens, `SELECT count(*) FROM api_tokens WHERE manager_id = $1`, managerID)
	if m := expect(t, b.do(t, "GET", path("/v1/managers/{id}", managerID), d.tokens["client"], nil), 200); m.body["status"] != "invited" || tokens != 0 {
		t.Fatalf("a refused token changed the manager: %v, %d tokens", m.body, tokens)
	}

	// Two uses at once: exactly one wins.
	var results [2]response
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = accept(valid) })
	}
	wg.Wait()
	codes := []string{strconv.Itoa(results[0].status) + results[0].code(), strconv.Itoa(results[1].status) + results[1].code()}
	slices.Sort(codes)
	if !slices.Equal(codes, []string{"200", "409invitation_used"}) {
		t.Fatalf("two acceptances at once: %v", codes)
	}
	if res := accept(valid); res.status != 409 || res.code() != "invitation_used" {
		t.Errorf("reused: %d %v", res.status, res.body)
	}
	b.db.Get(&tokens, `SELECT count(*) FROM api_tokens WHERE manager_id = $1`, managerID)
	if tokens != 1 {
		t.Errorf("%d tokens for the manager, want 1", tokens)
	}

	// An expired link is replaced by sending the invitation again.
	res = expect(t, b.do(t, "POST", path("/v1/clients/{id}/managers", d.clientID), d.tokens["admin"],
		map[string]any{"email": "late@acme.test", "role": "viewer", "account_ids": []int64{d.account}}), 202)
	late := num(obj(res.body["manager"])["id"])
	// Past the resend interval (the first email was queued 11 minutes ago).
	if _, err := b.db.Exec(`UPDATE invitations SET queued_at = now() - interval '11 minutes' WHERE manager_id = $1`, late); err != nil {
		t.Fatal(err)
	}
	res = expect(t, b.do(t, "POST", path("/v1/managers/{id}/resend", late), d.tokens["admin"], nil), 202)
	if inv := obj(res.body["invitation"]); inv["kind"] != "manager" || num(inv["manager_id"]) != late {
		t.Fatalf("resent invitation %v", inv)
	}
	expect(t, accept(b.acceptToken(num(obj(res.body["invitation"])["id"]))), 200)
}

func TestKYBDecisionsAndReuse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Acme")
	otherAcc, _ := b.client(t, "Other", "owner@other.test")
	kyb := func(acc int64, who, status string) response {
		return b.do(t, "POST", path("/v1/accounts/{id}/kyb", acc), d.tokens[who], map[string]any{"status": status})
	}
	accounts := path("/v1/clients/{id}/accounts", d.clientID)
	basedOn := func(who string, base int64) response {
		return b.do(t, "POST", accounts, d.tokens[who], map[string]any{"name": "Based", "based_on_account_id": base})
	}
	check := func(name string, res response, status int, code string) {
		t.Helper()
		if res.status != status || res.code() != code {
			t.Errorf("%s: %d %v, want %d %q", name, res.status, res.body, status, code)
		}
	}
	check("based on a pending account", basedOn("client", d.account), 400, "base_account_not_verified")
	check("a client decides KYB", kyb(d.account, "client", "verified"), 403, "staff_only")
	check("an unknown decision", kyb(d.account, "staff", "approved"), 400, "invalid_kyb_status")
	res := kyb(d.account, "staff", "rejected")
	check("rejected", res, 200, "")
	if res.body["kyb_status"] != "rejected" || res.body["kyb_decided_at"] == nil {
		t.Errorf("rejected account: %v", res.body)
	}
	check("based on a rejected account", basedOn("client", d.account), 400, "base_account_not_verified")
	check("verified after a rejection", kyb(d.account, "staff", "verified"), 200, "")
	check("verified again", kyb(d.account, "staff", "verified"), 200, "")
	res = basedOn("client", d.account)
	check("based on a verified account", res, 201, "")
	if res.body["kyb_status"] != "verified" || num(res.body["based_on_account_id"]) != d.account || res.body["kyb_decided_at"] == nil {
		t.Errorf("the reused verification is not recorded: %v", res.body)
	}
	check("revoking a verification", kyb(num(res.body["id"]), "staff", "rejected"), 409, "kyb_final")

	check("another client's verified account", kyb(otherAcc, "staff", "verified"), 200, "")
	check("based on another client's account", basedOn("client", otherAcc), 400, "invalid_based_on_account_id")
	check("verify the other account", kyb(d.other, "staff", "verified"), 200, "")
	check("an admin bases on an account it was not given", basedOn("admin", d.other), 400, "invalid_based_on_account_id")
	res = basedOn("admin", d.account)
	check("an admin bases on its account", res, 201, "")
	expect(t, b.do(t, "GET", path("/v1/accounts/{id}", num(res.body["id"])), d.tokens["admin"], nil), 200)
}

func TestContractorInvitedToTwoAccountsIsLinkedInEach(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Acme")
	third := num(expect(t, b.do(t, "POST", path("/v1/clients/{id}/accounts", d.clientID), d.tokens["client"], map[string]any{"name": "Third"}), 201).body["id"])
	invite := func(acc int64) response {
		return expect(t, b.do(t, "POST", path("/v1/accounts/{id}/invitations", acc), d.tokens["owner"], map[string]any{"email": "Ivan@Example.test"}), 202)
	}
	first := invite(d.account)
	if first.body["linked"] != false || obj(first.body["invitation"])["kind"] != "invite" {
		t.Fatalf("first account: %v", first.body)
	}
	cid := num(obj(first.body["contractor"])["id"])
	if _, err := b.db.Exec(`UPDATE contractors SET registered_at = now() WHERE id = $1`, cid); err != nil {
		t.Fatal(err)
	}
	for _, acc := range []int64{d.other, third} {
		res := invite(acc)
		m := obj(res.body["membership"])
		if res.body["linked"] != true || m["status"] != "active" || num(m["account_id"]) != acc ||
			obj(res.body["invitation"])["kind"] != "added" || num(obj(res.body["contractor"])["id"]) != cid {
			t.Errorf("account %d: %v", acc, res.body)
		}
	}
	// One invitation per account; each card shows only its own.
	card := expect(t, b.do(t, "GET", path("/v1/accounts/{id}/contractors/", d.other)+strconv.FormatInt(cid, 10), d.tokens["client"], nil), 200)
	if inv := card.body["invitations"].([]any); len(inv) != 1 || obj(inv[0])["kind"] != "added" {
		t.Errorf("card in the second account: %v", card.body)
	}
	var invitations int
	b.db.Get(&invitations, `SELECT count(*) FROM invitations i JOIN memberships m ON m.id = i.membership_id WHERE m.contractor_id = $1`, cid)
	if invitations != 3 {
		t.Errorf("%d invitations, want one per account", invitations)
	}
}
