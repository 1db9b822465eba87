package console_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/console"
)

// actors are the callers every page is tried with, as in the API's matrix.
var actors = []string{"staff", "client", "owner", "admin", "manager", "viewer", "noaccess", "anon"}

// Expected statuses, one per actor in the order above. A page without a
// session sends the browser to sign in (303).
const (
	everyone200   = "200 200 200 200 200 200 200 200"
	everyone303   = "303 303 303 303 303 303 303 303"
	seesAccount   = "200 200 200 200 200 200 404 303"
	reads303      = "303 303 303 303 303 303 404 303"
	writes200     = "200 200 200 200 200 403 404 303"
	writes303     = "303 303 303 303 303 403 404 303"
	onlyStaff200  = "200 404 404 404 404 404 404 303" // another dashboard
	onlyStaff303  = "303 404 404 404 404 404 404 303"
	onlyStaff409  = "409 404 404 404 404 404 404 303"
	managesAdmins = "303 303 303 303 403 403 404 303" // dashboard work: owners and admins
	staffOnly200  = "200 403 403 403 403 403 403 303" // platform work
	staffOnly303  = "303 403 403 403 403 403 403 303"
)

type pageRow struct {
	route        string
	request      func(b *testBundle, d *dashboard, n int) (path string, form url.Values)
	own, foreign string
	fresh        bool // the call ends its session: sign in anew for it
}

