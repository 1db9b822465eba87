package console_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

//go:embed testdata/axe/axe.min.js
var axeSource string

// browser starts Debian's headless Chromium for one test. The machine has
// no network beyond loopback, so everything that reaches out is off.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: bash .ci/test installs it (apt-get install chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelCtx(); cancelAlloc() })
	// Record every Content-Security-Policy violation: a page must not need
	// an inline script or style.
	err = chromedp.Do(ctx, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__csp = [];
document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`,
		})
		return chromedp.Void{}, err
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs browser steps and stops the test on failure.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// get runs one browser action and returns its value.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// screenshotDir keeps the screenshots: CONSOLE_SCREENSHOTS, or a folder in
// the system's temporary directory that outlives the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CONSOLE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "muster-console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shot saves a full-page screenshot as name.png, then checks the page:
// axe-core finds no serious or critical violation, and nothing broke the
// Content-Security-Policy.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := get(t, ctx, chromedp.FullScreenshot(100))
	path := filepath.Join(screenshotDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
	checkPage(t, ctx, name)
	keyboard(t, ctx, name)
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

func checkPage(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	csp := get(t, ctx, chromedp.Evaluate[[]string](`window.__csp || []`))
	if len(csp) > 0 {
		t.Errorf("%s: Content-Security-Policy violations: %v", name, csp)
	}
	// A string missing from the bundle shows as its id.
	if ids := get(t, ctx, chromedp.Evaluate[[]string](`document.title.concat(" ", document.body.innerText)
		.match(/\b(title|section|col|filter|status|stage|tax|send_status|notice|invite|import|card|managers?|merge|conflict|role_name|kyb|account|task|move|email_kind|err|signin|staff|page|nav|field|reason|queues)_[a-z_]+\b/g) || []`)); len(ids) > 0 {
		t.Errorf("%s: untranslated %v", name, ids)
	}
	raw := get(t, ctx, chromedp.Evaluate[string](axeSource+`;
		axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	var vs []axeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatalf("%s: axe results: %v", name, err)
	}
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s: axe %s (%s): %s at %v", name, v.ID, v.Impact, v.Help, v.Nodes)
		}
	}
}

// keyboard presses Tab from the top of the page and checks that focus
// reaches every visible link, button, field and disclosure: the page can
// be used with the keyboard alone.
func keyboard(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	const focusable = `a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, textarea, summary, [tabindex="0"]`
	n := get(t, ctx, chromedp.Evaluate[int](`(() => {
		window.__seen = new Set();
		document.addEventListener("focusin", e => window.__seen.add(e.target), true);
		if (document.activeElement) document.activeElement.blur();
		window.scrollTo(0, 0);
		return Array.from(document.querySelectorAll('`+focusable+`')).filter(e => e.checkVisibility()).length;
	})()`))
	steps := make([]chromedp.Action[chromedp.Void], n+3)
	for i := range steps {
		steps[i] = chromedp.KeyEvent(kb.Tab)
	}
	do(t, ctx, steps...)
	missing := get(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('`+focusable+`'))
		.filter(e => e.checkVisibility() && !window.__seen.has(e)).map(e => e.outerHTML.slice(0, 80))`))
	if len(missing) > 0 {
		t.Errorf("%s: %d presses of Tab never reached %v", name, n+3, missing)
	}
}

// waitFor waits until the page's JavaScript condition holds, across the
// navigations a form submission causes.
func waitFor(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	var last error
	for range 50 {
		ok, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === "complete" && (`+cond+`)`))
		if err == nil && ok {
			return
		}
		if ctx.Err() != nil {
			break
		}
		last = err // the page navigated while it was being read: read the new one
	}
	t.Fatalf("waiting for %s: %v", cond, last)
}

// textOf reads the text of the first element matching sel.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(get(t, ctx, chromedp.Text(chromedp.CSS(sel))))
}
