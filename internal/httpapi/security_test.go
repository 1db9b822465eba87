package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/internal/limit"
	"github.com/muster-dev/muster/internal/muster"
)

// A client token could once invite any address as a manager and resend
// without limit: 20 resends sent 21 emails.
func TestManagerResendFloodIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, tok := b.client(t, "Acme", "owner@acme.test")
	var clientID int64
	if err := b.db.Get(&clientID, `SELECT id FROM clients WHERE name = 'Acme'`); err != nil {
		t.Fatal(err)
	}
	var accountID int64
	b.db.Get(&accountID, `SELECT id FROM accounts WHERE client_id = $1`, clientID)
	res := expect(t, b.do(t, "POST", path("/v1/clients/{id}/managers", clientID), tok,
		map[string]any{"email": "victim@elsewhere.test", "role": "viewer", "account_ids": []int64{accountID}}), 202)
	m := num(obj(res.body["manager"])["id"])
	for i := 0; i < 20; i++ {
		res := b.do(t, "POST", path("/v1/managers/{id}/resend", m), tok, nil)
		if res.status != 429 || res.code() != "resend_throttled" {
			t.Fatalf("resend %d: %d %v, want 429 resend_throttled", i+1, res.status, res.body)
		}
		if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 1 || ra > 600 {
			t.Fatalf("resend %d: Retry-After %q", i+1, res.header.Get("Retry-After"))
		}
	}
	var emails int
	b.db.Get(&emails, `SELECT count(*) FROM invitations WHERE manager_id = $1`, m)
	if emails != 1 {
		t.Errorf("%d emails queued for the manager, want 1", emails)
	}
}

// Limits hold per client and per recipient, with 429 and Retry-After, and
// one client's use does not spend another's. The recipient's budget is
// spent by the emails sent (jobs.Sender takes it), not by requests, so one
// invitation counts once; a request to an address whose budget is spent is
// refused at once.
func TestLimitsPerClientAndRecipient(t *testing.T) {
	t.Parallel()
	var lim *limit.Limiter
	b := setupWith(t, func(o *httpapi.Options, rdb *redis.Client) {
		rates := defaultLimits(t)
		rates[muster.LimitInvitations] = []muster.Rate{{N: 5, Per: time.Minute}, {N: 1000, Per: 24 * time.Hour}}
		rates[muster.LimitRecipient] = []muster.Rate{{N: 3, Per: 24 * time.Hour}}
		rates[muster.LimitImports] = []muster.Rate{{N: 1, Per: time.Minute}}
		lim = limit.New(rdb, rates, slog.New(slog.NewTextHandler(io.Discard, nil)))
		o.Limiter = lim
	})
	accA, tokA := b.client(t, "A", "owner@a.test")
	accB, tokB := b.client(t, "B", "owner@b.test")
	for i := 0; i < 5; i++ {
		expect(t, b.do(t, "POST", path("/v1/accounts/{id}/invitations", accA), tokA, map[string]any{"email": fmt.Sprintf("p%d@x.test", i)}), 202)
	}
	res := b.do(t, "POST", path("/v1/accounts/{id}/invitations", accA), tokA, map[string]any{"email": "p5@x.test"})
	if res.status != 429 || res.code() != "rate_limited" || res.header.Get("Retry-After") == "" {
		t.Fatalf("6th invitation in a minute: %d %v %q", res.status, res.body, res.header.Get("Retry-After"))
	}
	if !strings.Contains(res.message(), "5/m") {
		t.Errorf("message %q should give the limit", res.message())
	}
	// B's budget is its own. p0's invitations spend nothing of p0's
	// budget until their emails go out: three sent ones spend it.
	expect(t, b.do(t, "POST", path("/v1/accounts/{id}/invitations", accB), tokB, map[string]any{"email": "p0@x.test"}), 202)
	accC, tokC := b.client(t, "C", "owner@c.test")
	expect(t, b.do(t, "POST", path("/v1/accounts/{id}/invitations", accC), tokC, map[string]any{"email": "P0@x.test"}), 202)
	if waits, err := lim.TakeEach(context.Background(), muster.LimitRecipient, []string{"p0@x.test", "p0@x.test", "P0@x.test"}); err != nil || waits[2] != 0 {
		t.Fatalf("the three emails' takes: %v %v", waits, err)
	}
	accD, tokD := b.client(t, "D", "owner@d.test")
	res = b.do(t, "POST", path("/v1/accounts/{id}/invitations", accD), tokD, map[string]any{"email": "p0@x.test"})
	if res.status != 429 || res.header.Get("Retry-After") == "" || !strings.Contains(res.message(), "emails to this address") {
		t.Errorf("an invitation to an address whose emails for the day are spent: %d %v", res.status, res.body)
	}
	var n int
	b.db.Get(&n, `SELECT count(*) FROM memberships WHERE email = 'p0@x.test'`)
	if n != 3 {
		t.Errorf("%d memberships for p0, want 3", n)
	}
	// Imports: one a minute here.
	expect(t, b.do(t, "POST", path("/v1/accounts/{id}/imports", accB), tokB, upload{"a.csv", []byte("email\nq1@x.test\n")}), 202)
	if res := b.do(t, "POST", path("/v1/accounts/{id}/imports", accB), tokB, upload{"b.csv", []byte("email\nq2@x.test\n")}); res.status != 429 {
		t.Errorf("2nd import in a minute: %d %v", res.status, res.body)
	}
}

