package console_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
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
		chromedp.WindowSize(1280, 900),
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

// tabReaches presses Tab from the top of the page until focus has visited
// every element the selectors name, or fails after limit presses.
func tabReaches(t *testing.T, ctx context.Context, name string, limit int, selectors ...string) {
	t.Helper()
	get(t, ctx, chromedp.Evaluate[bool](`window.__seen = new Set(); document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);
		document.addEventListener("focusin", e => window.__seen.add(e.target), true); true`))
	check := fmt.Sprintf(`(() => { const want = %s; return want.filter(s => !Array.from(document.querySelectorAll(s)).some(e => window.__seen.has(e))); })()`, jsList(selectors))
	for i := 0; i < limit; i++ {
		do(t, ctx, chromedp.KeyEvent(kb.Tab))
		if missing := get(t, ctx, chromedp.Evaluate[[]string](check)); len(missing) == 0 {
			return
		}
	}
	t.Errorf("%s: %d presses of Tab never reached %v", name, limit, get(t, ctx, chromedp.Evaluate[[]string](check)))
}

func jsList(ss []string) string {
	b, _ := json.Marshal(ss)
	return string(b)
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
