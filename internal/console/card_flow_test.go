package console_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The contractor card, in the browser: a manager opens it from the list,
// sees the stages and the emails, writes notes that the search then
// finds, and moves a task through its statuses with the history kept.
func TestBrowserCard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Cards")
	b.startWorker(t) // after the fixture, which runs its import itself
	b.waitMailTo(t, "anna@cards.test")
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(b.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#signin-token`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-token`), d.tokens["manager"]),
		chromedp.Submit(chromedp.CSS(`#signin-token`)),
		chromedp.WaitVisible(chromedp.CSS(`#contractors`)),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-contractor="%d"] th a`, d.contractor))),
		chromedp.WaitVisible(chromedp.CSS(`ol.stages`)))
	if got := textOf(t, ctx, `ol.stages`); !strings.Contains(got, "Приглашение отправлено") {
		t.Errorf("stages: %q", got)
	}
	if got := textOf(t, ctx, `#emails tbody`); !strings.Contains(got, "Приглашение") || !strings.Contains(got, "Отправлено") {
		t.Errorf("emails: %q", got)
	}
	// Notes, searchable from the list.
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#card-notes`), "Сильный дизайнер интерфейсов, <script>alert(1)</script>"),
		chromedp.Click(chromedp.CSS(`form[action$="/card"] button`)))
	waitFor(t, ctx, `location.search.includes("notice=saved")`)
	if got := get(t, ctx, chromedp.Value(chromedp.CSS(`#card-notes`))); !strings.Contains(got, "<script>alert(1)</script>") {
		t.Errorf("the notes read %q", got)
	}
	// A task: new → in progress → done → back to rework.
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#task-title`), "Макет главной страницы"),
		chromedp.SendKeys(chromedp.CSS(`#task-desc`), "Figma, 3 экрана"),
		chromedp.Click(chromedp.CSS(`form[action$="/tasks"] button[type=submit]`)))
	waitFor(t, ctx, `document.querySelector("article.task") !== null`)
	for _, move := range []struct{ to, label string }{{"in_progress", "В работе"}, {"done", "Выполнена"}, {"in_progress", "В работе"}} {
		do(t, ctx, chromedp.Click(chromedp.CSS(`article.task form.moves button[value=`+move.to+`]`)))
		waitFor(t, ctx, `document.querySelector("article.task .task-status").textContent === "`+move.label+`"`)
	}
	if got := textOf(t, ctx, `article.task ol.history`); strings.Count(got, "·") != 8 || !strings.Contains(got, "Выполнена") {
		t.Errorf("task history %q", got)
	}
	if got := textOf(t, ctx, `article.task .task-status`); got != "В работе" {
		t.Errorf("task status %q", got)
	}
	shot(t, ctx, "card")
	// The account's tasks page lists it, linked to the card.
	do(t, ctx, chromedp.Click(chromedp.CSS(`.sections a[href$="/tasks"]`)), chromedp.WaitVisible(chromedp.CSS(`#tasks`)))
	if got := textOf(t, ctx, `#tasks tbody`); !strings.Contains(got, "Макет главной страницы") || !strings.Contains(got, "В работе") {
		t.Errorf("the tasks page: %q", got)
	}
	shot(t, ctx, "tasks")
	do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/accounts/%d/contractors?q=%s", b.srv.URL, d.account, "дизайнеры")),
		chromedp.WaitVisible(chromedp.CSS(`#contractors`)))
	if got := textOf(t, ctx, `#contractors tbody`); !strings.Contains(got, "Анна Петрова") || strings.Contains(got, "spare@") {
		t.Errorf("searching the notes for дизайнеры lists %q", got)
	}
}
