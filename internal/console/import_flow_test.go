package console_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"github.com/muster-dev/muster/jobs"
)

// The import, in the browser: an admin signs in with a token, drops a CSV
// on the form, watches the bar fed by the event stream reach 100 % with
// the right counts, downloads the error workbook and sees the history.
func TestBrowserImport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Import")
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(b.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#signin-token`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-token`), d.tokens["admin"]),
		chromedp.Submit(chromedp.CSS(`#signin-token`)),
		chromedp.WaitVisible(chromedp.CSS(`#contractors`)),
		chromedp.Click(chromedp.CSS(`.sections a[href$="/imports"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.dropzone`)))
	shot(t, ctx, "imports")

	// Drop a file on the zone, as a person drags it from their desktop.
	var rows strings.Builder
	rows.WriteString(`Электронная почта / Email;ФИО / Full name\n`)
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&rows, `worker%02d@import.test;Работник %02d\n`, i, i)
	}
	rows.WriteString(`not-an-email;Плохая строка\n`)
	get(t, ctx, chromedp.Evaluate[bool](`(() => {
		const dt = new DataTransfer();
		dt.items.add(new File(["`+rows.String()+`"], "team.csv", {type: "text/csv"}));
		const zone = document.querySelector(".dropzone");
		zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
		zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
		return document.querySelector("#import-file").files.length === 1;
	})()`))
	do(t, ctx, chromedp.Click(chromedp.CSS(`form[action$="/imports"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#import-bar`)))
	// The page is open on the queued import and its stream: now a worker runs it.
	waitFor(t, ctx, `document.querySelector("[sse-connect]") !== null`)
	var id int64
	if err := b.db.Get(&id, `SELECT max(id) FROM imports WHERE account_id = $1`, d.account); err != nil {
		t.Fatal(err)
	}
	imp := &jobs.Importer{Store: b.db, Queue: b.queue, BatchSize: 10, Log: b.log}
	if err := imp.Process(ctx, jobs.ImportArgs{ImportID: id}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.querySelector("[data-status=done]") !== null`)
	if got := textOf(t, ctx, `#import-percent`); got != "100 %" {
		t.Errorf("the bar shows %q", got)
	}
	bar := get(t, ctx, chromedp.Evaluate[[]float64](`[document.querySelector("#import-bar").value, document.querySelector("#import-bar").max]`))
	if len(bar) != 2 || bar[0] != bar[1] {
		t.Errorf("the bar is at %v", bar)
	}
	for sel, want := range map[string]string{"#import-created": "40", "#import-failed": "1", "#import-linked": "0"} {
		if got := textOf(t, ctx, sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	shot(t, ctx, "import-done")

	// The error workbook: the failed row with its reason.
	data := get(t, ctx, chromedp.Evaluate[string](`fetch(document.querySelector("#import-errors").href)
		.then(r => r.arrayBuffer()).then(b => btoa(String.fromCharCode(...new Uint8Array(b))))`, chromedp.EvalAwaitPromise))
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the error workbook: %v", err)
	}
	cells, err := f.GetRows(f.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 2 || cells[1][0] != "not-an-email" {
		t.Errorf("the error workbook holds %v", cells)
	}

	// The history lists it.
	do(t, ctx, chromedp.Click(chromedp.CSS(`a[href$="/imports"]:not(.sections a)`)), chromedp.WaitVisible(chromedp.CSS(`#imports`)))
	if got := textOf(t, ctx, `#imports tbody`); !strings.Contains(got, "team.csv") || !strings.Contains(got, "40") {
		t.Errorf("the history shows %q", got)
	}
	shot(t, ctx, "import-history")
}
