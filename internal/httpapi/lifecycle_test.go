package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/internal/redistest"
	"github.com/muster-dev/muster/jobs"
)

// inviteOK invites email into the account and returns the contractor id.
func (b *testBundle) inviteOK(t *testing.T, acc int64, tok, email string, extra map[string]any) int64 {
	t.Helper()
	body := map[string]any{"email": email}
	for k, v := range extra {
		body[k] = v
	}
	res := b.do(t, "POST", path("/v1/accounts/{id}/invitations", acc), tok, body)
	if res.status != http.StatusAccepted {
		t.Fatalf("invite %s: %d %v", email, res.status, res.body)
	}
	return int64(res.body["contractor"].(map[string]any)["id"].(float64))
}

func (b *testBundle) event(t *testing.T, email, typ string, at time.Time, extra map[string]any) response {
	t.Helper()
	body := map[string]any{"email": email, "type": typ, "at": at.UTC().Format(time.RFC3339Nano)}
	for k, v := range extra {
		body[k] = v
	}
	return b.do(t, "POST", "/v1/contractor-events", b.staff, body)
}

func (b *testBundle) card(t *testing.T, acc int64, tok string, cid int64) map[string]any {
	t.Helper()
	res := b.do(t, "GET", path("/v1/accounts/{id}/contractors/", acc)+strconv.FormatInt(cid, 10), tok, nil)
	if res.status != 200 {
		t.Fatalf("card: %d %v", res.status, res.body)
	}
	return res.body
}

func stageAt(card map[string]any, name string) any {
	for _, s := range card["stages"].([]any) {
		st := s.(map[string]any)
		if st["name"] == name {
			return st["at"]
		}
	}
	return "missing"
}

func TestOnboardingEventsMoveTheStages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	cid := b.inviteOK(t, acc, tok, "anna@example.test", nil)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)

	// Out of order: the phone is verified before the registration arrives.
	if res := b.event(t, "anna@example.test", "phone_verified", t0.Add(2*time.Minute), nil); res.status != 200 {
		t.Fatalf("phone_verified: %d %v", res.status, res.body)
	}
	res := b.event(t, "ANNA@example.test", "registered", t0, map[string]any{"full_name": "Анна Смирнова", "phone": "+7 912 000-00-00"})
	if res.status != 200 || res.body["duplicate"] != false || res.body["incomplete"] != true {
		t.Fatalf("registered: %d %v", res.status, res.body)
	}
	card := b.card(t, acc, tok, cid)
	if card["incomplete"] != true || stageAt(card, "phone_verified") == nil || stageAt(card, "registered") == nil {
		t.Fatalf("after registration without tax status: %v", card)
	}
	if m := card["membership"].(map[string]any); m["status"] != "active" {
		t.Errorf("registration should link the membership: %v", m)
	}
	if c := card["contractor"].(map[string]any); c["full_name"] != "Анна Смирнова" {
		t.Errorf("the contractor's own name should be kept: %v", c)
	}

	res = b.event(t, "anna@example.test", "tax_status_set", t0.Add(3*time.Minute), map[string]any{"tax_status": "self_employed"})
	if res.status != 200 || res.body["incomplete"] != false {
		t.Fatalf("tax_status_set: %d %v", res.status, res.body)
	}
	// A late, older tax status does not overwrite the newer one.
	b.event(t, "anna@example.test", "tax_status_set", t0.Add(time.Minute), map[string]any{"tax_status": "individual"})
	b.event(t, "anna@example.test", "payment_method_linked", t0.Add(4*time.Minute), nil)
	card = b.card(t, acc, tok, cid)
	c := card["contractor"].(map[string]any)
	if c["tax_status"] != "self_employed" || c["payment_method_linked_at"] == nil || card["incomplete"] != false {
		t.Fatalf("after tax status and payment method: %v", c)
	}

	// Replays change nothing.
	before := card
	res = b.event(t, "anna@example.test", "payment_method_linked", t0.Add(4*time.Minute), nil)
	if res.status != 200 || res.body["duplicate"] != true {
		t.Fatalf("replay: %d %v", res.status, res.body)
	}
	if after := b.card(t, acc, tok, cid); fmt.Sprint(after["contractor"]) != fmt.Sprint(before["contractor"]) {
		t.Fatalf("a replay changed the contractor:\n%v\n%v", before["contractor"], after["contractor"])
	}
	// Unlinking, and a late link older than the unlink.
	b.event(t, "anna@example.test", "payment_method_unlinked", t0.Add(6*time.Minute), nil)
	b.event(t, "anna@example.test", "payment_method_linked", t0.Add(5*time.Minute), nil)
	if c := b.card(t, acc, tok, cid)["contractor"].(map[string]any); c["payment_method_linked_at"] != nil {
		t.Fatalf("a stale link undid a newer unlink: %v", c)
	}
}