// The queue monitor could be driven by another site's form POST with the
// browser's cached Basic credentials; it also could be framed.
func TestQueueMonitorRefusesCrossSiteWrites(t *testing.T) {
	t.Parallel()
	b := setup(t) // a writable monitor, as QUEUE_MONITOR=write gives
	post := func(headers map[string]string) *http.Response {
		req, _ := http.NewRequest("POST", b.srv.URL+"/asynq/api/queues/critical:pause", strings.NewReader(""))
		req.SetBasicAuth("ops", b.staff)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		res, err := b.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	// Make the queue exist, so that pausing it could succeed.
	if err := b.queue.Send(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		{"Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "https://sub.evil.example"},
	} {
		if res := post(h); res.StatusCode != 403 {
			t.Errorf("cross-site POST %v: %d, want 403", h, res.StatusCode)
		}
	}
	if qs, err := b.inspect.GetQueueInfo("critical"); err != nil || qs.Paused {
		t.Fatalf("queue paused by another site: %+v %v", qs, err)
	}
	if res := post(map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": b.srv.URL}); res.StatusCode != 204 {
		t.Errorf("same-origin POST: %d, want 204", res.StatusCode)
	}
	req, _ := http.NewRequest("GET", b.srv.URL+"/asynq/", nil)
	req.SetBasicAuth("ops", b.staff)
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("framing headers: %v", res.Header)
	}
}

// Each hostile address or name is a 400 naming the field; an IDN address
// is invited; a NUL in ?q= was a 500.
func TestHostileInputIs400(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	for _, email := range []string{"vic\u200btim@x.test", "\u202etset.x@mitciv", "x@[127.0.0.1]", "bad\xffutf8@x.test", "nul\x00@x.test"} {
		res := b.do(t, "POST", path("/v1/accounts/{id}/invitations", acc), tok, `{"email":"`+jsonEscape(email)+`"}`)
		if res.status != 400 || res.code() != "invalid_email" || !strings.Contains(res.message(), "email") {
			t.Errorf("email %q: %d %v", email, res.status, res.body)
		}
	}
	// Invalid UTF-8 in free text is refused as a whole body.
	if res := b.do(t, "POST", path("/v1/accounts/{id}/invitations", acc), tok, "{\"email\":\"ok@x.test\",\"feature\":\"a\xffb\"}"); res.status != 400 || res.code() != "invalid_feature" || !strings.Contains(res.message(), "UTF-8") {
		t.Errorf("invalid UTF-8 in the feature: %d %v", res.status, res.body)
	}
	for _, name := range []string{"Victor\u202e", "Vic\u200dtor", "Vic\x00tor"} {
		res := b.do(t, "POST", path("/v1/accounts/{id}/invitations", acc), tok, map[string]any{"email": "v@x.test", "full_name": name})
		if res.status != 400 || res.code() != "invalid_full_name" {
			t.Errorf("full_name %q: %d %v", name, res.status, res.body)
		}
	}
	expect(t, b.do(t, "POST", path("/v1/accounts/{id}/invitations", acc), tok, map[string]any{"email": "Иван@Пример.РФ", "full_name": "Иван"}), 202)
	for _, q := range []string{"a\x00b", "\xff"} {
		res := b.do(t, "GET", path("/v1/accounts/{id}/contractors", acc)+"?q="+url.QueryEscape(q), tok, nil)
		if res.status != 400 || res.code() != "invalid_q" {
			t.Errorf("q %q: %d %v", q, res.status, res.body)
		}
	}
	ev := b.do(t, "POST", "/v1/contractor-events", b.staff, map[string]any{"email": "v@x.test", "type": "registered", "at": "0001-01-01T00:00:00Z"})
	if ev.status != 400 || ev.code() != "invalid_at" {
		t.Errorf("event of year 1: %d %v", ev.status, ev.body)
	}
}

// jsonEscape writes s into a JSON string as raw bytes, so that invalid
// UTF-8 reaches the server as sent.
func jsonEscape(s string) string {
	return strings.NewReplacer(`"`, `\"`, `\`, `\\`, "\x00", `\u0000`).Replace(s)
}

// A body that trickles in is cut off: the request gets a 408 instead of
// holding a connection and a goroutine.
func TestSlowBodyTimesOut(t *testing.T) {
	t.Parallel()
	b := setupWith(t, func(o *httpapi.Options, _ *redis.Client) { o.BodyTimeout = 300 * time.Millisecond })
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	conn, err := net.Dial("tcp", b.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":",
		path("/v1/accounts/{id}/invitations", acc), tok)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 408 {
		t.Errorf("stalled body: %d, want 408", res.StatusCode)
	}
}

// Every answer says nosniff and no-store (the manager-accept answer
// carries a token); a request id that is not a plain token is replaced.
func TestResponseHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, p := range []string{"/healthz", "/v1/manager-invitations/accept", "/nowhere"} {
		req, _ := http.NewRequest("POST", b.srv.URL+p, strings.NewReader(`{"token":"x"}`))
		req.Header.Set("X-Request-Id", `abc"><script>alert(1)</script> level=ERROR`)
		res, err := b.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", p, res.Header)
		}
		if id := res.Header.Get("X-Request-Id"); strings.ContainsAny(id, `"<> =`) || id == "" {
			t.Errorf("%s: request id %q echoed", p, id)
		}
	}
	req, _ := http.NewRequest("GET", b.srv.URL+"/healthz", nil)
	req.Header.Set("X-Request-Id", "4f1c2a9e-7d1b-4c1e-9a51-0c7f2b7f5f3a")
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("X-Request-Id") != "4f1c2a9e-7d1b-4c1e-9a51-0c7f2b7f5f3a" {
		t.Errorf("a UUID request id was not kept: %q", res.Header.Get("X-Request-Id"))
	}
}
