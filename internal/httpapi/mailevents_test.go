package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/jobs"
)

// The provider's reports arrive signed like the sign-up app's events; a
// hard bounce puts the address on the list staff read and clear; the
// reminder's one-click link stops that membership's reminders.
func TestMailEventsSuppressionsAndUnsubscribe(t *testing.T) {
	t.Parallel()
	const secret = "mail-provider-secret-mail-provider"
	b := setupWith(t, func(o *httpapi.Options, _ *redis.Client) { o.MailEventsSecret = secret })
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	res := expect(t, b.do(t, "POST", path("/v1/accounts/{id}/invitations", acc), tok, map[string]any{"email": "gone@example.test"}), 202)
	inv := num(obj(res.body["invitation"])["id"])
	membership := num(obj(res.body["membership"])["id"])
	msgID := "invitation-" + strconv.FormatInt(inv, 10) + "@muster.test"
	if _, err := b.db.Exec(`UPDATE invitations SET status = 'sent', sent_at = now(), message_id = $2 WHERE id = $1`, inv, msgID); err != nil {
		t.Fatal(err)
	}

	body := `{"message_id":"<` + msgID + `>","type":"bounced","bounce":"hard","at":"` + time.Now().UTC().Format(time.RFC3339) + `","detail":"550 5.1.1"}`
	post := func(sig string) response {
		req, _ := http.NewRequest("POST", b.srv.URL+"/v1/mail-events", strings.NewReader(body))
		if sig != "" {
			req.Header.Set(httpapi.SignatureHeader, sig)
		}
		r, err := b.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		return response{status: r.StatusCode, header: r.Header}
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + body))
	if got := post(""); got.status != 401 {
		t.Errorf("unsigned: %d", got.status)
	}
	if got := post("t=" + ts + ",v1=" + strings.Repeat("0", 64)); got.status != 401 {
		t.Errorf("bad signature: %d", got.status)
	}
	if got := post("t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))); got.status != 200 {
		t.Fatalf("signed: %d", got.status)
	}
	if got := post("t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))); got.status != 200 {
		t.Fatalf("the same report again: %d", got.status)
	}
	req, _ := http.NewRequest("GET", b.srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+b.staff)
	mr, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mr.Body)
	mr.Body.Close()
	if want := `muster_emails_total{kind="invite",locale="ru",outcome="bounced"} 1` + "\n"; !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %s (a report counts once)", want)
	}
	list := expect(t, b.do(t, "GET", path("/v1/accounts/{id}/contractors", acc)+"?send_status=bounced", tok, nil), 200)
	if rows, _ := list.body["items"].([]any); len(rows) != 1 {
		t.Errorf("bounced contractors: %v", list.body)
	}
	sup := expect(t, b.do(t, "GET", "/v1/suppressions", b.staff, nil), 200)
	rows, _ := sup.body["suppressions"].([]any)
	if len(rows) != 1 || obj(rows[0])["email"] != "gone@example.test" || obj(rows[0])["reason"] != "bounced" {
		t.Fatalf("suppressions: %v", sup.body)
	}
	expect(t, b.do(t, "GET", "/v1/suppressions", tok, nil), 403)
	expect(t, b.do(t, "DELETE", "/v1/suppressions/GONE@example.test", tok, nil), 403)
	expect(t, b.do(t, "DELETE", "/v1/suppressions/GONE@example.test", b.staff, nil), 204)
	expect(t, b.do(t, "DELETE", "/v1/suppressions/gone@example.test", b.staff, nil), 404)

	// One-click unsubscribe, as a mail client posts it.
	token := b.signer.Sign(jobs.UnsubscribePurpose, strconv.FormatInt(membership, 10), time.Hour)
	req, _ = http.NewRequest("POST", b.srv.URL+"/v1/unsubscribe?"+url.Values{"token": {token}}.Encode(), strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("unsubscribe: %d", r.StatusCode)
	}
	var stopped bool
	b.db.Get(&stopped, `SELECT reminders_stopped_at IS NOT NULL FROM memberships WHERE id = $1`, membership)
	if !stopped {
		t.Error("reminders not stopped")
	}
	forged := b.signer.Sign(jobs.SignupPurpose, strconv.FormatInt(membership, 10), time.Hour)
	if res := b.do(t, "POST", "/v1/unsubscribe?token="+url.QueryEscape(forged), "", nil); res.status != 400 {
		t.Errorf("a sign-up token as an unsubscribe link: %d", res.status)
	}
}