func TestRegistrationLinksEveryAccountAndCancelsSignupEmails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc1, tok := b.client(t, "Acme", "owner@acme.test")
	var clientID int64
	if err := b.db.Get(&clientID, `SELECT client_id FROM accounts WHERE id = $1`, acc1); err != nil {
		t.Fatal(err)
	}
	res := b.do(t, "POST", path("/v1/clients/{id}/accounts", clientID), tok, map[string]any{"name": "Acme 2"})
	acc2 := int64(res.body["id"].(float64))
	cid := b.inviteOK(t, acc1, tok, "bob@example.test", nil)
	b.inviteOK(t, acc2, tok, "bob@example.test", nil)
	if res := b.event(t, "bob@example.test", "registered", time.Now().Add(-time.Minute), nil); res.status != 200 {
		t.Fatal(res.body)
	}
	for _, acc := range []int64{acc1, acc2} {
		card := b.card(t, acc, tok, cid)
		if card["membership"].(map[string]any)["status"] != "active" {
			t.Errorf("account %d: %v", acc, card["membership"])
		}
		for _, inv := range card["invitations"].([]any) {
			if inv.(map[string]any)["status"] != "cancelled" {
				t.Errorf("account %d: a sign-up email still pending after registration: %v", acc, inv)
			}
		}
	}
}

func TestEventBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	b.inviteOK(t, acc, tok, "c@example.test", nil)
	now := time.Now().UTC().Format(time.RFC3339)
	tests := []struct {
		name   string
		token  string
		body   map[string]any
		status int
		code   string
	}{
		{"unknown email", b.staff, map[string]any{"email": "nobody@example.test", "type": "registered", "at": now}, 404, "contractor_not_found"},
		{"unknown type", b.staff, map[string]any{"email": "c@example.test", "type": "hired", "at": now}, 400, "unknown_event_type"},
		{"unknown tax status", b.staff, map[string]any{"email": "c@example.test", "type": "tax_status_set", "at": now, "tax_status": "llc"}, 400, "unknown_tax_status"},
		{"malformed time", b.staff, map[string]any{"email": "c@example.test", "type": "registered", "at": "yesterday"}, 400, "invalid_at"},
		{"time in the future", b.staff, map[string]any{"email": "c@example.test", "type": "registered", "at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, 400, "invalid_at"},
		{"name on the wrong event", b.staff, map[string]any{"email": "c@example.test", "type": "phone_verified", "at": now, "full_name": "X"}, 400, "unexpected_field"},
		{"client token", tok, map[string]any{"email": "c@example.test", "type": "registered", "at": now}, 403, "staff_only"},
		{"no token", "", map[string]any{"email": "c@example.test", "type": "registered", "at": now}, 401, "missing_token"},
	}
	for _, tt := range tests {
		res := b.do(t, "POST", "/v1/contractor-events", tt.token, tt.body)
		if res.status != tt.status || res.code() != tt.code {
			t.Errorf("%s: %d %v, want %d %s", tt.name, res.status, res.body, tt.status, tt.code)
		}
	}
	var events int
	b.db.Get(&events, `SELECT count(*) FROM contractor_events`)
	if events != 0 {
		t.Fatalf("%d events recorded from bad input", events)
	}
}

func TestSignedEventsFromTheSignupApp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	b.inviteOK(t, acc, tok, "sig@example.test", nil)
	const secret = "signup-app-secret-signup-app-secret"
	now := time.Now()
	rdb := redistest.New(t)
	api := httpapi.New(b.db, jobs.NewEnqueuer(asynq.NewClientFromRedisClient(rdb.Client), 3), b.signer, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)), httpapi.Options{SignupSecret: secret, Now: func() time.Time { return now }})
	srv := httptest.NewServer(api)
	defer srv.Close()
	body := `{"email":"sig@example.test","type":"registered","at":"` + now.Add(-time.Minute).UTC().Format(time.RFC3339) + `"}`
	sign := func(ts time.Time, key, payload string) string {
		t := strconv.FormatInt(ts.Unix(), 10)
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write([]byte(t + "." + payload))
		return "t=" + t + ",v1=" + hex.EncodeToString(mac.Sum(nil))
	}
	post := func(sig, payload string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/contractor-events", strings.NewReader(payload))
		req.Header.Set(httpapi.SignatureHeader, sig)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for name, sig := range map[string]string{
		"wrong key":      sign(now, "another-secret-another-secret-xxxx", body),
		"other body":     sign(now, secret, strings.Replace(body, "sig@", "x@", 1)),
		"too old":        sign(now.Add(-10*time.Minute), secret, body),
		"garbage header": "v1=zz",
	} {
		if got := post(sig, body); got != 401 {
			t.Errorf("%s: status %d, want 401", name, got)
		}
	}
	if got := post(sign(now, secret, body), body); got != 200 {
		t.Fatalf("valid signature: status %d", got)
	}
}

func TestContractorListColumnsFiltersAndPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	past := time.Now().Add(-time.Hour)
	var ids []int64
	for i := range 23 {
		ids = append(ids, b.inviteOK(t, acc, tok, fmt.Sprintf("user%02d@example.test", i), map[string]any{"full_name": fmt.Sprintf("User %02d", i)}))
	}
	// 0–9 registered; 0–4 also verified their phone; 0–2 set a tax status.
	for i := range 10 {
		email := fmt.Sprintf("user%02d@example.test", i)
		b.event(t, email, "registered", past.Add(time.Duration(i)*time.Minute), nil)
		if i < 5 {
			b.event(t, email, "phone_verified", past.Add(time.Hour/2), nil)
		}
		if i < 3 {
			b.event(t, email, "tax_status_set", past.Add(time.Hour/2), map[string]any{"tax_status": "individual"})
		}
	}
	b.do(t, "POST", path("/v1/accounts/{id}/contractors/", acc)+strconv.FormatInt(ids[22], 10)+"/exclude", tok, nil)
	list := func(query string) response {
		return b.do(t, "GET", path("/v1/accounts/{id}/contractors", acc)+"?"+query, tok, nil)
	}
	count := func(query string) int {
		res := list(query)
		if res.status != 200 {
			t.Fatalf("%s: %d %v", query, res.status, res.body)
		}
		return len(res.body["items"].([]any))
	}
	tests := map[string]int{
		"limit=100":                                      22, // the excluded one is hidden
		"limit=100&status=all":                           23,
		"limit=100&status=excluded":                      1,
		"limit=100&stage=registered":                     5, // registered, nothing more
		"limit=100&stage=tax_status_set":                 3,
		"limit=100&stage=invited":                        12,
		"limit=100&incomplete=true":                      7, // 5 without a phone + 2 without a tax status
		"limit=100&incomplete=false":                     15,
		"limit=100&tax_status=individual":                3,
		"limit=100&tax_status=none":                      19,
		"limit=100&send_status=queued":                   12,
		"limit=100&q=user07@":                            1,
		"limit=100&stage=phone_verified&incomplete=true": 2,
	}
	for q, want := range tests {
		if got := count(q); got != want {
			t.Errorf("%s: %d contractors, want %d", q, got, want)
		}
	}
	res := list("columns=email,incomplete,tax_status&limit=1&sort=email")
	if res.status != 400 || res.code() != "invalid_sort" {
		t.Errorf("sort by email is not offered: %d %v", res.status, res.body)
	}
	res = list("columns=email,incomplete,tax_status&limit=1")
	item := res.body["items"].([]any)[0].(map[string]any)
	if len(item) != 4 || item["id"] == nil || item["email"] == nil {
		t.Errorf("chosen columns: %v", item)
	}
	// Every sort pages through everyone exactly once, in order.
	for _, sort := range []string{"-invited_at", "invited_at", "registered_at", "-registered_at", "full_name", "-full_name"} {
		seen := map[float64]bool{}
		var order []string
		cursor := ""
		for pages := 0; ; pages++ {
			q := url.Values{"limit": {"4"}, "sort": {sort}, "columns": {"full_name,registered_at"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			res := list(q.Encode())
			if res.status != 200 || pages > 10 {
				t.Fatalf("%s page %d: %d %v", sort, pages, res.status, res.body)
			}
			for _, it := range res.body["items"].([]any) {
				m := it.(map[string]any)
				id := m["id"].(float64)
				if seen[id] {
					t.Fatalf("%s: contractor %v twice", sort, id)
				}
				seen[id] = true
				order = append(order, fmt.Sprint(m["full_name"]))
			}
			next, _ := res.body["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		if len(seen) != 22 {
			t.Errorf("%s: %d contractors over all pages, want 22", sort, len(seen))
		}
		if sort == "full_name" && (order[0] != "User 00" || order[21] != "User 21") {
			t.Errorf("full_name order: %v", order)
		}
		if sort == "registered_at" && (order[0] != "User 00" || order[9] != "User 09") {
			t.Errorf("registered_at order should start with the earliest sign-ups: %v", order)
		}
		if sort == "-registered_at" && (order[0] != "User 09" || order[10] == "User 00") {
			t.Errorf("-registered_at order should start with the latest sign-ups, unregistered last: %v", order)
		}
	}
	for q, code := range map[string]string{
		"columns=email,salary": "unknown_column",
		"stage=hired":          "invalid_filter",
		"incomplete=maybe":     "invalid_filter",
		"limit=0":              "invalid_limit",
		"limit=10000":          "invalid_limit",
		"sort=salary":          "invalid_sort",
		"cursor=bogus":         "invalid_cursor",
		"colour=red":           "unknown_parameter",
	} {
		if res := list(q); res.status != 400 || res.code() != code {
			t.Errorf("%s: %d %v, want 400 %s", q, res.status, res.body, code)
		}
	}
}

func TestNotesAreSearchableInRussianAndEnglish(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	other, otherTok := b.client(t, "Other", "owner@other.test")
	ru := b.inviteOK(t, acc, tok, "ru@example.test", nil)
	en := b.inviteOK(t, acc, tok, "en@example.test", nil)
	b.inviteOK(t, acc, tok, "none@example.test", map[string]any{"feature": "backend, Go"})
	foreign := b.inviteOK(t, other, otherTok, "foreign@example.test", nil)
	patch := func(acc int64, tok string, cid int64, notes string) {
		res := b.do(t, "PATCH", path("/v1/accounts/{id}/contractors/", acc)+strconv.FormatInt(cid, 10), tok, map[string]any{"notes": notes})
		if res.status != 200 || res.body["membership"].(map[string]any)["notes"] != notes {
			t.Fatalf("patch notes: %d %v", res.status, res.body)
		}
	}
	patch(acc, tok, ru, "Опытные дизайнеры интерфейсов, отлично знает Figma")
	patch(acc, tok, en, "Experienced designer of mobile apps; <b>loves</b> Sketch")
	patch(other, otherTok, foreign, "Figma designer")
	search := func(q string) []float64 {
		res := b.do(t, "GET", path("/v1/accounts/{id}/contractors", acc)+"?"+url.Values{"q": {q}}.Encode(), tok, nil)
		if res.status != 200 {
			t.Fatalf("q=%s: %d %v", q, res.status, res.body)
		}
		var out []float64
		for _, it := range res.body["items"].([]any) {
			out = append(out, it.(map[string]any)["id"].(float64))
		}
		return out
	}
	check := func(q string, want ...int64) {
		t.Helper()
		got := search(q)
		if len(got) != len(want) {
			t.Errorf("q=%q: %v, want %v", q, got, want)
			return
		}
		for i := range want {
			if got[i] != float64(want[i]) {
				t.Errorf("q=%q: %v, want %v", q, got, want)
			}
		}
	}
	check("дизайнер", ru)
	check("интерфейс", ru) // интерфейсов
	check("Figma", ru)
	check("designers", en)
	check("loves", en)
	check("backend") // the feature is not searched: notes are where skills go
	check("python rust")
}

func TestCardEditsAndBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	cid := b.inviteOK(t, acc, tok, "card@example.test", nil)
	var owner int64
	if err := b.db.Get(&owner, `SELECT id FROM managers WHERE email = 'owner@acme.test'`); err != nil {
		t.Fatal(err)
	}
	card := path("/v1/accounts/{id}/contractors/", acc) + strconv.FormatInt(cid, 10)
	res := b.do(t, "PATCH", card, tok, map[string]any{"feature": "UI <script>", "manager_ids": []int64{owner}})
	m := res.body["membership"].(map[string]any)
	if res.status != 200 || m["feature"] != "UI <script>" || len(m["manager_ids"].([]any)) != 1 {
		t.Fatalf("%d %v", res.status, res.body)
	}
	for name, tc := range map[string]struct {
		body any
		code string
	}{
		"nothing":         {map[string]any{}, "empty_update"},
		"unknown manager": {map[string]any{"manager_ids": []int{424242}}, "unknown_manager"},
		"unknown field":   {map[string]any{"salary": 1}, "unknown_field"},
	} {
		if res := b.do(t, "PATCH", card, tok, tc.body); res.status != 400 || res.code() != tc.code {
			t.Errorf("%s: %d %v", name, res.status, res.body)
		}
	}
	if res := b.do(t, "PATCH", path("/v1/accounts/{id}/contractors/", acc)+"999999", tok, map[string]any{"notes": "x"}); res.status != 404 {
		t.Errorf("unknown contractor: %d %v", res.status, res.body)
	}
}

func TestResendIsThrottledAndRefusedWhenPointless(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	cid := b.inviteOK(t, acc, tok, "slow@example.test", map[string]any{"locale": "en"})
	resend := path("/v1/accounts/{id}/contractors/", acc) + strconv.FormatInt(cid, 10) + "/resend"

	res := b.do(t, "POST", resend, tok, nil)
	if res.status != 429 || res.code() != "resend_throttled" {
		t.Fatalf("right after the invitation: %d %v", res.status, res.body)
	}
	if after, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || after < 590 || after > 600 {
		t.Errorf("Retry-After %q, want about 600 seconds", res.header.Get("Retry-After"))
	}
	// Eleven minutes later.
	if _, err := b.db.Exec(`UPDATE invitations SET queued_at = queued_at - interval '11 minutes'`); err != nil {
		t.Fatal(err)
	}
	res = b.do(t, "POST", resend, tok, nil)
	inv, _ := res.body["invitation"].(map[string]any)
	if res.status != 202 || inv["kind"] != "resend" || inv["locale"] != "en" {
		t.Fatalf("resend: %d %v", res.status, res.body)
	}
	if _, err := b.inspect.GetTaskInfo(jobs.QueueCritical, "send:"+strconv.Itoa(int(inv["id"].(float64)))); err != nil {
		t.Errorf("resend not queued: %v", err)
	}
	if res := b.do(t, "POST", resend, tok, nil); res.status != 429 {
		t.Errorf("second resend at once: %d", res.status)
	}
	b.event(t, "slow@example.test", "registered", time.Now().Add(-time.Second), nil)
	b.db.Exec(`UPDATE invitations SET queued_at = queued_at - interval '1 hour'`)
	if res := b.do(t, "POST", resend, tok, nil); res.status != 409 || res.code() != "already_registered" {
		t.Errorf("resend to a registered contractor: %d %v", res.status, res.body)
	}
}

func TestExcludeCancelsPendingEmailsAndCanBeUndone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	cid := b.inviteOK(t, acc, tok, "gone@example.test", nil)
	base := path("/v1/accounts/{id}/contractors/", acc) + strconv.FormatInt(cid, 10)
	res := b.do(t, "POST", base+"/exclude", tok, nil)
	if res.status != 200 || res.body["membership"].(map[string]any)["status"] != "excluded" {
		t.Fatalf("%d %v", res.status, res.body)
	}
	for _, inv := range res.body["invitations"].([]any) {
		if inv.(map[string]any)["status"] != "cancelled" {
			t.Errorf("pending email not cancelled: %v", inv)
		}
	}
	if again := b.do(t, "POST", base+"/exclude", tok, nil); again.status != 200 {
		t.Errorf("excluding twice: %d", again.status)
	}
	if res := b.do(t, "POST", base+"/resend", tok, nil); res.status != 409 || res.code() != "contractor_excluded" {
		t.Errorf("resend to an excluded contractor: %d %v", res.status, res.body)
	}
	b.inviteOK(t, acc, tok, "gone@example.test", nil)
	if m := b.card(t, acc, tok, cid)["membership"].(map[string]any); m["status"] != "invited" {
		t.Errorf("inviting again should undo the exclusion: %v", m)
	}
}

