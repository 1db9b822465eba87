package console_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The help-center's first page, in the browser: a client's owner signs in
// with an emailed link, switches account, invites a contractor in English
// and sees the row with its sending status, picks columns, hits the resend
// throttle, excludes a contractor, and signs out.
func TestBrowserContractors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Romashka")
	// A registered contractor without a verified phone: the red icon.
	b.call(t, "POST", "/v1/contractor-events", b.staff, map[string]any{
		"email": "anna@romashka.test", "type": "registered", "at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "full_name": "Анна Петрова"}, 200)
	b.startWorker(t) // after the fixture, which runs its import itself, and the event
	ctx := browser(t)

	// Sign in by emailed link (Russian by default).
	do(t, ctx, chromedp.Navigate(b.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#signin-email`)))
	shot(t, ctx, "signin")
	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS(`#signin-email`), d.ownerEmail),
		chromedp.Submit(chromedp.CSS(`#signin-email`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
	mailed := linkIn(t, b.waitMailTo(t, d.ownerEmail).Text).String()
	do(t, ctx, chromedp.Navigate(mailed), chromedp.WaitVisible(chromedp.CSS(`form[action="/signin/link"] button`)))
	shot(t, ctx, "signin-link")
	do(t, ctx, chromedp.Click(chromedp.CSS(`form[action="/signin/link"] button`)), chromedp.WaitVisible(chromedp.CSS(`#contractors`)))
	url := get(t, ctx, chromedp.Location())
	if !strings.HasSuffix(url, fmt.Sprintf("/accounts/%d/contractors", d.account)) {
		t.Fatalf("after sign-in at %s", url)
	}
	// The red icon, with its reason on hover.
	reason := get(t, ctx, chromedp.AttributeValue(chromedp.CSS(fmt.Sprintf(`tr[data-contractor="%d"] .red-icon`, d.contractor)), "title")).Value
	if !strings.Contains(reason, "телефон не подтверждён") {
		t.Errorf("red icon reason %q", reason)
	}
	shot(t, ctx, "contractors")
	// Switch account in the sidebar: the page follows the selection.
	do(t, ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`.switcher a[href="/accounts/%d/contractors"]`, d.other))),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.switcher a[href="/accounts/%d/contractors"][aria-current=page]`, d.other))))
	if got := textOf(t, ctx, `#contractors tbody`); !strings.Contains(got, "Исполнителей не найдено") {
		t.Errorf("the other account shows %q", got)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`.switcher a[href="/accounts/%d/contractors"]`, d.account))),
		chromedp.WaitVisible(chromedp.CSS(`#contractors`)))

	// English by choice.
	do(t, ctx, chromedp.Click(chromedp.CSS(`button[name=lang][value=en]`)), chromedp.WaitVisible(chromedp.CSS(`button[name=lang][value=ru]`)))

	// Invite in English, assigning a user.
	do(t, ctx, chromedp.Click(chromedp.CSS(`a[href$="/invite"][role=button]`)), chromedp.WaitVisible(chromedp.CSS(`#invite-email`)))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#invite-email`), "anna@romashka.test"), chromedp.Click(chromedp.CSS(`form[action$="/invite"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#invite-email-error`)))
	shot(t, ctx, "invite-error")
	do(t, ctx, chromedp.Clear(chromedp.CSS(`#invite-email`)),
		chromedp.SendKeys(chromedp.CSS(`#invite-email`), "john@example.test"),
		chromedp.SendKeys(chromedp.CSS(`#invite-name`), "John Smith"),
		chromedp.SendKeys(chromedp.CSS(`#invite-feature`), "Go, <b>PostgreSQL</b>"),
		chromedp.Click(chromedp.CSS(`input[name=manager]`)),
		chromedp.Click(chromedp.CSS(`input[name=english]`)))
	shot(t, ctx, "invite")
	do(t, ctx, chromedp.Click(chromedp.CSS(`form[action$="/invite"] button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#contractors`)))
	if got := textOf(t, ctx, `p[role=status]`); !strings.Contains(got, "queued for sending") {
		t.Errorf("after invite the notice says %q", got)
	}
	row := `#contractors tbody tr:first-child`
	if got := textOf(t, ctx, row); !strings.Contains(got, "John Smith") {
		t.Fatalf("the new row is %q", got)
	}
	status := textOf(t, ctx, row+` td[data-col=send_status]`)
	if status != "Queued" && status != "Sending" && status != "Sent" {
		t.Errorf("sending status %q", status)
	}
	// The worker sends it, in English, and the row says Sent.
	if m := b.waitMailTo(t, "john@example.test"); !strings.Contains(m.Subject, "invites you") {
		t.Errorf("the invitation's subject %q is not English", m.Subject)
	}
	for i := 0; status != "Sent"; i++ { // the row is marked sent just after the SMTP server took it
		if i == 100 {
			t.Fatalf("sending status stays %q", status)
		}
		do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#contractors`)))
		status = textOf(t, ctx, row+` td[data-col=send_status]`)
	}

	// Resend right away: the throttle says when it is allowed.
	do(t, ctx, chromedp.Click(chromedp.CSS(row+` details.actions summary`)),
		chromedp.Click(chromedp.CSS(row+` form[action$="/resend"] button`)))
	waitFor(t, ctx, `location.search.includes("notice=throttled")`)
	if got := textOf(t, ctx, `p[role=status]`); !strings.Contains(got, "Too soon: a resend is allowed at") || !strings.Contains(got, "UTC") {
		t.Errorf("after resend the notice says %q", got)
	}
	shot(t, ctx, "resend-throttled")

	// Columns: add Phone; the choice is remembered.
	do(t, ctx, chromedp.Click(chromedp.CSS(`details.columns summary`)),
		chromedp.Click(chromedp.CSS(`input[name=col][value=phone]`)))
	shot(t, ctx, "columns")
	do(t, ctx, chromedp.Click(chromedp.CSS(`details.columns button[type=submit]`)))
	waitFor(t, ctx, `location.search.includes("notice=columns")`)
	do(t, ctx,
		chromedp.Navigate(fmt.Sprintf("%s/accounts/%d/contractors", b.srv.URL, d.account)), chromedp.WaitVisible(chromedp.CSS(`#contractors`)))
	if got := textOf(t, ctx, `#contractors thead`); !strings.Contains(got, "Phone") {
		t.Errorf("the remembered columns are %q", got)
	}

	// Exclude, with confirmation.
	spare := fmt.Sprintf(`tr[data-contractor="%d"]`, d.spare)
	do(t, ctx, chromedp.Click(chromedp.CSS(spare+` details.actions summary`)),
		chromedp.Click(chromedp.CSS(spare+` a[href$="/exclude"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/exclude"] button`)))
	shot(t, ctx, "exclude")
	do(t, ctx, chromedp.Click(chromedp.CSS(`form[action$="/exclude"] button`)), chromedp.WaitVisible(chromedp.CSS(`#contractors`)))
	left := get(t, ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('%s').length`, spare)))
	if left != 0 {
		t.Error("the excluded contractor is still listed")
	}

	// Sign out: the page asks to sign in again.
	do(t, ctx, chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)), chromedp.WaitVisible(chromedp.CSS(`#signin-email`)),
		chromedp.Navigate(fmt.Sprintf("%s/accounts/%d/contractors", b.srv.URL, d.account)), chromedp.WaitVisible(chromedp.CSS(`#signin-email`)))
}