// pageMatrix holds every console route against every caller, on the
// callers' own dashboard and on another one. Each page authorizes as its
// API route does: a viewer may read but not write (403), an account out of
// reach reads as missing (404). A route without a row fails the test.
var pageMatrix = []pageRow{
	{"GET /static/", fixed("/static/console.css", nil), everyone200, everyone200, false},
	{"GET /{$}", fixed("/", nil), "200 303 303 303 303 303 303 303", "200 303 303 303 303 303 303 303", false},
	{"GET /signin", fixed("/signin", nil), everyone200, everyone200, false},
	{"POST /signin/token", fixed("/signin/token", url.Values{"token": {"mst_forged"}}), "401 401 401 401 401 401 401 401", "401 401 401 401 401 401 401 401", false},
	{"POST /signin/email", fixed("/signin/email", url.Values{"email": {"nobody@nowhere.test"}}), everyone303, everyone303, false},
	{"GET /signin/link", fixed("/signin/link?token=forged.token", nil), "400 400 400 400 400 400 400 400", "400 400 400 400 400 400 400 400", false},
	{"POST /signin/link", fixed("/signin/link", url.Values{"token": {"forged.token"}}), "400 400 400 400 400 400 400 400", "400 400 400 400 400 400 400 400", false},
	{"POST /signout", fixed("/signout", url.Values{}), everyone303, everyone303, true},
	{"POST /lang", fixed("/lang", url.Values{"lang": {"en"}, "next": {"/"}}), everyone303, everyone303, false},
	{"GET /accounts/{id}/contractors", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/contractors", d.account), nil
	}, seesAccount, onlyStaff200, false},
	{"POST /accounts/{id}/columns", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/columns", d.account), url.Values{"col": {"full_name", "phone"}}
	}, reads303, onlyStaff303, false},
	// The contractor was just invited: a resend is refused as too soon,
	// and the page goes back to the list saying when it is allowed.
	{"GET /accounts/{id}/contractors/{cid}", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/contractors/%d", d.account, d.contractor), nil
	}, seesAccount, onlyStaff200, false},
	{"POST /accounts/{id}/contractors/{cid}/card", func(_ *testBundle, d *dashboard, n int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/contractors/%d/card", d.account, d.contractor), url.Values{"feature": {"f"}, "notes": {fmt.Sprint("note ", n)}}
	}, writes303, onlyStaff303, false},
	{"POST /accounts/{id}/contractors/{cid}/tasks", func(_ *testBundle, d *dashboard, n int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/contractors/%d/tasks", d.account, d.contractor), url.Values{"title": {fmt.Sprint("Task ", n)}}
	}, writes303, onlyStaff303, false},
	{"GET /accounts/{id}/tasks", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/tasks", d.account), nil
	}, seesAccount, onlyStaff200, false},
	// Each call moves a task of its own from new to in progress.
	{"POST /accounts/{id}/tasks/{tid}/status", func(b *testBundle, d *dashboard, n int) (string, url.Values) {
		tid := num(b.call(b.t, "POST", fmt.Sprintf("/v1/accounts/%d/tasks", d.account), d.tokens["client"],
			map[string]any{"contractor_id": d.contractor, "title": fmt.Sprint("Move ", n)}, 201)["id"])
		return fmt.Sprintf("/accounts/%d/tasks/%d/status", d.account, tid), url.Values{"status": {"in_progress"}}
	}, writes303, onlyStaff303, false},
	{"POST /accounts/{id}/contractors/{cid}/resend", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/contractors/%d/resend", d.account, d.contractor), url.Values{}
	}, writes303, onlyStaff303, false},
	{"GET /accounts/{id}/contractors/{cid}/exclude", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/contractors/%d/exclude", d.account, d.spare), nil
	}, writes200, onlyStaff200, false},
	{"POST /accounts/{id}/contractors/{cid}/exclude", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/contractors/%d/exclude", d.account, d.spare), url.Values{}
	}, writes303, onlyStaff303, false},
	{"GET /accounts/{id}/invite", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/invite", d.account), nil
	}, writes200, onlyStaff200, false},
	{"POST /accounts/{id}/invite", func(_ *testBundle, d *dashboard, n int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/invite", d.account), url.Values{"email": {fmt.Sprintf("page%d@contractors.test", n)}}
	}, writes303, onlyStaff303, false},
	{"GET /accounts/{id}/imports", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/imports", d.account), nil
	}, seesAccount, onlyStaff200, false},
	// A form with a "file" value is sent as multipart/form-data.
	{"POST /accounts/{id}/imports", func(_ *testBundle, d *dashboard, n int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/imports", d.account), url.Values{"file": {fmt.Sprintf("email\nrow%d@imports.test\n", n)}}
	}, writes303, onlyStaff303, false},
	{"GET /accounts/{id}/imports/template.xlsx", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/imports/template.xlsx", d.account), nil
	}, seesAccount, onlyStaff200, false},
	{"GET /accounts/{id}/imports/{iid}", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/imports/%d", d.account, d.imported), nil
	}, seesAccount, onlyStaff200, false},
	{"GET /accounts/{id}/imports/{iid}/events", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/imports/%d/events", d.account, d.imported), nil
	}, seesAccount, onlyStaff200, false},
	// The fixture's import is finished: whoever may cancel hears it is too late.
	{"POST /accounts/{id}/imports/{iid}/cancel", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/imports/%d/cancel", d.account, d.imported), url.Values{}
	}, "409 409 409 409 409 403 404 303", onlyStaff409, false},
	{"GET /accounts/{id}/imports/{iid}/errors.xlsx", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/imports/%d/errors.xlsx", d.account, d.imported), nil
	}, seesAccount, onlyStaff200, false},
	{"GET /accounts/{id}/managers", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/managers", d.account), nil
	}, seesAccount, onlyStaff200, false},
	{"POST /accounts/{id}/managers", func(_ *testBundle, d *dashboard, n int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/managers", d.account), url.Values{"email": {fmt.Sprintf("m%d@managers.test", n)}, "role": {"viewer"}, "account": {strconv.FormatInt(d.account, 10)}}
	}, managesAdmins, onlyStaff303, false},
	{"GET /accounts/{id}/managers/{mid}", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/managers/%d", d.account, d.target), nil
	}, "200 200 200 200 403 403 404 303", onlyStaff200, false},
	{"POST /accounts/{id}/managers/{mid}", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/managers/%d", d.account, d.target), url.Values{"role": {"viewer"}, "account": {strconv.FormatInt(d.account, 10)}}
	}, managesAdmins, onlyStaff303, false},
	// The manager was just invited: whoever may resend hears it is too soon.
	{"POST /accounts/{id}/managers/{mid}/resend", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/managers/%d/resend", d.account, d.target), url.Values{}
	}, "429 429 429 429 403 403 404 303", "429 404 404 404 404 404 404 303", false},
	{"GET /accounts/{id}/accounts", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/accounts", d.account), nil
	}, seesAccount, onlyStaff200, false},
	{"POST /accounts/{id}/accounts", func(_ *testBundle, d *dashboard, n int) (string, url.Values) {
		return fmt.Sprintf("/accounts/%d/accounts", d.account), url.Values{"name": {fmt.Sprint("Account ", n)}}
	}, managesAdmins, onlyStaff303, false},
	// Merges are the platform's: staff only, 403 to everyone else.
	{"GET /merges", fixed("/merges", nil), staffOnly200, staffOnly200, false},
	{"POST /merges", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return "/merges", url.Values{"target": {d.ownerEmail}, "sources": {strings.Replace(d.ownerEmail, "owner@", "owner@sibling-", 1)}}
	}, staffOnly303, staffOnly303, false},
	{"GET /merges/{id}", func(_ *testBundle, d *dashboard, _ int) (string, url.Values) {
		return fmt.Sprintf("/merges/%d", d.merge), nil
	}, staffOnly200, staffOnly200, false},
	{"/", fixed("/nowhere", nil), "404 404 404 404 404 404 404 404", "404 404 404 404 404 404 404 404", false},
}

