package console_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Merges, in the browser: staff enter the dashboards by their owners'
// emails, read the dry-run plan with its conflict and resolution, confirm,
// watch the merge finish, and find both in the audit trail. The merged
// dashboard's owner is signed out for good.
func TestBrowserMerge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Alpha")
	b.startWorker(t) // after the fixture, which runs its import itself
	b.call(t, "POST", "/v1/clients", b.staff, map[string]any{"name": "Beta", "owner_email": "owner@beta.test", "account_name": "Alpha Main"}, 201)
	var betaOwner int64
	if err := b.db.Get(&betaOwner, `SELECT id FROM managers WHERE email = 'owner@beta.test'`); err != nil {
		t.Fatal(err)
	}
	betaToken, err := b.db.CreateToken(t.Context(), "manager", 0, betaOwner, "beta owner")
	if err != nil {
		t.Fatal(err)
	}
	beta := b.session(t, betaToken)

	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(b.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#signin-token`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-token`), b.staff),
		chromedp.Submit(chromedp.CSS(`#signin-token`)),
		chromedp.WaitVisible(chromedp.CSS(`#staff-account`)))
	shot(t, ctx, "staff")
	do(t, ctx, chromedp.Click(chromedp.CSS(`a[href="/merges"]`)), chromedp.WaitVisible(chromedp.CSS(`#merge-target`)),
		chromedp.SendKeys(chromedp.CSS(`#merge-target`), d.ownerEmail),
		chromedp.SendKeys(chromedp.CSS(`#merge-sources`), "owner@beta.test"))
	shot(t, ctx, "merges")
	do(t, ctx, chromedp.Click(chromedp.CSS(`form[action="/merges"] button[type=submit]`)))
	waitFor(t, ctx, `document.querySelector("#merge-status [data-status=done]") !== null`)
	if got := textOf(t, ctx, `#merge-conflicts`); !strings.Contains(got, "Название аккаунта занято") || !strings.Contains(got, "Alpha Main (Beta)") {
		t.Errorf("conflicts: %q", got)
	}
	if got := textOf(t, ctx, `#merge-managers`); !strings.Contains(got, "owner@beta.test") || !strings.Contains(got, "теряет доступ") {
		t.Errorf("managers: %q", got)
	}
	shot(t, ctx, "merge-plan")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#merge-status form button[type=submit]`)))
	waitFor(t, ctx, `document.querySelector("#merge-status form") === null && document.querySelector("#merge-status [data-status=done]") !== null`)
	shot(t, ctx, "merge-done")
	do(t, ctx, chromedp.Click(chromedp.CSS(`a[href="/merges"]`)), chromedp.WaitVisible(chromedp.CSS(`#merges`)))
	if got := textOf(t, ctx, `#merges tbody`); strings.Count(got, "Готово") < 2 {
		t.Errorf("the audit trail: %q", got)
	}
	res, err := beta.Get(b.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/signin") {
		t.Errorf("the merged dashboard's owner after the merge: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}