func TestTasksAndTheirHistory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	other, otherTok := b.client(t, "Other", "owner@other.test")
	cid := b.inviteOK(t, acc, tok, "worker@example.test", nil)
	foreign := b.inviteOK(t, other, otherTok, "foreign@example.test", nil)
	tasks := path("/v1/accounts/{id}/tasks", acc)

	res := b.do(t, "POST", tasks, tok, map[string]any{"contractor_id": cid, "title": "Landing page", "description": "Figma → HTML"})
	if res.status != 201 || res.body["status"] != "new" {
		t.Fatalf("%d %v", res.status, res.body)
	}
	task := tasks + "/" + strconv.Itoa(int(res.body["id"].(float64)))
	for _, st := range []string{"in_progress", "done", "in_progress", "done", "accepted"} {
		if res := b.do(t, "PATCH", task, tok, map[string]any{"status": st}); res.status != 200 || res.body["status"] != st {
			t.Fatalf("→ %s: %d %v", st, res.status, res.body)
		}
	}
	if res := b.do(t, "PATCH", task, tok, map[string]any{"status": "new"}); res.status != 409 || res.code() != "invalid_transition" {
		t.Errorf("accepted → new: %d %v", res.status, res.body)
	}
	card := b.card(t, acc, tok, cid)
	ts := card["tasks"].([]any)
	if len(ts) != 1 {
		t.Fatalf("card tasks: %v", ts)
	}
	var history []string
	for _, h := range ts[0].(map[string]any)["history"].([]any) {
		history = append(history, h.(map[string]any)["status"].(string))
	}
	if strings.Join(history, ",") != "new,in_progress,done,in_progress,done,accepted" {
		t.Errorf("history %v", history)
	}
	if res := b.do(t, "POST", tasks, tok, map[string]any{"contractor_id": foreign, "title": "x"}); res.status != 404 {
		t.Errorf("a task for another client's contractor: %d %v", res.status, res.body)
	}
	if res := b.do(t, "POST", tasks, tok, map[string]any{"contractor_id": cid, "title": ""}); res.status != 400 {
		t.Errorf("empty title: %d %v", res.status, res.body)
	}
	if res := b.do(t, "GET", tasks+"?contractor_id="+strconv.FormatInt(cid, 10), tok, nil); len(res.body["items"].([]any)) != 1 {
		t.Errorf("list: %v", res.body)
	}
	if res := b.do(t, "PATCH", path("/v1/accounts/{id}/tasks/", other)+strings.TrimPrefix(task, tasks+"/"), otherTok, map[string]any{"status": "cancelled"}); res.status != 404 {
		t.Errorf("another client's token on the task: %d", res.status)
	}
}