func fixed(path string, form url.Values) func(*testBundle, *dashboard, int) (string, url.Values) {
	return func(*testBundle, *dashboard, int) (string, url.Values) { return path, form }
}

func TestPageAccessMatrix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	own, foreign := b.dashboard(t, "Own"), b.dashboard(t, "Foreign")
	sessions := map[string]*http.Client{}
	for _, who := range actors {
		sessions[who] = b.session(t, own.tokens[who])
	}
	n := 0
	for _, row := range pageMatrix {
		method, _, ok := strings.Cut(row.route, " ")
		if !ok {
			method = "GET"
		}
		for _, target := range []struct {
			name string
			d    *dashboard
			want string
		}{{"own", own, row.own}, {"foreign", foreign, row.foreign}} {
			want := strings.Fields(target.want)
			for i, who := range actors {
				n++
				path, form := row.request(b, target.d, n)
				c := sessions[who]
				if row.fresh {
					c = b.session(t, own.tokens[who])
				}
				var res *http.Response
				var err error
				switch {
				case method == "POST" && form.Has("file"):
					res, err = postFile(c, b.srv.URL+path, "team.csv", form.Get("file"))
				case method == "POST":
					res, err = c.PostForm(b.srv.URL+path, form)
				default:
					res, err = c.Get(b.srv.URL + path)
				}
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if strconv.Itoa(res.StatusCode) != want[i] {
					t.Errorf("%s, %s dashboard, as %s: %d, want %s: %.300s", row.route, target.name, who, res.StatusCode, want[i], body)
				}
			}
		}
	}
	routes := b.con.Routes()
	for _, r := range routes {
		if !slices.ContainsFunc(pageMatrix, func(row pageRow) bool { return row.route == r }) {
			t.Errorf("console route %q has no row in pageMatrix: say who may open it", r)
		}
	}
	for _, row := range pageMatrix {
		if !slices.Contains(routes, row.route) {
			t.Errorf("pageMatrix row %q is not a console route", row.route)
		}
	}
}

// Every page carries the security headers: no inline script, no framing.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Headers")
	c := b.session(t, d.tokens["owner"])
	for _, p := range []string{"/signin", fmt.Sprintf("/accounts/%d/contractors", d.account), "/nowhere", "/static/console.css"} {
		res, err := c.Get(b.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", p, csp)
		}
		if res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", p, res.Header.Get("X-Frame-Options"))
		}
	}
}

// A form posted from another site is refused, session or not.
func TestCrossOriginFormRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Forged")
	c := b.session(t, d.tokens["owner"])
	for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}} {
		if a := post(t, c, fmt.Sprintf("%s/accounts/%d/contractors/%d/exclude", b.srv.URL, d.account, d.spare), nil, h); a.status != http.StatusForbidden {
			t.Errorf("cross-origin POST with %v: %d, want 403", h, a.status)
		}
	}
	var status string
	if err := b.db.Get(&status, `SELECT status FROM memberships WHERE account_id = $1 AND contractor_id = $2`, d.account, d.spare); err != nil {
		t.Fatal(err)
	}
	if status == "excluded" {
		t.Error("a forged form excluded the contractor")
	}
}

