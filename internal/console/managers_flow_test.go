package console_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Managers and accounts, in the browser: the owner adds an account based
// on a verified one, invites a manager to two accounts with one email,
// edits the manager's role and access, and resends the invitation.
func TestBrowserManagersAndAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Team")
	b.startWorker(t) // after the fixture, which runs its import itself
	b.call(t, "POST", fmt.Sprintf("/v1/accounts/%d/kyb", d.account), b.staff, map[string]any{"status": "verified"}, 200)
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(b.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#signin-token`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-token`), d.tokens["owner"]),
		chromedp.Submit(chromedp.CSS(`#signin-token`)),
		chromedp.WaitVisible(chromedp.CSS(`#contractors`)),
		chromedp.Click(chromedp.CSS(`button[name=lang][value=en]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name=lang][value=ru]`)),
		chromedp.Click(chromedp.CSS(`.sections a[href$="/accounts"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#account-name`)),
		chromedp.SendKeys(chromedp.CSS(`#account-name`), "Team Self-employed"),
		chromedp.SetValue(chromedp.CSS(`#account-based`), fmt.Sprint(d.account)))
	shot(t, ctx, "accounts")
	do(t, ctx, chromedp.Click(chromedp.CSS(`form[action$="/accounts"] button[type=submit]`)))
	waitFor(t, ctx, `location.search.includes("account_created")`)
	if got := textOf(t, ctx, `#accounts tbody`); !strings.Contains(got, "Team Self-employed") || !strings.Contains(got, "based on another account") {
		t.Errorf("accounts: %q", got)
	}

	// Invite a manager to two accounts at once: the new one (selected now) and another.
	do(t, ctx, chromedp.Click(chromedp.CSS(`.sections a[href$="/managers"]`)), chromedp.WaitVisible(chromedp.CSS(`#manager-email`)),
		chromedp.SendKeys(chromedp.CSS(`#manager-email`), "olga@team.test"),
		chromedp.SendKeys(chromedp.CSS(`#manager-name`), "Olga"),
		chromedp.SetValue(chromedp.CSS(`#manager-role`), "admin"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[name=account][value="%d"]`, d.other))),
		chromedp.Click(chromedp.CSS(`form[action$="/managers"] input[name=english]`)))
	shot(t, ctx, "managers-invite")
	do(t, ctx, chromedp.Click(chromedp.CSS(`form[action$="/managers"] button[type=submit]`)))
	waitFor(t, ctx, `location.search.includes("manager_invited")`)
	m := b.waitMailTo(t, "olga@team.test")
	if !strings.Contains(m.Text, "Team Self-employed") || !strings.Contains(m.Text, "Team Projects") {
		t.Errorf("one email should list both accounts: %q", m.Text)
	}
	row := `#managers tbody tr:last-child`
	if got := textOf(t, ctx, row); !strings.Contains(got, "olga@team.test") || !strings.Contains(got, "Invited") || !strings.Contains(got, "Admin") {
		t.Errorf("the new manager's row: %q", got)
	}
	shot(t, ctx, "managers")

	// Edit: viewer, one account.
	do(t, ctx, chromedp.Click(chromedp.CSS(row+` a[href*="/managers/"]`)), chromedp.WaitVisible(chromedp.CSS(`#edit-role`)),
		chromedp.SetValue(chromedp.CSS(`#edit-role`), "viewer"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[name=account][value="%d"]`, d.other))))
	shot(t, ctx, "manager-edit")
	do(t, ctx, chromedp.Click(chromedp.CSS(`form[action*="/managers/"] button[type=submit]`)))
	waitFor(t, ctx, `location.search.includes("manager_saved")`)
	if got := textOf(t, ctx, row); !strings.Contains(got, "Viewer") || strings.Contains(got, "Team Projects") {
		t.Errorf("after the edit: %q", got)
	}
	// Resending at once is refused as too soon.
	do(t, ctx, chromedp.Click(chromedp.CSS(row+` form[action$="/resend"] button`)))
	waitFor(t, ctx, `document.title.includes("Error")`)
}
