package console_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/console"
	"github.com/muster-dev/muster/internal/limit"
	"github.com/muster-dev/muster/internal/muster"
)

// answer is a page's status, headers and text.
type answer struct {
	status int
	header http.Header
	body   string
}

func post(t testing.TB, c *http.Client, to string, form url.Values, header map[string]string) answer {
	t.Helper()
	req, _ := http.NewRequest("POST", to, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, string(body)}
}

// One client could ask for sign-in links for thousands of addresses, a
// link a minute each. Over LIMIT_SIGNIN the form answers 429 with
// Retry-After and says why in the reader's language, and mails nothing.
// The client is the connection's address: a header it sends changes
// nothing, and another address has a budget of its own.
func TestSigninLinksPerClientIP(t *testing.T) {
	t.Parallel()
	b := setupWith(t, func(b *testBundle, con *console.Options, _ *actions.Options) {
		con.Limiter = limit.New(b.redis.Client, map[string][]muster.Rate{
			muster.LimitSignin: {{N: 3, Per: time.Minute}, {N: 50, Per: 24 * time.Hour}},
		}, b.log)
	})
	d := b.dashboard(t, "Signin")
	c := browserClient()
	for i := range 3 {
		if a := post(t, c, b.srv.URL+"/signin/email", url.Values{"email": {fmt.Sprintf("nobody%d@nowhere.test", i)}}, nil); a.status != http.StatusSeeOther {
			t.Fatalf("request %d: %d", i+1, a.status)
		}
	}
	forged := map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Real-Ip": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
	a := post(t, c, b.srv.URL+"/signin/email", url.Values{"email": {d.ownerEmail}}, forged)
	if a.status != http.StatusTooManyRequests || !strings.Contains(a.body, "Из вашей сети запросили слишком много ссылок для входа") {
		t.Fatalf("4th request in a minute: %d\n%s", a.status, a.body)
	}
	if ra, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || ra < 1 || ra > 20 {
		t.Errorf("Retry-After %q, want up to one emission interval (20 s)", a.header.Get("Retry-After"))
	}
	u, _ := url.Parse(b.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "muster_lang", Value: "en"}})
	if a := post(t, c, b.srv.URL+"/signin/email", url.Values{"email": {d.ownerEmail}}, nil); a.status != http.StatusTooManyRequests ||
		!strings.Contains(a.body, "Too many sign-in links were asked for from your network") {
		t.Errorf("in English: %d\n%s", a.status, a.body)
	}
	var links int
	if err := b.db.Get(&links, `SELECT count(*) FROM console_signin_links`); err != nil || links != 0 {
		t.Fatalf("%d sign-in links made over the limit (%v)", links, err)
	}
	// Another client address: its own budget; the owner gets a link.
	other := browserClient()
	other.Transport = &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}
	if a := post(t, other, b.srv.URL+"/signin/email", url.Values{"email": {d.ownerEmail}}, nil); a.status != http.StatusSeeOther {
		t.Fatalf("from another address: %d\n%s", a.status, a.body)
	}
	b.waitMailTo(t, d.ownerEmail)
}

// The console's invitations and resends are held to the client's limits
// and checked against the recipient's, as the API's are: 429 with
// Retry-After.
func TestConsoleInvitationsAreLimited(t *testing.T) {
	t.Parallel()
	var lim *limit.Limiter
	b := setupWith(t, func(b *testBundle, _ *console.Options, act *actions.Options) {
		lim = limit.New(b.redis.Client, map[string][]muster.Rate{
			muster.LimitInvitations: {{N: 2, Per: time.Minute}},
			muster.LimitRecipient:   {{N: 1, Per: 24 * time.Hour}},
		}, b.log)
		act.Limiter = lim
	})
	d := b.dashboard(t, "Limited")
	c := b.session(t, d.tokens["client"])
	invite := func(email string) answer {
		return post(t, c, fmt.Sprintf("%s/accounts/%d/invite", b.srv.URL, d.account), url.Values{"email": {email}}, nil)
	}
	// The address's one email a day has gone out: refused at once.
	if _, err := lim.TakeEach(context.Background(), muster.LimitRecipient, []string{"sent@limited.test"}); err != nil {
		t.Fatal(err)
	}
	if a := invite("sent@limited.test"); a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Errorf("an address whose emails are spent: %d %q", a.status, a.header.Get("Retry-After"))
	}
	for i := range 2 {
		if a := invite(fmt.Sprintf("p%d@limited.test", i)); a.status != http.StatusSeeOther {
			t.Fatalf("invitation %d: %d\n%s", i+1, a.status, a.body)
		}
	}
	a := invite("p2@limited.test")
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || !strings.Contains(a.body, "Достигнут лимит") {
		t.Errorf("3rd invitation in a minute: %d %q\n%s", a.status, a.header.Get("Retry-After"), a.body)
	}
}