// Signing out ends the session in the database: the old cookie no longer
// opens anything, and a token made for an emailed link is revoked.
func TestSignOutEndsSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Signout")
	c := b.session(t, d.tokens["owner"])
	page := fmt.Sprintf("%s/accounts/%d/contractors", b.srv.URL, d.account)
	u, _ := url.Parse(b.srv.URL)
	cookies := c.Jar.Cookies(u)
	res, err := c.PostForm(b.srv.URL+"/signout", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	replay := browserClient()
	replay.Jar.SetCookies(u, cookies)
	res, err = replay.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/signin") {
		t.Errorf("the old session cookie after sign-out: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

// A sign-in link works once and only while it is fresh.
func TestSigninLinkOnceAndFresh(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Links")
	c := browserClient()
	res, err := c.PostForm(b.srv.URL+"/signin/email", url.Values{"email": {strings.ToUpper(d.ownerEmail)}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	msgs := b.smtp.Wait(t, 1, 10*time.Second)
	link := linkIn(t, msgs[0].Text)
	if msgs[0].MessageID != "<signin-1@muster.test>" {
		t.Errorf("Message-ID %q is not of the sending domain", msgs[0].MessageID)
	}
	// A second request at once sends nothing: nobody can mail someone again and again.
	res, _ = c.PostForm(b.srv.URL+"/signin/email", url.Values{"email": {d.ownerEmail}})
	res.Body.Close()
	token := link.Query().Get("token")
	post := func(token string) *http.Response {
		res, err := browserClient().PostForm(b.srv.URL+"/signin/link", url.Values{"token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post(token); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", res.StatusCode)
	}
	if res := post(token); res.StatusCode != http.StatusConflict {
		t.Errorf("second use: %d, want 409", res.StatusCode)
	}
	var linkID int64
	if err := b.db.Get(&linkID, `SELECT max(id) FROM console_signin_links`); err != nil {
		t.Fatal(err)
	}
	expired := b.signer.Sign(console.SigninPurpose, strconv.FormatInt(linkID, 10), -time.Minute)
	if res := post(expired); res.StatusCode != http.StatusBadRequest {
		t.Errorf("expired link: %d, want 400", res.StatusCode)
	}
	if n := len(b.smtp.Messages()); n != 1 {
		t.Errorf("%d sign-in emails, want 1", n)
	}
}

// linkIn finds the console link in an email's text.
func linkIn(t testing.TB, text string) *url.URL {
	t.Helper()
	for _, f := range strings.Fields(text) {
		if strings.Contains(f, "/signin/link?token=") {
			u, err := url.Parse(f)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
	}
	t.Fatalf("no sign-in link in %q", text)
	return nil
}

// postFile posts a form with one file, as a browser does.
func postFile(c *http.Client, url, name, data string) (*http.Response, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	io.WriteString(fw, data)
	mw.Close()
	return c.Post(url, mw.FormDataContentType(), &buf)
}

// The session cookie cannot be read by scripts, is not sent on cross-site
// subrequests, and its value is not a token: the database keeps only its hash.
func TestSessionCookie(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.dashboard(t, "Cookie")
	res, err := browserClient().PostForm(b.srv.URL+"/signin/token", url.Values{"token": {d.tokens["owner"]}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var c *http.Cookie
	for _, x := range res.Cookies() {
		if x.Name == "muster_session" {
			c = x
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" {
		t.Fatalf("session cookie %+v", c)
	}
	var n int
	if err := b.db.Get(&n, `SELECT count(*) FROM console_sessions WHERE hash = convert_to($1, 'UTF8')`, c.Value); err != nil {
		t.Fatal(err)
	}
	if n != 0 || c.Value == d.tokens["owner"] {
		t.Error("the session's secret is stored in clear")
	}
}
